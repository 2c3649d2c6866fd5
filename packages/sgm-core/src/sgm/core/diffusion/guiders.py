"""Guidance: how the conditional and unconditional predictions combine.

A sampler calls `guider.prepare_inputs(x, sigma, cond, uc)` to build one batched denoiser call, then
`guider(denoised, sigma)` to combine its output. Classifier-free guidance (Ho & Salimans 2022):
D = D_u + w (D_c - D_u), with the unconditional half first in the batch. `guider.halves(x, sigma, cond)` undoes
the batching, for a caller that runs the two halves as separate calls (half the activations at once).
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import torch

from sgm.core.diffusion.tensor_shapes import append_dims

# Conditioning keys that hold per-sample tensors, batched as [uncond, cond]; any other key is shared by both halves.
BATCHED_COND_KEYS = ("vector", "crossattn", "concat")

Prepared = tuple[torch.Tensor, torch.Tensor, dict[str, Any]]


def _as_key_list(keys: str | Iterable[str] | None) -> list[str]:
    if keys is None:
        return []
    return [keys] if isinstance(keys, str) else list(keys)


def _stack_uncond_cond(
    x: torch.Tensor, s: torch.Tensor, c: Mapping, uc: Mapping, batched_keys: Sequence[str], check_shared: bool
) -> Prepared:
    c_out = {}
    for key, value in c.items():
        if key in batched_keys:
            c_out[key] = torch.cat((uc[key], value), 0)
        else:
            if check_shared and not isinstance(value, torch.Tensor) and key in uc and uc[key] != value:
                raise ValueError(f"conditioning {key!r} differs between cond and uc; guidance needs it shared")
            c_out[key] = value
    return torch.cat([x] * 2), torch.cat([s] * 2), c_out


class Guider(ABC):
    # the conditioning keys `prepare_inputs` stacks as [uncond, cond]; None: it makes no guidance batch
    batched_keys: tuple[str, ...] | None = None

    @abstractmethod
    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The guided prediction from the denoiser output of `prepare_inputs`' batch."""

    @abstractmethod
    def prepare_inputs(self, x: torch.Tensor, s: torch.Tensor, c: Mapping, uc: Mapping) -> Prepared:
        """`(x, sigma, cond)` for one denoiser call."""

    def halves(self, x: torch.Tensor, s: torch.Tensor, c: Mapping) -> list[Prepared]:
        """The calls the batch of `prepare_inputs` joins: `[uncond, cond]`'s two halves (shared keys in both), or the
        batch alone when it is not a guidance batch. Their outputs concatenated are the joined call's."""
        if self.batched_keys is None:
            return [(x, s, c)]
        conds = [{key: value.chunk(2)[i] if key in self.batched_keys else value for key, value in c.items()}
                 for i in range(2)]  # fmt: skip
        return list(zip(x.chunk(2), s.chunk(2), conds, strict=True))


class VanillaCFG(Guider):
    """Classifier-free guidance with one scale for the whole sample."""

    batched_keys = BATCHED_COND_KEYS

    def __init__(self, scale: float):
        self.scale = scale

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        x_u, x_c = x.chunk(2)
        return x_u + self.scale * (x_c - x_u)

    def prepare_inputs(self, x: torch.Tensor, s: torch.Tensor, c: Mapping, uc: Mapping) -> Prepared:
        return _stack_uncond_cond(x, s, c, uc, self.batched_keys, check_shared=True)


class IdentityGuider(Guider):
    """No guidance: the conditional prediction alone."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return x

    def prepare_inputs(self, x: torch.Tensor, s: torch.Tensor, c: Mapping, uc: Mapping) -> Prepared:
        return x, s, dict(c)


class LinearPredictionGuider(Guider):
    """Classifier-free guidance for video, with a scale per frame rising linearly from `min_scale` on the first
    frame to `max_scale` on the last (SVD). The batch holds `num_frames` consecutive frames per video;
    `additional_cond_keys` are batched as [uncond, cond] besides vector/crossattn/concat.
    `scale` is a float32 `[1, num_frames]` tensor.
    """

    def __init__(
        self,
        max_scale: float,
        num_frames: int,
        min_scale: float = 1.0,
        additional_cond_keys: str | list[str] | None = None,
    ):
        self.min_scale = min_scale
        self.max_scale = max_scale
        self.num_frames = num_frames
        self.scale = torch.linspace(min_scale, max_scale, num_frames).unsqueeze(0)
        self.additional_cond_keys = _as_key_list(additional_cond_keys)
        self.batched_keys = (*BATCHED_COND_KEYS, *self.additional_cond_keys)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        x_u, x_c = x.chunk(2)
        if x_u.shape[0] % self.num_frames:
            raise ValueError(f"batch of {x_u.shape[0]} frames is not a whole number of {self.num_frames}-frame videos")
        per_video = (x_u.shape[0] // self.num_frames, self.num_frames, *x_u.shape[1:])
        x_u, x_c = x_u.reshape(per_video), x_c.reshape(per_video)
        scale = append_dims(self.scale.expand(per_video[0], -1), x_u.ndim).to(x_u.device)
        return (x_u + scale * (x_c - x_u)).flatten(0, 1)

    def prepare_inputs(self, x: torch.Tensor, s: torch.Tensor, c: Mapping, uc: Mapping) -> Prepared:
        return _stack_uncond_cond(x, s, c, uc, self.batched_keys, check_shared=False)


def triangle_wave(values: torch.Tensor, period: float = 1.0) -> torch.Tensor:
    """2 |v/p - round(v/p)|: 0 at multiples of the period, 1 halfway between."""
    return 2 * (values / period - torch.floor(values / period + 0.5)).abs()


class TrianglePredictionGuider(LinearPredictionGuider):
    """Per-frame scale following a triangle wave over the frames (SV3D orbits): `min_scale` at the ends, `max_scale`
    at mid-period. Several periods are fused by "mean", "multiply" or "max"."""

    def __init__(
        self,
        max_scale: float,
        num_frames: int,
        min_scale: float = 1.0,
        period: float | list[float] = 1.0,
        period_fusing: Literal["mean", "multiply", "max"] = "max",
        additional_cond_keys: str | list[str] | None = None,
    ):
        super().__init__(max_scale, num_frames, min_scale, additional_cond_keys)
        periods = [period] if isinstance(period, int | float) else list(period)
        positions = torch.linspace(0, 1, num_frames)
        waves = [triangle_wave(positions, p) for p in periods]
        if period_fusing == "mean":
            wave = sum(waves) / len(periods)
        elif period_fusing == "multiply":
            wave = torch.prod(torch.stack(waves), dim=0)
        elif period_fusing == "max":
            wave = torch.stack(waves).max(dim=0).values
        else:
            raise ValueError(f"period_fusing must be 'mean', 'multiply' or 'max', got {period_fusing!r}")
        self.scale = (wave * (max_scale - min_scale) + min_scale).unsqueeze(0)


class TrapezoidPredictionGuider(LinearPredictionGuider):
    """Per-frame scale rising from `min_scale` to `max_scale` over the first `edge_perc` of the frames, 1.0 in the
    middle, and falling back over the last `edge_perc`."""

    def __init__(
        self,
        max_scale: float,
        num_frames: int,
        min_scale: float = 1.0,
        edge_perc: float = 0.1,
        additional_cond_keys: str | list[str] | None = None,
    ):
        super().__init__(max_scale, num_frames, min_scale, additional_cond_keys)
        edge = int(num_frames * edge_perc)
        rise = torch.linspace(min_scale, max_scale, edge)
        self.scale = torch.cat([rise, torch.ones(num_frames - 2 * edge), torch.flip(rise, [0])]).unsqueeze(0)


class SpatiotemporalPredictionGuider(LinearPredictionGuider):
    """Per-frame scale for `num_frames // num_views` time steps of `num_views` views each (SV4D): half rises
    linearly over time, half follows a triangle wave over the views; mapped onto [min_scale, max_scale]."""

    def __init__(
        self,
        max_scale: float,
        num_frames: int,
        num_views: int = 1,
        min_scale: float = 1.0,
        additional_cond_keys: str | list[str] | None = None,
    ):
        super().__init__(max_scale, num_frames, min_scale, additional_cond_keys)
        if num_frames % num_views:
            raise ValueError(f"num_frames ({num_frames}) must be a multiple of num_views ({num_views})")
        times = num_frames // num_views
        scale = torch.zeros(num_frames).view(times, num_views)
        scale += torch.linspace(0, 1, times)[:, None] * 0.5
        scale += triangle_wave(torch.linspace(0, 1, num_views))[None, :] * 0.5
        self.scale = (scale.flatten() * (max_scale - min_scale) + min_scale).unsqueeze(0)
