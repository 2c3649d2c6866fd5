"""Autoencoder decode on the CPU, plain against packed weights (what `load_pipeline` does in fp32 on the CPU).

    uv run python packages/sgm-core/bench/bench_decode.py [--model sd-2.1] [--latent-size 64] [--repeats 3]

Builds the catalog model's autoencoder with random weights, decodes one latent, and alternates the plain
`nn.Conv2d` / `nn.Linear` modules with `sgm.kernels.PackedConv2d` / `PackedLinear` ones `--repeats` times (after
one warm-up decode each), so that load from other processes on a shared machine hits both alike. Prints each run
and the median per-pair speed-up.
"""

import argparse
import statistics
import time

import torch

from sgm.pipelines.catalog import model_config
from sgm.core.config import instantiate
from sgm.kernels import pack_weights, unpack_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sd-2.1")
    parser.add_argument("--latent-size", type=int, default=64, help="latent height and width (512 px: 64)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    autoencoder = instantiate(model_config(args.model).params.first_stage_config).eval()
    latent = torch.randn(1, 4, args.latent_size, args.latent_size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.model} decode of {tuple(latent.shape)}")

    def decode_seconds(packed: bool) -> tuple[float, torch.Tensor]:
        (pack_weights if packed else unpack_weights)(autoencoder)
        start = time.perf_counter()
        image = autoencoder.decode(latent)
        return time.perf_counter() - start, image

    with torch.no_grad():
        decode_seconds(False), decode_seconds(True)  # warm-up: first-call allocations and kernel choices
        pairs = []
        for _ in range(args.repeats):
            (plain, plain_image), (packed, packed_image) = decode_seconds(False), decode_seconds(True)
            pairs.append((plain, packed))
            print(f"plain {plain:.2f} s, packed {packed:.2f} s, outputs differ by "
                  f"{(plain_image - packed_image).abs().max():.1e}")  # fmt: skip
    ratios = [plain / packed for plain, packed in pairs]
    print(f"speed-up of packed over plain, median of pairs: {statistics.median(ratios):.2f}x "
          f"[{', '.join(f'{r:.2f}' for r in ratios)}]")  # fmt: skip


if __name__ == "__main__":
    main()
