"""GPU end to end: ours (eager, CUDA graphs, torch.compile) against diffusers (eager, torch.compile), same sizes,
same process, bf16, random weights (timing does not depend on the values; both sides are the official
architectures at full size).

    python packages/sgm-pipelines/bench/gpu_e2e.py --json out.json     # on a CUDA machine; see run_gpu_bench.sh
    python packages/sgm-pipelines/bench/gpu_e2e.py --smoke              # the same code, tiny models, on the CPU

SDXL: the UNet step at batch 2 (guidance) on 128x128 latents with 77 text tokens, and a whole 1024x1024 image (30
Euler steps, guidance 5, VAE decode; text encoding left out on both sides). SVD-XT: the VideoUNet step for 25 frames
of 576x1024 with guidance (a batch of 50 frames). Reports ms per step, seconds per image and peak memory; beside
them, the candidates kept only if faster (channels-last UNet, compiled VAE decode).
diffusers is optional: without it only our figures are printed. `--smoke` runs every comparison with tiny random
models in fp32 on the CPU, eagerly, so the script is known to run before a GPU session spends its time on it.
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
from omegaconf import DictConfig

from sgm.core.config import instantiate
from sgm.core.engine import OpenAIWrapper
from sgm.pipelines import catalog
from sgm.pipelines.compiled import sampling_denoiser, sampling_scope
from sgm.pipelines.sampler_settings import SamplerSettings, build_sampler

SDXL_UNET = dict(sample_size=128, cross_attention_dim=2048, block_out_channels=(320, 640, 1280),
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
                 addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816, layers_per_block=2)  # fmt: skip
SDXL_VAE = dict(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2, sample_size=1024,
                scaling_factor=0.13025)  # fmt: skip
SVD_UNET: dict[str, Any] = {}  # diffusers' defaults are SVD-XT's
# --smoke: small diffusers models of the same kinds (their inputs are made to their own widths).
TINY_SDXL_UNET = dict(sample_size=16, cross_attention_dim=48, block_out_channels=(32, 64),
                      down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                      up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), transformer_layers_per_block=1,
                      attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
                      addition_time_embed_dim=8, projection_class_embeddings_input_dim=64, layers_per_block=1)  # fmt: skip
TINY_SDXL_VAE = dict(block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                     up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, layers_per_block=1, sample_size=32,
                     scaling_factor=0.13025)  # fmt: skip
TINY_SVD_UNET = dict(sample_size=8, block_out_channels=(32, 64),
                     down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
                     up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=16,
                     num_attention_heads=(2, 4), layers_per_block=1, transformer_layers_per_block=1,
                     addition_time_embed_dim=8, projection_class_embeddings_input_dim=24, num_frames=2)  # fmt: skip


@dataclass(frozen=True)
class Scale:
    """One comparison's device, dtype, model configs and sizes: the full models on a GPU, or tiny ones on the CPU."""

    device: torch.device
    dtype: torch.dtype
    sdxl: DictConfig  # our DiffusionEngine params
    svd_xt: DictConfig
    image_latent: int  # latent side of the SDXL image
    svd_frames: int
    svd_latent: tuple[int, int]
    diffusers_sdxl_unet: dict
    diffusers_sdxl_vae: dict
    diffusers_svd_unet: dict

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def full_scale() -> Scale:
    return Scale(torch.device("cuda"), torch.bfloat16, catalog.model_config("sdxl-base").params,
                 catalog.model_config("svd-xt").params, 128, 25, (72, 128), SDXL_UNET, SDXL_VAE, SVD_UNET)  # fmt: skip


def smoke_scale() -> Scale:
    from sgm.pipelines.testing import tiny_image_config
    from sgm.video.testing import make_tiny_config

    return Scale(torch.device("cpu"), torch.float32, tiny_image_config("sdxl-base").model.params,
                 make_tiny_config("svd-xt").model.params, 8, 2, (8, 16), TINY_SDXL_UNET, TINY_SDXL_VAE,
                 TINY_SVD_UNET)  # fmt: skip


def widths(params: DictConfig) -> tuple[int, int]:
    """The network's text-context and vector widths."""
    network = params.network_config.params
    context = network.context_dim if isinstance(network.context_dim, int) else network.context_dim[0]
    return context, network.adm_in_channels


def step_ms(scale: Scale, run: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of `run` over `repeats` calls after two warm-up calls: CUDA events on a GPU, the host
    clock on the CPU."""
    for _ in range(2):
        run()
    times = []
    for _ in range(repeats):
        if scale.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            began = time.perf_counter()
            run()
            times.append((time.perf_counter() - began) * 1e3)
    return statistics.median(times)


def reset_peak(scale: Scale) -> None:
    if scale.cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(scale: Scale) -> float | None:
    """Peak memory allocated since `reset_peak` (None on the CPU: no allocator statistics)."""
    return torch.cuda.max_memory_allocated() / 2**30 if scale.cuda else None


def timed(scale: Scale, run: Callable[[], object]) -> tuple[float, float | None]:
    """(seconds, peak GiB) of one call."""
    reset_peak(scale)
    start = time.perf_counter()
    run()
    if scale.cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, peak_gib(scale)


def _random_(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.02)
    return module


def our_parts(scale: Scale, params: DictConfig):
    """Our network (random, in the scale's dtype on its device), denoiser and first stage, from `params`."""
    with scale.device:
        unet = _random_(instantiate(params.network_config)).to(scale.dtype).eval()
        first_stage = _random_(instantiate(params.first_stage_config)).float().eval()
    denoiser = instantiate(params.denoiser_config).to(scale.device)  # its sigmas are computed with NumPy
    model = OpenAIWrapper(unet)
    engine = SimpleNamespace(model=model, denoise=lambda x, s, c, **kw: denoiser(model, x, s, c, **kw))
    return engine, unet, first_stage, float(params.get("scale_factor", 1.0))


def sdxl_step_inputs(scale: Scale) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """`(x, sigma, cond)` of one SDXL UNet step with guidance: a batch of 2 latents, 77 text tokens."""
    device, side = scale.device, scale.image_latent
    context, vector = widths(scale.sdxl)
    x = torch.randn(2, 4, side, side, device=device)
    cond = {"crossattn": torch.randn(2, 77, context, device=device), "vector": torch.randn(2, vector, device=device)}
    return x, torch.full((2,), 5.0, device=device), cond


@torch.no_grad()
def ours_sdxl(scale: Scale, modes: list[str], steps: int, repeats: int) -> list[dict]:
    engine, unet, first_stage, vae_scale = our_parts(scale, scale.sdxl)
    device, side = scale.device, scale.image_latent
    x, sigma, cond = sdxl_step_inputs(scale)
    one = {k: v[:1] for k, v in cond.items()}
    settings = SamplerSettings(sampler="EulerEDMSampler", discretization="LegacyDDPMDiscretization", steps=steps,
                               guidance=5.0, progress=False)  # fmt: skip
    results = []
    for mode in modes:
        denoise = sampling_denoiser(engine, mode)
        ms = step_ms(scale, lambda: denoise(x, sigma, cond), repeats)

        def image():
            sampler = build_sampler(settings, discrete_model=True)
            with sampling_scope(mode):
                latents = sampler(denoise, torch.randn(1, 4, side, side, device=device), one, uc=one)
            return first_stage.decode(latents.float() / vae_scale)

        image()  # compile / capture for the single-image shapes
        seconds, peak = timed(scale, image)
        results.append({"model": "sdxl-base", "impl": f"sgm {mode}", "unet_ms_per_step": ms,
                        "seconds_per_image": seconds, "peak_gib": peak})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)
    return results


@torch.no_grad()
def candidate_speedups(scale: Scale, modes: list[str], repeats: int) -> list[dict]:
    """What the issue keeps only if it measures faster, timed beside the default in the same process: the SDXL UNet
    step with channels-last weights and input, in each mode; the 1024x1024 VAE decode eager and compiled."""
    engine, unet, first_stage, _ = our_parts(scale, scale.sdxl)
    x, sigma, cond = sdxl_step_inputs(scale)
    results = []
    unet.to(memory_format=torch.channels_last)
    last = x.contiguous(memory_format=torch.channels_last)
    for mode in modes:
        denoise = sampling_denoiser(engine, mode)
        ms = step_ms(scale, lambda: denoise(last, sigma, cond), repeats)
        results.append({"model": "sdxl-base", "impl": f"sgm {mode}, channels-last", "unet_ms_per_step": ms})
        print(json.dumps(results[-1]), flush=True)
    latents = torch.randn(1, 4, scale.image_latent, scale.image_latent, device=scale.device)
    decoders = [("eager", first_stage.decode)] + ([("torch.compile", torch.compile(first_stage.decode))]
                                                   if scale.cuda else [])  # fmt: skip
    for label, decode in decoders:
        reset_peak(scale)
        ms = step_ms(scale, lambda decode=decode: decode(latents), max(2, repeats // 4))
        results.append({"model": "sdxl-base", "impl": f"sgm VAE decode {label}", "vae_decode_ms": ms,
                        "peak_gib": peak_gib(scale)})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)
    return results


@torch.no_grad()
def ours_svd_xt(scale: Scale, modes: list[str], repeats: int) -> list[dict]:
    engine, unet, _, _ = our_parts(scale, scale.svd_xt)
    device, frames, (height, width) = scale.device, scale.svd_frames, scale.svd_latent
    context, vector = widths(scale.svd_xt)
    x = torch.randn(2 * frames, 4, height, width, device=device)
    cond = {"crossattn": torch.randn(2 * frames, 1, context, device=device),
            "vector": torch.randn(2 * frames, vector, device=device),
            "concat": torch.randn(2 * frames, 4, height, width, device=device)}  # fmt: skip
    sigma = torch.full((2 * frames,), 5.0, device=device)
    indicator = torch.zeros(2, frames, device=device)
    results = []
    for mode in modes:
        denoise = sampling_denoiser(engine, mode, image_only_indicator=indicator, num_video_frames=frames)
        reset_peak(scale)
        ms = step_ms(scale, lambda: denoise(x, sigma, cond), repeats)
        results.append({"model": "svd-xt", "impl": f"sgm {mode}", "unet_ms_per_step": ms,
                        "peak_gib": peak_gib(scale)})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)
    return results


@torch.no_grad()
def diffusers_sdxl(scale: Scale, steps: int, repeats: int, compiled: bool) -> list[dict]:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel

    device, dtype, side = scale.device, scale.dtype, scale.image_latent
    config = scale.diffusers_sdxl_unet
    with device:
        unet = _random_(UNet2DConditionModel(**config)).to(dtype).eval()
        vae = _random_(AutoencoderKL(**scale.diffusers_sdxl_vae)).float().eval()
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       timestep_spacing="leading", steps_offset=1)  # fmt: skip
    pooled = config["projection_class_embeddings_input_dim"] - 6 * config["addition_time_embed_dim"]
    x = torch.randn(2, 4, side, side, device=device, dtype=dtype)
    text = torch.randn(2, 77, config["cross_attention_dim"], device=device, dtype=dtype)
    pixels = 8 * side
    added = {"text_embeds": torch.randn(2, pooled, device=device, dtype=dtype),
             "time_ids": torch.tensor([[pixels, pixels, 0, 0, pixels, pixels]] * 2, device=device, dtype=dtype)}  # fmt: skip
    t = torch.tensor(500, device=device)
    networks = [("diffusers eager (SDPA)", unet)] + ([("diffusers torch.compile", torch.compile(unet))] if compiled else [])
    results = []
    for label, network in networks:
        ms = step_ms(scale, lambda net=network: net(x, t, text, added_cond_kwargs=added).sample, repeats)

        def image(net=network):
            scheduler.set_timesteps(steps, device=device)
            latents = torch.randn(1, 4, side, side, device=device) * scheduler.init_noise_sigma
            for timestep in scheduler.timesteps:
                model_in = scheduler.scale_model_input(torch.cat([latents] * 2), timestep).to(dtype)
                noise = net(model_in, timestep, text, added_cond_kwargs=added).sample.float()
                uncond, cond = noise.chunk(2)
                latents = scheduler.step(uncond + 5.0 * (cond - uncond), timestep, latents).prev_sample
            return vae.decode(latents / scale.diffusers_sdxl_vae["scaling_factor"]).sample

        image()
        seconds, peak = timed(scale, image)
        results.append({"model": "sdxl-base", "impl": label, "unet_ms_per_step": ms,
                        "seconds_per_image": seconds, "peak_gib": peak})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)
    return results


@torch.no_grad()
def diffusers_svd_xt(scale: Scale, repeats: int) -> list[dict]:
    from diffusers import UNetSpatioTemporalConditionModel

    device, dtype, frames, (height, width) = scale.device, scale.dtype, scale.svd_frames, scale.svd_latent
    with device:
        unet = _random_(UNetSpatioTemporalConditionModel(**scale.diffusers_svd_unet)).to(dtype).eval()
    x = torch.randn(2, frames, 8, height, width, device=device, dtype=dtype)
    image = torch.randn(2, 1, unet.config.cross_attention_dim, device=device, dtype=dtype)
    added = torch.tensor([[6, 127, 0.02]] * 2, device=device, dtype=dtype)  # fps id, motion bucket, noise augmentation
    t = torch.tensor(1.0, device=device)
    reset_peak(scale)
    ms = step_ms(scale, lambda: unet(x, t, image, added).sample, repeats)
    result = {"model": "svd-xt", "impl": "diffusers eager (SDPA)", "unet_ms_per_step": ms, "peak_gib": peak_gib(scale)}
    print(json.dumps(result), flush=True)
    return [result]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=None, help="our sampling modes, comma-separated (default none,graphs,"
                        "compile on a GPU; none with --smoke)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=None, help="sampling steps of a whole image (30; 2 with --smoke)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per step figure (20; 2 with --smoke)")
    parser.add_argument("--skip-svd", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny models, fp32, on the CPU: checks the script runs")
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        scale, modes, steps, repeats = smoke_scale(), "none", 2, 2
    elif torch.cuda.is_available():
        scale, modes, steps, repeats = full_scale(), "none,graphs,compile", 30, 20
    else:
        raise SystemExit("gpu_e2e.py needs a CUDA device (or --smoke for a check on the CPU)")
    modes = (args.modes or modes).split(",")
    steps, repeats = args.steps or steps, args.repeats or repeats
    results = ours_sdxl(scale, modes, steps, repeats)
    results += candidate_speedups(scale, modes, repeats)
    try:
        results += diffusers_sdxl(scale, steps, repeats, compiled=scale.cuda)
    except ImportError as error:
        print(f"diffusers not importable ({error}): its figures are left out", flush=True)
    if not args.skip_svd:
        results += ours_svd_xt(scale, modes, repeats)
        try:
            results += diffusers_svd_xt(scale, repeats)
        except ImportError:
            pass
    if args.json:
        device = torch.cuda.get_device_name() if scale.cuda else "cpu (--smoke)"
        with open(args.json, "w") as file:
            json.dump({"device": device, "torch": torch.__version__, "results": results}, file, indent=2)


if __name__ == "__main__":
    main()
