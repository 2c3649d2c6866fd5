"""UNet speed and checkpoint loading memory on the CPU.

    uv run python packages/sgm-core/bench/bench_unet.py [--steps 20] [--skip-load]
    SGM_REFERENCE_DIR=/path/to/generative-models uv run python packages/sgm-core/bench/bench_unet.py

1. Forward pass and a `--steps`-step sample (Euler, legacy DDPM schedule, CFG 7, batch 1) of an SD-2.1-shaped
   UNet, by default with model_channels 128 at 32 x 32 latents. With SGM_REFERENCE_DIR, the reference
   implementation runs the same weights, noise and sampler in a subprocess (its `sgm` package would clash with
   ours in one process; only its missing `kornia` import is stubbed there), and the two samples are compared.
   Ours runs as its pipelines do on the CPU: weights packed (`load_pipeline`), and the text's cross-attention
   keys and values kept across the sampling steps (`constant_context`, as `sample_from_noise`). `--forward-repeats`
   pairs of forwards, then `--repeats` pairs of samples are timed, the two runs of a pair back to back (which goes
   first alternates); the speed-up is the median over the pairs, so that load from other processes on a shared
   machine hits both alike.
2. Load time and peak RSS of assigning an SDXL-base-size fp16 safetensors file (sparse: its data is a hole) into
   the model built without allocating its parameters, in a fresh subprocess; target: peak RSS <= 1.3 x file size.
"""

import argparse
import contextlib
import importlib.abc
import importlib.machinery
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

from sgm.core.inference import optimize_for_inference

SEED = 0
REPLY = "bench-reply"  # marks the reference child's answers among anything else it prints
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


class UNetBench:
    """One implementation's UNet (built by its `instantiate`) on `weights`, with the bench's inputs and sampler.
    `ours`: ours, run as its pipelines run it on the CPU (`optimize_for_inference`, `constant_context` while
    sampling)."""

    def __init__(self, instantiate, weights: Path, steps: int, latent_size: int, ours: bool = False):
        from safetensors.torch import load_file

        torch.manual_seed(SEED)
        self.unet = instantiate(UNET).eval()
        self.unet.load_state_dict(load_file(weights))
        self.ours = ours
        if ours:
            optimize_for_inference(self.unet, "cpu")
        self.denoiser = instantiate(DENOISER)
        self.sampler = instantiate({**SAMPLER, "params": {**SAMPLER["params"], "num_steps": steps}})
        self.sampler.verbose = False
        generator = torch.Generator().manual_seed(SEED)
        self.x = torch.randn(2, 4, latent_size, latent_size, generator=generator)
        self.context = torch.randn(2, 77, 1024, generator=generator)
        self.forward_seconds()  # warm-up: first-call allocations and kernel choices

    @torch.no_grad()
    def forward_seconds(self) -> float:
        start = time.perf_counter()
        self.unet(self.x, timesteps=torch.tensor([999, 999]), context=self.context)
        return time.perf_counter() - start

    @torch.no_grad()
    def sample_seconds(self, out: Path) -> float:
        """Times a CFG sample from `x[0]` (conditional text `context[1]`, unconditional `context[0]`); saves it."""
        from safetensors.torch import save_file

        def network(x, t, c):
            return self.unet(x, timesteps=t, context=c["crossattn"])

        cond, uncond = {"crossattn": self.context[1:]}, {"crossattn": self.context[:1]}
        start = time.perf_counter()
        with self._sampling():
            sample = self.sampler(lambda x, s, c: self.denoiser(network, x, s, c), self.x[:1].clone(), cond, uc=uncond)
        seconds = time.perf_counter() - start
        save_file({"sample": sample.contiguous()}, out)
        return seconds

    def _sampling(self) -> contextlib.AbstractContextManager:
        if not self.ours:
            return contextlib.nullcontext()
        from sgm.core.inference import constant_context

        return constant_context()


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


def reference_main(weights: Path, steps: int, latent_size: int, out: Path) -> None:
    """Child process: the reference's UNet, timed on request ("forward" / "sample" lines on stdin), so that the
    parent can alternate single runs of the two implementations."""
    sys.meta_path.insert(0, _StubFinder({"kornia"}))
    sys.path.insert(0, os.environ["SGM_REFERENCE_DIR"])
    from sgm.util import instantiate_from_config

    bench = UNetBench(instantiate_from_config, weights, steps, latent_size)
    print(REPLY, "ready", flush=True)
    for request in sys.stdin:
        seconds = bench.forward_seconds() if request.strip() == "forward" else bench.sample_seconds(out)
        print(REPLY, seconds, flush=True)


class ReferenceChild:
    """The reference's `UNetBench` in a subprocess (its `sgm` package would clash with ours in one process)."""

    def __init__(self, weights: Path, out: Path, args: argparse.Namespace):
        command = [sys.executable, __file__, "--steps", str(args.steps), "--model-channels", str(args.model_channels),
                   "--latent-size", str(args.latent_size), "--reference-child", str(weights), str(out)]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._reply()

    def _reply(self) -> str:
        for line in self.process.stdout:
            if line.startswith(REPLY):
                return line.split()[1]
        raise RuntimeError(f"the reference child exited with code {self.process.wait()} (its stderr is above)")

    def seconds(self, request: str) -> float:
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        return float(self._reply())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def load_main(path: Path, dtype: str) -> None:
    """Child process: build sdxl-base without allocating, assign the file as `dtype`, report time and peak RSS."""
    from sgm.core.checkpoint import load_checkpoint_into
    from sgm.pipelines.catalog import build_model

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    model = build_model("sdxl-base", device=None)
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
    from sgm.pipelines.catalog import expected_layout
    from sgm.core.checkpoint import write_sparse_safetensors

    path = write_sparse_safetensors(folder / "sd_xl_base_sparse.safetensors", expected_layout("sdxl-base"), "float16")
    command = [sys.executable, __file__, "--load-child", str(path), "--load-dtype", dtype]
    child = subprocess.run(command, capture_output=True, text=True)
    if child.returncode:
        raise RuntimeError(child.stderr)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return result | {"file_bytes": path.stat().st_size}


def _pairs(ours, reference, count: int) -> tuple[list[float], list[float]]:
    """`count` pairs of timings of the two callables, back to back; which one goes first alternates, so neither
    always meets the machine just after the other (its threads winding down, its data in the caches)."""
    timings = []
    for pair in range(count):
        if pair % 2:
            reference_seconds, ours_seconds = reference(), ours()
        else:
            ours_seconds, reference_seconds = ours(), reference()
        timings.append((ours_seconds, reference_seconds))
    return tuple(list(side) for side in zip(*timings, strict=True))


def _paired(name: str, ours: list[float], reference: list[float]) -> str:
    """Each implementation's median and fastest, and the median of the per-pair speed-ups (reference / ours): the
    two runs of a pair are back to back, so load from other processes on a shared machine hits both alike."""
    ratios = [r / o for o, r in zip(ours, reference, strict=True)]
    return (f"{name}: ours median {statistics.median(ours):.3f} s (fastest {min(ours):.3f}), reference median "
            f"{statistics.median(reference):.3f} s (fastest {min(reference):.3f}); speed-up per pair: median "
            f"{statistics.median(ratios):.2f}x [{', '.join(f'{r:.2f}' for r in ratios)}]")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--model-channels", type=int, default=128, help="UNet width (SD 2.1 itself: 320)")
    parser.add_argument("--latent-size", type=int, default=32, help="latent height and width (512 px: 64)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="timed pairs of samples")
    parser.add_argument("--forward-repeats", type=int, default=15, help="timed pairs of forwards")
    parser.add_argument("--reference-child", nargs=2, metavar=("WEIGHTS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--load-dtype", default="fp16", help="dtype the weights are loaded as (the file is fp16)")
    parser.add_argument("--load-child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    UNET["params"]["model_channels"] = args.model_channels
    if args.reference_child:
        weights, out = (Path(p) for p in args.reference_child)
        return reference_main(weights, args.steps, args.latent_size, out)
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
        weights_path = folder / "unet.safetensors"
        save_file(weights, weights_path)
        ours = UNetBench(instantiate, weights_path, args.steps, args.latent_size, ours=True)
        size = f"{args.latent_size}x{args.latent_size} latents, model_channels {args.model_channels}"
        if not os.environ.get("SGM_REFERENCE_DIR"):
            forwards = [ours.forward_seconds() for _ in range(args.forward_repeats)]
            samples = [ours.sample_seconds(folder / "ours.safetensors") for _ in range(args.repeats)]
            print(f"ours: forward (batch 2, {size}) median {statistics.median(forwards):.3f} s; {args.steps}-step "
                  f"CFG sample median {statistics.median(samples):.2f} s")  # fmt: skip
        else:
            reference = ReferenceChild(weights_path, folder / "reference.safetensors", args)
            pairs = _pairs(ours.forward_seconds, lambda: reference.seconds("forward"), args.forward_repeats)
            print(_paired(f"forward (batch 2, {size})", *pairs))
            pairs = _pairs(lambda: ours.sample_seconds(folder / "ours.safetensors"),
                           lambda: reference.seconds("sample"), args.repeats)  # fmt: skip
            print(_paired(f"{args.steps}-step CFG sample", *pairs))
            reference.close()
            difference = (load_file(folder / "ours.safetensors")["sample"]
                          - load_file(folder / "reference.safetensors")["sample"]).abs().max()  # fmt: skip
            print(f"samples differ by at most {difference:.2e}")
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
