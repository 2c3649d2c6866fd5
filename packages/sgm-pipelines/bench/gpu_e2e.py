"""GPU end to end: ours (eager, CUDA graphs, torch.compile) against diffusers (eager, torch.compile), same sizes,
same process, bf16, random weights (timing does not depend on the values; both sides are the official
architectures at full size).

    python packages/sgm-pipelines/bench/gpu_e2e.py --json out.json     # on a CUDA machine; see run_gpu_e2e.sh

SDXL: the UNet step at batch 2 (guidance) on 128x128 latents with 77 text tokens, and a whole 1024x1024 image (30
Euler steps, guidance 5, VAE decode; text encoding left out on both sides). SVD-XT: the VideoUNet step for 25 frames
of 576x1024 with guidance (a batch of 50 frames). Reports ms per step, seconds per image and peak memory.
diffusers is optional: without it only our figures are printed.
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace

import torch

from sgm.core.config import instantiate
from sgm.core.engine import OpenAIWrapper
from sgm.pipelines import catalog
from sgm.pipelines.compiled import sampling_denoiser, sampling_scope
from sgm.pipelines.sampler_settings import SamplerSettings, build_sampler

DTYPE = torch.bfloat16
DEVICE = torch.device("cuda")


def cuda_ms(run: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of `run` over `repeats` calls, timed with CUDA events after two warm-up calls."""
    for _ in range(2):
        run()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def peak_gib(run: Callable[[], object]) -> tuple[float, float]:
    """(seconds, peak GiB allocated) of one call."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run()
    torch.cuda.synchronize()
    return time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**30


def _random_(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.02)
    return module


def our_parts(name: str):
    """Our network (full size, random, bf16 on CUDA), denoiser and first stage, built from the catalog's config."""
    params = catalog.model_config(name).params
    with DEVICE:
        unet = _random_(instantiate(params.network_config)).to(DTYPE).eval()
        first_stage = _random_(instantiate(params.first_stage_config)).float().eval()
    denoiser = instantiate(params.denoiser_config).to(DEVICE)  # its sigmas are computed with NumPy
    model = OpenAIWrapper(unet)
    engine = SimpleNamespace(model=model, denoise=lambda x, s, c, **kw: denoiser(model, x, s, c, **kw))
    return engine, unet, first_stage, float(params.get("scale_factor", 1.0))


@torch.no_grad()
def ours_sdxl(modes: list[str], steps: int, repeats: int) -> list[dict]:
    engine, unet, first_stage, scale = our_parts("sdxl-base")
    x = torch.randn(2, 4, 128, 128, device=DEVICE)
    cond = {"crossattn": torch.randn(2, 77, 2048, device=DEVICE), "vector": torch.randn(2, 2816, device=DEVICE)}
    sigma = torch.full((2,), 5.0, device=DEVICE)
    one = {k: v[:1] for k, v in cond.items()}
    settings = SamplerSettings(sampler="EulerEDMSampler", discretization="LegacyDDPMDiscretization", steps=steps,
                               guidance=5.0, progress=False)  # fmt: skip
    results = []
    for mode in modes:
        denoise = sampling_denoiser(engine, mode)
        step_ms = cuda_ms(lambda: denoise(x, sigma, cond), repeats)

        def image():
            sampler = build_sampler(settings, discrete_model=True)
            with sampling_scope(mode):
                latents = sampler(denoise, torch.randn(1, 4, 128, 128, device=DEVICE), one, uc=one)
            return first_stage.decode(latents.float() / scale)

        image()  # compile / capture for the single-image shapes
        seconds, peak = peak_gib(image)
        results.append({"model": "sdxl-base", "impl": f"sgm {mode}", "unet_ms_per_step": step_ms,
                        "seconds_per_image": seconds, "peak_gib": peak})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)
    return results


@torch.no_grad()
def ours_svd_xt(modes: list[str], repeats: int) -> list[dict]:
    engine, unet, _, _ = our_parts("svd-xt")
    frames = 25
    x = torch.randn(2 * frames, 4, 72, 128, device=DEVICE)
    cond = {"crossattn": torch.randn(2 * frames, 1, 1024, device=DEVICE),
            "vector": torch.randn(2 * frames, 768, device=DEVICE),
            "concat": torch.randn(2 * frames, 4, 72, 128, device=DEVICE)}  # fmt: skip
    sigma = torch.full((2 * frames,), 5.0, device=DEVICE)
    indicator = torch.zeros(2, frames, device=DEVICE)
    results = []
    for mode in modes:
        denoise = sampling_denoiser(engine, mode, image_only_indicator=indicator, num_video_frames=frames)
        torch.cuda.reset_peak_memory_stats()
        step_ms = cuda_ms(lambda: denoise(x, sigma, cond), repeats)
        results.append({"model": "svd-xt", "impl": f"sgm {mode}", "unet_ms_per_step": step_ms,
                        "peak_gib": torch.cuda.max_memory_allocated() / 2**30})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)
    return results


SDXL_UNET = dict(sample_size=128, cross_attention_dim=2048, block_out_channels=(320, 640, 1280),
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
                 addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816, layers_per_block=2)  # fmt: skip
SDXL_VAE = dict(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2, sample_size=1024,
                scaling_factor=0.13025)  # fmt: skip


@torch.no_grad()
def diffusers_sdxl(steps: int, repeats: int) -> list[dict]:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel

    with DEVICE:
        unet = _random_(UNet2DConditionModel(**SDXL_UNET)).to(DTYPE).eval()
        vae = _random_(AutoencoderKL(**SDXL_VAE)).float().eval()
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       timestep_spacing="leading", steps_offset=1)  # fmt: skip
    x = torch.randn(2, 4, 128, 128, device=DEVICE, dtype=DTYPE)
    text = torch.randn(2, 77, 2048, device=DEVICE, dtype=DTYPE)
    added = {"text_embeds": torch.randn(2, 1280, device=DEVICE, dtype=DTYPE),
             "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * 2, device=DEVICE, dtype=DTYPE)}  # fmt: skip
    t = torch.tensor(500, device=DEVICE)
    results = []
    for label, network in (("diffusers eager (SDPA)", unet), ("diffusers torch.compile", torch.compile(unet))):
        step_ms = cuda_ms(lambda net=network: net(x, t, text, added_cond_kwargs=added).sample, repeats)

        def image(net=network):
            scheduler.set_timesteps(steps, device=DEVICE)
            latents = torch.randn(1, 4, 128, 128, device=DEVICE) * scheduler.init_noise_sigma
            for timestep in scheduler.timesteps:
                model_in = scheduler.scale_model_input(torch.cat([latents] * 2), timestep).to(DTYPE)
                noise = net(model_in, timestep, text, added_cond_kwargs=added).sample.float()
                uncond, cond = noise.chunk(2)
                latents = scheduler.step(uncond + 5.0 * (cond - uncond), timestep, latents).prev_sample
            return vae.decode(latents / SDXL_VAE["scaling_factor"]).sample

        image()
        seconds, peak = peak_gib(image)
        results.append({"model": "sdxl-base", "impl": label, "unet_ms_per_step": step_ms,
                        "seconds_per_image": seconds, "peak_gib": peak})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)
    return results


@torch.no_grad()
def diffusers_svd_xt(repeats: int) -> list[dict]:
    from diffusers import UNetSpatioTemporalConditionModel

    with DEVICE:
        unet = _random_(UNetSpatioTemporalConditionModel()).to(DTYPE).eval()  # its defaults are SVD-XT's
    x = torch.randn(2, 25, 8, 72, 128, device=DEVICE, dtype=DTYPE)
    image = torch.randn(2, 1, 1024, device=DEVICE, dtype=DTYPE)
    added = torch.tensor([[6, 127, 0.02]] * 2, device=DEVICE, dtype=DTYPE)
    t = torch.tensor(1.0, device=DEVICE)
    torch.cuda.reset_peak_memory_stats()
    step_ms = cuda_ms(lambda: unet(x, t, image, added).sample, repeats)
    result = {"model": "svd-xt", "impl": "diffusers eager (SDPA)", "unet_ms_per_step": step_ms,
              "peak_gib": torch.cuda.max_memory_allocated() / 2**30}  # fmt: skip
    print(json.dumps(result), flush=True)
    return [result]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="none,graphs,compile", help="our sampling modes, comma-separated")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-svd", action="store_true")
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_e2e.py needs a CUDA device")
    modes = args.modes.split(",")
    results = ours_sdxl(modes, args.steps, args.repeats)
    try:
        results += diffusers_sdxl(args.steps, args.repeats)
    except ImportError as error:
        print(f"diffusers not importable ({error}): its figures are left out", flush=True)
    if not args.skip_svd:
        results += ours_svd_xt(modes, args.repeats)
        try:
            results += diffusers_svd_xt(args.repeats)
        except ImportError:
            pass
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "results": results}, file,
                      indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
