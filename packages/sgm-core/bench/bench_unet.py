"""UNet speed and checkpoint loading memory on the CPU.

    uv run python packages/sgm-core/bench/bench_unet.py [--steps 20] [--skip-load]
    SGM_REFERENCE_DIR=/path/to/generative-models uv run python packages/sgm-core/bench/bench_unet.py

1. Forward pass and a `--steps`-step sample (Euler, legacy DDPM schedule, CFG 7, batch 1) of an SD-2.1-shaped
   UNet with model_channels 128 at 32 x 32 latents. With SGM_REFERENCE_DIR, the reference implementation runs the
   same weights, noise and sampler in a subprocess (its `sgm` package would clash with ours in one process; only
   its missing `kornia` import is stubbed there), and the two samples are compared. `--repeats N` runs the two
   implementations alternately N times and keeps each one's fastest times, so that load from other processes on a
   shared machine hits both alike.
2. Load time and peak RSS of assigning an SDXL-base-size fp16 safetensors file (sparse: its data is a hole) into
   the model built without allocating its parameters, in a fresh subprocess; target: peak RSS <= 1.3 x file size.
"""

import argparse
import importlib.abc
import importlib.machinery
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

SEED = 0
CFG = 7.0
UNET = {
    "target": "sgm.modules.diffusionmodules.openaimodel.UNetModel",
    "params": {
        "use_checkpoint": False, "in_channels": 4, "out_channels": 4, "model_channels": 128,
        "attention_resolutions": [4, 2, 1], "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4],
        "num_head_channels": 64, "use_linear_in_transformer": True, "transformer_depth": 1, "context_dim": 1024,
    },
}  # fmt: skip
DENOISER = {
    "target": "sgm.modules.diffusionmodules.denoiser.DiscreteDenoiser",
    "params": {
        "num_idx": 1000,
        "scaling_config": {"target": "sgm.modules.diffusionmodules.denoiser_scaling.EpsScaling"},
        "discretization_config": {"target": "sgm.modules.diffusionmodules.discretizer.LegacyDDPMDiscretization"},
    },
}
SAMPLER = {
    "target": "sgm.modules.diffusionmodules.sampling.EulerEDMSampler",
    "params": {
        "discretization_config": {"target": "sgm.modules.diffusionmodules.discretizer.LegacyDDPMDiscretization"},
        "guider_config": {"target": "sgm.modules.diffusionmodules.guiders.VanillaCFG", "params": {"scale": CFG}},
        "device": "cpu",  # the reference computes its sigmas on "cuda" by default
    },
}


def _min_seconds(fn, repeats: int) -> float:
    """The fastest of `repeats` timed calls after a warm-up: on a shared CPU, the least disturbed one."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_unet(instantiate, weights: Path, steps: int, out: Path, pack: bool = False) -> dict:
    """Times one implementation (given its `instantiate`) on `weights`; saves its sample to `out`. `pack`: ours
    packs the convolutions as `load_pipeline` does for fp32 on the CPU."""
    from safetensors.torch import load_file, save_file

    torch.manual_seed(SEED)
    unet = instantiate(UNET).eval()
    unet.load_state_dict(load_file(weights))
    if pack:
        unet.pack_convolutions()
    denoiser = instantiate(DENOISER)
    sampler = instantiate({**SAMPLER, "params": {**SAMPLER["params"], "num_steps": steps}})
    sampler.verbose = False
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(2, 4, 32, 32, generator=generator)
    context = torch.randn(2, 77, 1024, generator=generator)
    timesteps = torch.tensor([999, 999])

    def network(x, t, c):
        return unet(x, timesteps=t, context=c["crossattn"])

    with torch.no_grad():
        forward = _min_seconds(lambda: unet(x, timesteps=timesteps, context=context), repeats=3)
        cond, uncond = {"crossattn": context[1:]}, {"crossattn": context[:1]}
        start = time.perf_counter()
        sample = sampler(lambda x, s, c: denoiser(network, x, s, c), x[:1].clone(), cond, uc=uncond)
        sampling = time.perf_counter() - start
    save_file({"sample": sample.contiguous()}, out)
    return {"forward_s": forward, "sample_s": sampling}


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Empty modules for the reference's imports that the sampling path never uses (kornia)."""

    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.names:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def reference_main(weights: Path, steps: int, out: Path) -> None:
    sys.meta_path.insert(0, _StubFinder({"kornia"}))
    sys.path.insert(0, os.environ["SGM_REFERENCE_DIR"])
    from sgm.util import instantiate_from_config

    print(json.dumps(run_unet(instantiate_from_config, weights, steps, out)))


def load_main(path: Path, dtype: str) -> None:
    """Child process: build sdxl-base without allocating, assign the file as `dtype`, report time and peak RSS."""
    from sgm.core.checkpoint import load_checkpoint_into
    from sgm.core.pipelines.loading import build_engine

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    model = build_engine("sdxl-base")
    built = time.perf_counter()
    report = load_checkpoint_into(model, path, dtype=dtype)
    loaded = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with torch.no_grad():  # read every weight once, as a first forward pass would: the file's pages come in
        for tensor in model.state_dict().values():
            tensor.float().sum() if tensor.is_floating_point() else None
    touched = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"build_s": built - start, "load_s": loaded - built, "tensors": report.loaded}
    print(json.dumps(result | {"baseline_rss": baseline, "peak_rss": peak, "touched_rss": touched}))


def bench_load(folder: Path, dtype: str) -> dict:
    from sgm.core.catalog import expected_layout
    from sgm.core.checkpoint import write_sparse_safetensors

    path = write_sparse_safetensors(folder / "sd_xl_base_sparse.safetensors", expected_layout("sdxl-base"), "float16")
    command = [sys.executable, __file__, "--load-child", str(path), "--load-dtype", dtype]
    child = subprocess.run(command, capture_output=True, text=True)
    if child.returncode:
        raise RuntimeError(child.stderr)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return result | {"file_bytes": path.stat().st_size}


def _report(name: str, runs: list[dict], steps: int) -> None:
    forwards = ", ".join(f"{r['forward_s']:.3f}" for r in runs)
    samples = ", ".join(f"{r['sample_s']:.2f}" for r in runs)
    print(f"{name}: forward (batch 2, 32x32) fastest {min(r['forward_s'] for r in runs):.3f} s [{forwards}]; "
          f"{steps}-step CFG sample fastest {min(r['sample_s'] for r in runs):.2f} s [{samples}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of ours and the reference")
    parser.add_argument("--reference-child", nargs=2, metavar=("WEIGHTS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--load-dtype", default="fp16", help="dtype the weights are loaded as (the file is fp16)")
    parser.add_argument("--load-child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_child:
        return reference_main(Path(args.reference_child[0]), args.steps, Path(args.reference_child[1]))
    if args.load_child:
        return load_main(Path(args.load_child), args.load_dtype)

    from safetensors.torch import load_file, save_file

    from sgm.core.config import instantiate

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        torch.manual_seed(SEED)
        # The zero-initialised output layers get small random weights, or the UNet would output zeros and the
        # comparison of the samples would say nothing.
        weights = {key: (value if value.any() else 1e-2 * torch.randn_like(value)).contiguous()
                   for key, value in instantiate(UNET).state_dict().items()}  # fmt: skip
        save_file(weights, folder / "unet.safetensors")
        weights_path = folder / "unet.safetensors"
        command = [sys.executable, __file__, "--steps", str(args.steps), "--reference-child",
                   str(weights_path), str(folder / "reference.safetensors")]  # fmt: skip
        ours, reference = [], []
        for _ in range(args.repeats):
            ours.append(run_unet(instantiate, weights_path, args.steps, folder / "ours.safetensors", pack=True))
            if os.environ.get("SGM_REFERENCE_DIR"):
                child = subprocess.run(command, capture_output=True, text=True)
                if child.returncode:
                    raise RuntimeError(child.stderr)
                reference.append(json.loads(child.stdout.strip().splitlines()[-1]))
        _report("ours", ours, args.steps)
        if reference:
            _report("reference", reference, args.steps)
            difference = (load_file(folder / "ours.safetensors")["sample"]
                          - load_file(folder / "reference.safetensors")["sample"]).abs().max()  # fmt: skip
            forward_ratio = min(r["forward_s"] for r in reference) / min(r["forward_s"] for r in ours)
            sample_ratio = min(r["sample_s"] for r in reference) / min(r["sample_s"] for r in ours)
            print(f"speed-up over the reference (fastest vs fastest): forward {forward_ratio:.2f}x, "
                  f"sample {sample_ratio:.2f}x; samples differ by at most {difference:.2e}")  # fmt: skip
        if not args.skip_load:
            load = bench_load(folder, args.load_dtype)
            gib = 2**30
            file_size = load["file_bytes"]
            print(f"sdxl-base load as {args.load_dtype}: file {file_size / gib:.2f} GiB, "
                  f"build {load['build_s']:.1f} s, assign {load['load_s']:.1f} s ({load['tensors']} tensors), "
                  f"peak RSS {load['peak_rss'] / gib:.2f} GiB (after imports {load['baseline_rss'] / gib:.2f} GiB) "
                  f"= {load['peak_rss'] / file_size:.2f} x file size; after reading every weight "
                  f"{load['touched_rss'] / gib:.2f} GiB = {load['touched_rss'] / file_size:.2f} x")  # fmt: skip


if __name__ == "__main__":
    main()
