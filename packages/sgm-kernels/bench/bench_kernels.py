"""Benchmark of the sgm Triton kernels against torch at the shapes SDXL, SVD and SV4D run (needs a CUDA GPU).

Prints markdown tables (time, TFLOP/s or GB/s, speed-up) and optionally writes every number to a JSON file:

    python packages/sgm-kernels/bench/bench_kernels.py [--json results.json] [--skip-unet]

Attention is timed against each torch SDPA backend (flash, efficient, math, cudnn) and xformers when installed;
GroupNorm+SiLU against eager torch; and one SDXL UNet step (random weights, bf16, 1024x1024 -> 128x128 latent,
batch 2) with `use_backend("triton")` against `use_backend("sdpa")` (torch SDPA and torch norms).
"""

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench, do_bench_cudagraph

from sgm.kernels import attention, group_norm, layer_norm, use_backend
from sgm.kernels.backend import xformers_available
from sgm.kernels.norms import group_norm_torch

DTYPE = torch.bfloat16

# name: (batch, heads, query tokens, key tokens, head dim). SVD's temporal attention runs over batch = video batch
# (2 with classifier-free guidance) x latent height x width, with channels / 64 heads; latent 72x128 is 576x1024.
# SV4D (576x576 -> 72x72 latent, 5 frames x 9 views) attends over the 9 views ("camera") and the 5 frames ("motion").
ATTENTION_SHAPES = {
    "SDXL self 64x64 (4096 tok)": (2, 10, 4096, 4096, 64),
    "SDXL self 32x32 (1024 tok)": (2, 20, 1024, 1024, 64),
    "SDXL cross 4096 x 77": (2, 10, 4096, 77, 64),
    "SVD temporal 14 fr, level 0": (2 * 72 * 128, 5, 14, 14, 64),
    "SVD temporal 25 fr, level 0": (2 * 72 * 128, 5, 25, 25, 64),
    "SVD temporal 14 fr, level 1": (2 * 36 * 64, 10, 14, 14, 64),
    "SV4D camera 9 views": (2 * 5 * 72 * 72, 5, 9, 9, 64),
    "SV4D motion 5 frames": (2 * 9 * 72 * 72, 5, 5, 5, 64),
}
BACKWARD_SHAPES = ["SDXL self 64x64 (4096 tok)", "SVD temporal 14 fr, level 0"]

# SDXL UNet norms at batch 2, 1024x1024 (latent 128x128); the up path sees the concatenated skip channels.
GROUP_NORM_SHAPES = {
    "320 x 128x128": (2, 320, 128, 128),
    "960 x 128x128 (up)": (2, 960, 128, 128),
    "640 x 64x64": (2, 640, 64, 64),
    "1920 x 64x64 (up)": (2, 1920, 64, 64),
    "1280 x 32x32": (2, 1280, 32, 32),
    "2560 x 32x32 (up)": (2, 2560, 32, 32),
    "SVD video 320 x 14x72x128": (2, 320, 14, 72, 128),
}
LAYER_NORM_SHAPES = {"SDXL 4096 x 640": (2, 4096, 640), "SDXL 1024 x 1280": (2, 1024, 1280)}

# sd_xl_base.yaml network_config (use_checkpoint only matters for training; timed here without gradients)
SDXL_UNET = {
    "adm_in_channels": 2816, "num_classes": "sequential", "in_channels": 4, "out_channels": 4,
    "model_channels": 320, "attention_resolutions": [4, 2], "num_res_blocks": 2, "channel_mult": [1, 2, 4],
    "num_head_channels": 64, "use_linear_in_transformer": True, "transformer_depth": [1, 2, 10],
    "context_dim": 2048, "spatial_transformer_attn_type": "softmax-xformers",
}  # fmt: skip

SDPA_BACKENDS = {
    "sdpa-flash": SDPBackend.FLASH_ATTENTION,
    "sdpa-efficient": SDPBackend.EFFICIENT_ATTENTION,
    "sdpa-math": SDPBackend.MATH,
    "sdpa-cudnn": getattr(SDPBackend, "CUDNN_ATTENTION", None),
}


def time_ms(fn) -> float | None:
    """Median milliseconds of `fn` (L2 flushed between runs), or None when this implementation cannot run it."""
    try:
        fn()
        torch.cuda.synchronize()
        return do_bench(fn, warmup=10, rep=50, return_mode="median")
    except Exception as error:  # noqa: BLE001 - a backend that rejects the shape or runs out of memory: go on
        print(f"    ({type(error).__name__}: {str(error).strip().splitlines()[0][:120]})", file=sys.stderr)
        return None
    finally:
        torch.cuda.empty_cache()


def gpu_time_ms(fn, rep: int = 50) -> float | None:
    """Milliseconds of `fn` replayed from a CUDA graph: the GPU's time alone, without Python's launch overhead."""
    try:
        fn()
        return do_bench_cudagraph(fn, rep=rep, return_mode="median")
    except Exception as error:  # noqa: BLE001 - a call that cannot be captured: report it, go on
        print(f"    (graph capture failed: {type(error).__name__}: {str(error).strip()[:100]})", file=sys.stderr)
        return None


def _ms(t: float | None) -> str:
    return f"{t:.3f}" if t else "n/a"


def _ratio(baseline: float | None, ours: float | None) -> str:
    """How many times faster ours is than the baseline."""
    return f"{baseline / ours:.2f}x" if baseline and ours else "n/a"


def attention_impls() -> dict:
    impls = {"triton": lambda q, k, v: attention(q, k, v, backend="triton")}
    for name, backend in SDPA_BACKENDS.items():
        if backend is not None:
            impls[name] = lambda q, k, v, b=backend: _sdpa_with(b, q, k, v)
    if xformers_available():
        impls["xformers"] = lambda q, k, v: attention(q, k, v, backend="xformers")
    return impls


def _sdpa_with(backend, q, k, v):
    with sdpa_kernel([backend]):
        return F.scaled_dot_product_attention(q, k, v)


def _qkv(shape, requires_grad=False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch, heads, n_q, n_k, dim = shape
    sizes = [(batch, heads, n, dim) for n in (n_q, n_k, n_k)]
    return tuple(torch.randn(s, device="cuda", dtype=DTYPE, requires_grad=requires_grad) for s in sizes)


def bench_attention(results: dict) -> None:
    impls = attention_impls()
    print(f"\n### Attention forward ({DTYPE}), ms and TFLOP/s (4 * B * H * Nq * Nk * D)\n")
    print("| shape | B x H, Nq x Nk, D | " + " | ".join(impls) + " | triton / flash | GPU-only: triton, flash |")
    print("|---" * (len(impls) + 4) + "|")
    for name, shape in ATTENTION_SHAPES.items():
        qkv = _qkv(shape)
        flops = 4 * shape[0] * shape[1] * shape[2] * shape[3] * shape[4]
        times = {impl: time_ms(partial(fn, *qkv)) for impl, fn in impls.items()}
        gpu = {impl: gpu_time_ms(partial(impls[impl], *qkv)) for impl in ("triton", "sdpa-flash")}
        results["attention_forward"][name] = {"shape": shape, "ms": times, "gpu_ms": gpu}
        cells = [f"{t:.3f} ms / {flops / t / 1e9:.0f}" if t else "n/a" for t in times.values()]
        desc = f"{shape[0]} x {shape[1]}, {shape[2]} x {shape[3]}, {shape[4]}"
        print(
            f"| {name} | {desc} | " + " | ".join(cells) + f" | {_ratio(times['sdpa-flash'], times['triton'])} "
            f"| {_ms(gpu['triton'])}, {_ms(gpu['sdpa-flash'])} ({_ratio(gpu['sdpa-flash'], gpu['triton'])}) |"
        )


def _forward_backward(fn, qkv, grad):
    return torch.autograd.grad(fn(*qkv), qkv, grad)


def bench_attention_backward(results: dict) -> None:
    print(f"\n### Attention forward + backward ({DTYPE}), ms\n")
    print("| shape | triton | sdpa-flash | triton / flash |")
    print("|---|---|---|---|")
    for name in BACKWARD_SHAPES:
        qkv = _qkv(ATTENTION_SHAPES[name], requires_grad=True)
        grad = torch.randn_like(qkv[0])
        ours = time_ms(partial(_forward_backward, partial(attention, backend="triton"), qkv, grad))
        flash = time_ms(partial(_forward_backward, partial(_sdpa_with, SDPBackend.FLASH_ATTENTION), qkv, grad))
        results["attention_backward"][name] = {"triton": ours, "sdpa-flash": flash}
        print(f"| {name} | {_ms(ours)} | {_ms(flash)} | {_ratio(flash, ours)} |")


def _norm_row(name: str, shape: tuple, impls: dict, section: dict) -> None:
    """Time each implementation as called and from a CUDA graph; print a row comparing "triton" with "eager"."""
    ms = {impl: time_ms(fn) for impl, fn in impls.items()}
    gpu = {impl: gpu_time_ms(fn) for impl, fn in impls.items()}
    section[name] = {"shape": shape, "ms": ms, "gpu_ms": gpu}
    cells = [f"{_ms(ms[impl])} [{_ms(gpu[impl])}]" for impl in impls]
    ratios = f"{_ratio(ms['eager'], ms['triton'])} | {_ratio(gpu['eager'], gpu['triton'])}"
    print(f"| {name} | " + " | ".join(cells) + f" | {ratios} |")


def bench_norms(results: dict) -> None:
    print(f"\n### GroupNorm(32) + SiLU ({DTYPE}), ms as called from Python; [GPU time from a CUDA graph]\n")
    print(
        "| shape | triton fused | eager F.group_norm + F.silu | torch fp32 path (sdpa backend) | speed-up vs eager "
        "| GPU-only speed-up |"
    )
    print("|---|---|---|---|---|---|")
    for name, shape in GROUP_NORM_SHAPES.items():
        x = torch.randn(shape, device="cuda", dtype=DTYPE)
        w, b = torch.randn(2, shape[1], device="cuda", dtype=DTYPE)
        impls = {
            "triton": partial(group_norm, x, 32, w, b, 1e-5, "silu", backend="triton"),
            "eager": partial(_eager_group_norm_silu, x, w, b),
            "torch_fp32": partial(group_norm_torch, x, 32, w, b, 1e-5, "silu"),
        }
        _norm_row(name, shape, impls, results["group_norm_silu"])
    print(f"\n### LayerNorm ({DTYPE}), ms as called from Python; [GPU time from a CUDA graph]\n")
    print("| shape | triton | F.layer_norm | speed-up | GPU-only speed-up |")
    print("|---|---|---|---|---|")
    for name, shape in LAYER_NORM_SHAPES.items():
        x = torch.randn(shape, device="cuda", dtype=DTYPE)
        w, b = torch.randn(2, shape[-1], device="cuda", dtype=DTYPE)
        impls = {
            "triton": partial(layer_norm, x, w, b, 1e-5, backend="triton"),
            "eager": partial(F.layer_norm, x, shape[-1:], w, b, 1e-5),
        }
        _norm_row(name, shape, impls, results["layer_norm"])


def _eager_group_norm_silu(x, w, b):
    return F.silu(F.group_norm(x, 32, w, b, 1e-5))


def bench_host_overhead(results: dict) -> None:
    """Microseconds of Python per call (launches queued without waiting), and where the Triton LayerNorm's go."""
    import cProfile
    import pstats

    x = torch.randn(2, 1024, 1280, device="cuda", dtype=DTYPE)
    w, b = torch.randn(2, 1280, device="cuda", dtype=DTYPE)
    q = torch.randn(2, 10, 1024, 64, device="cuda", dtype=DTYPE)
    kv = torch.randn(2, 10, 77, 64, device="cuda", dtype=DTYPE)
    img = torch.randn(2, 1280, 32, 32, device="cuda", dtype=DTYPE)
    calls = {
        "triton layer_norm": lambda: layer_norm(x, w, b, 1e-5, backend="triton"),
        "F.layer_norm": lambda: F.layer_norm(x, (1280,), w, b, 1e-5),
        "triton group_norm+silu": lambda: group_norm(img, 32, w, b, 1e-5, "silu", backend="triton"),
        "triton attention 1024x77": lambda: attention(q, kv, kv, backend="triton"),
        "sdpa attention 1024x77": lambda: F.scaled_dot_product_attention(q, kv, kv),
    }
    print("\n### Host time per call (Python + launch), microseconds\n")
    print("| call | us |")
    print("|---|---|")
    for name, fn in calls.items():
        fn()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(200):
            fn()
        host_us = (time.perf_counter() - start) / 200 * 1e6
        torch.cuda.synchronize()
        results["host_us"][name] = host_us
        print(f"| {name} | {host_us:.0f} |")
    profile = cProfile.Profile()
    profile.runcall(lambda: [calls["triton layer_norm"]() for _ in range(200)])
    pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(12)


def bench_unet(results: dict) -> None:
    try:
        from sgm.core.nn.unet import UNetModel
    except ImportError as error:
        print(f"\n(SDXL UNet step skipped: {error})")
        return
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = UNetModel(**SDXL_UNET).to(DTYPE).eval()
        for p in model.parameters():  # the zero-initialised output layers would make every output 0
            if not p.detach().abs().max():
                torch.nn.init.normal_(p.detach(), std=0.02)
        x = torch.randn(2, 4, 128, 128, dtype=DTYPE)
        t = torch.full((2,), 500.0)
        context = torch.randn(2, 77, 2048, dtype=DTYPE)
        y = torch.randn(2, 2816, dtype=DTYPE)
    params = sum(p.numel() for p in model.parameters())
    print(f"\n### SDXL UNet step ({params / 1e9:.2f} B params, {DTYPE}, batch 2, latent 128x128), ms\n")
    print("| backend | ms per step | speed-up | ms per step, CUDA graph replay | speed-up |")
    print("|---|---|---|---|---|")
    times, outputs, graph_times = {}, {}, {}
    for backend in ("sdpa", "triton"):
        with torch.no_grad(), use_backend(backend):
            outputs[backend] = model(x, t, context, y).float()
            for _ in range(2):
                model(x, t, context, y)
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(10):
                model(x, t, context, y)
            torch.cuda.synchronize()
            times[backend] = (time.perf_counter() - start) / 10 * 1e3
            graph_times[backend] = gpu_time_ms(lambda: model(x, t, context, y), rep=500)
    diff = (outputs["triton"] - outputs["sdpa"]).abs().max().item() / (outputs["sdpa"].abs().max().item() + 1e-12)
    results["unet_step"] = {"ms": times, "graph_ms": graph_times, "params": params, "max_rel_diff": diff}
    for backend, ms in times.items():
        graph = graph_times[backend]
        print(
            f"| {backend} | {ms:.1f} | {times['sdpa'] / ms:.2f}x | {_ms(graph)} | {_ratio(graph_times['sdpa'], graph)} |"
        )
    print(f"\n(max |triton - sdpa| / max |sdpa| of the step's output: {diff:.2e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    parser.add_argument("--skip-unet", action="store_true", help="leave out the SDXL UNet step")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_kernels.py needs a CUDA GPU")
    import triton

    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__} | triton {triton.__version__}")
    results = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "attention_forward": {},
        "attention_backward": {},
        "group_norm_silu": {},
        "layer_norm": {},
        "host_us": {},
    }
    sections = [bench_attention, bench_norms, bench_host_overhead]
    sections += ([] if args.skip_unet else [bench_unet]) + [bench_attention_backward]
    for section in sections:
        section(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
