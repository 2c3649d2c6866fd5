"""Time and peak memory of each stage of a video pipeline (condition, sample, decode) on a mid-size SVD config.

Run: `uv run python packages/sgm-video/bench/bench_video.py [--frames 8] [--size 128] [--steps 4] [--threads 2]`.
The config is the shipped svd.yaml with narrower widths (random weights); memory is the process's resident set,
polled every 2 ms, reported as the peak during a stage of the first run above the resident set at its start
(later runs reuse the allocator's memory); times are from the second run.
"""

import argparse
import os
import platform
import resource
import threading
import time
from contextlib import contextmanager

import torch
from omegaconf import OmegaConf
from PIL import Image

from sgm.pipelines import build_pipeline
from sgm.video.testing import shipped_config

CONDITIONER = "model.params.conditioner_config.params.emb_models"
MID_SIZE = {
    "model.params.network_config.params.model_channels": 128,
    "model.params.network_config.params.channel_mult": [1, 2, 2],
    "model.params.network_config.params.attention_resolutions": [2, 1],
    "model.params.network_config.params.num_head_channels": 32,
    "model.params.network_config.params.context_dim": 256,
    f"{CONDITIONER}.0.params.open_clip_embedding_config.params.arch": {
        "embed_dim": 256,
        "vision_cfg": {"image_size": 112, "layers": 6, "width": 384, "head_width": 64, "patch_size": 14},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1},
    },
}
VAE = {"ch": 64, "ch_mult": [1, 2, 2, 4], "num_res_blocks": 1}
FIRST_STAGE = "model.params.first_stage_config.params"
VAE_PATHS = (f"{CONDITIONER}.3.params.encoder_config.params.ddconfig", f"{FIRST_STAGE}.encoder_config.params",
             f"{FIRST_STAGE}.decoder_config.params")  # fmt: skip


def rss_bytes() -> int:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Polls the resident set in a thread; `stage(name)` records the time and the peak above the start."""

    def __init__(self):
        self.peak, self.results, self._stop = 0, {}, threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    @contextmanager
    def stage(self, name: str):
        start_rss, start = rss_bytes(), time.perf_counter()
        self.peak = start_rss
        yield
        seconds, peak = time.perf_counter() - start, max(self.peak, rss_bytes())
        previous = self.results.get(name, (0.0, 0))
        self.results[name] = (previous[0] + seconds, max(previous[1], peak - start_rss))


def mid_size_config():
    config = shipped_config("svd")
    for key, value in MID_SIZE.items():
        OmegaConf.update(config, key, value, merge=False)
    for path in VAE_PATHS:
        for key, value in VAE.items():
            OmegaConf.update(config, f"{path}.{key}", value, merge=False)
    return config


def instrument(pipeline, memory: PeakMemory) -> None:
    """Each stage method of `pipeline` measured by `memory`."""
    conditionings, decode, sampler = pipeline.conditionings, pipeline.decode, pipeline.sampler

    def timed_conditionings(*args, **kwargs):
        with memory.stage("condition (CLIP + VAE encode)"):
            return conditionings(*args, **kwargs)

    def timed_decode(*args, **kwargs):
        with memory.stage("decode (temporal VAE decoder)"):
            return decode(*args, **kwargs)

    def timed_sampler(*args, **kwargs):
        inner = sampler(*args, **kwargs)

        def run(*sample_args, **sample_kwargs):
            with memory.stage("sample (UNet steps)"):
                return inner(*sample_args, **sample_kwargs)

        return run

    pipeline.conditionings, pipeline.decode, pipeline.sampler = timed_conditionings, timed_decode, timed_sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=128, help="height and width in pixels")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    memory = PeakMemory()
    with memory.stage("build"):
        pipeline = build_pipeline(mid_size_config(), name="svd-mid", device="cpu")
    parameters = {name: sum(p.numel() for p in getattr(pipeline.engine, name).parameters())
                  for name in ("model", "conditioner", "first_stage_model")}  # fmt: skip
    instrument(pipeline, memory)
    image = Image.new("RGB", (args.size, args.size), "white")
    options = dict(num_frames=args.frames, steps=args.steps, height=args.size, width=args.size, decoding_t=args.frames)
    pipeline.image_to_video(image, **options)  # the first run allocates: its peaks are the memory a stage needs
    first, memory.results = memory.results, {}
    start = time.perf_counter()
    pipeline.image_to_video(image, **options)  # the second run's times, without one-time costs
    total = time.perf_counter() - start

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} threads")  # fmt: skip
    print(
        f"config: svd.yaml, {args.frames} frames {args.size}x{args.size}, {args.steps} steps; parameters: "
        + ", ".join(f"{name} {count / 1e6:.1f}M" for name, count in parameters.items())
    )
    print("| stage | time (s), second run | peak memory above its start (MiB), first run |\n|---|---|---|")
    for name, (_, peak) in first.items():
        seconds = memory.results.get(name, first[name])[0]
        print(f"| {name} | {seconds:.2f} | {peak / 2**20:.0f} |")
    print(f"| whole run (after build) | {total:.2f} | |")
    print(f"process peak resident set: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


if __name__ == "__main__":
    main()
