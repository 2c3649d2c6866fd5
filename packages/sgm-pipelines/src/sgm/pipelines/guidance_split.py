"""Guidance-batch splitting: the network called once per half of the guider's `[uncond, cond]` batch, one half after
the other, instead of once on the whole batch; the outputs concatenated are what the sampler gets.

Every sample of the batch takes its own path through the network (convolutions, norms and attention never mix rows;
a video network's temporal layers mix the frames of one video, and each half holds whole videos), so the result is
the joined call's up to rounding: a matrix product of a few rows (the timestep embedding's) may round differently
at another batch size (tests/test_guidance_split.py: equal to fp64 rounding). A step's activations are then those
of half the batch: about half its memory, for a little speed (two calls of half the batch fill a GPU less than one;
with sequential offloading the blocks are streamed twice).
"""

from collections.abc import Callable, Mapping
from typing import Any

import torch

from sgm.core.diffusion.guiders import Guider


class GuidanceHalves:
    """`denoise(x, sigma, cond)` that calls `network(x, sigma, cond, **network_inputs)` once per half of `guider`'s
    batch (once on the whole when its guider makes no guidance batch).

    network_inputs: what the network takes besides the conditioning; a tensor among them is per video of the
    guidance batch (`image_only_indicator`, `[2 videos, T]`) and is split with it, anything else
    (`num_video_frames`) goes to every call."""

    def __init__(self, network: Callable, guider: Guider, network_inputs: Mapping[str, Any]):
        self.network = network
        self.guider = guider
        self.network_inputs = dict(network_inputs)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: Mapping[str, Any]) -> torch.Tensor:
        halves = self.guider.halves(x, sigma, cond)
        inputs = [{key: value.chunk(len(halves))[i] if isinstance(value, torch.Tensor) else value
                   for key, value in self.network_inputs.items()} for i in range(len(halves))]  # fmt: skip
        outputs = [self.network(*half, **half_inputs) for half, half_inputs in zip(halves, inputs, strict=True)]
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)
