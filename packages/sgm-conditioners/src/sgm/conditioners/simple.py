"""Small embedders: sinusoidal embeddings of numbers (sizes, crops, fps, motion), class labels, identity, resizing."""

import torch
import torch.nn.functional as F
from einops import rearrange
from sgm.conditioners.general import AbstractEmbModel
from sgm.core.nn.timestep import Timestep
from torch import nn


class ConcatTimestepEmbedderND(AbstractEmbModel):
    """`[batch, d]` numbers -> `[batch, d * outdim]`: each column's sinusoidal embedding, concatenated."""

    def __init__(self, outdim: int):
        super().__init__()
        self.timestep = Timestep(outdim)
        self.outdim = outdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"expected numbers of shape [batch] or [batch, d], got {tuple(x.shape)}")
        b, dims = x.shape
        emb = self.timestep(rearrange(x, "b d -> (b d)"))
        return rearrange(emb, "(b d) d2 -> b (d d2)", b=b, d=dims, d2=self.outdim)


class ClassEmbedder(AbstractEmbModel):
    """Class labels -> learned embeddings `[batch, embed_dim]` (`[batch, 1, embed_dim]` with `add_sequence_dim`).

    The last class, `n_classes - 1`, is the unconditional one.
    """

    def __init__(self, embed_dim: int, n_classes: int = 1000, add_sequence_dim: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(n_classes, embed_dim)
        self.n_classes = n_classes
        self.add_sequence_dim = add_sequence_dim

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        c = self.embedding(c)
        return c[:, None, :] if self.add_sequence_dim else c

    def get_unconditional_conditioning(self, bs: int, device: torch.device | str | None = None) -> dict:
        """`{input_key: [n_classes - 1] * bs}`, on `device` (default: the embedding's)."""
        device = self.embedding.weight.device if device is None else device
        return {self.input_key: torch.full((bs,), self.n_classes - 1, dtype=torch.long, device=device)}


class IdentityEncoder(AbstractEmbModel):
    """Passes the batch entry through unchanged."""

    def encode(self, x):
        return x

    def forward(self, x):
        return x


class SpatialRescaler(AbstractEmbModel):
    """Resizes by `multiplier` `n_stages` times, then optionally maps channels with a convolution.

    With `wrap_video`, `[batch, C, T, H, W]` videos are resized frame by frame.
    """

    METHODS = ("nearest", "linear", "bilinear", "trilinear", "bicubic", "area")

    def __init__(
        self,
        n_stages: int = 1,
        method: str = "bilinear",
        multiplier: float = 0.5,
        in_channels: int = 3,
        out_channels: int | None = None,
        bias: bool = False,
        wrap_video: bool = False,
        kernel_size: int = 1,
        remap_output: bool = False,
    ):
        super().__init__()
        if n_stages < 0:
            raise ValueError(f"n_stages must be >= 0, got {n_stages}")
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, got {method!r}")
        self.n_stages = n_stages
        self.method = method
        self.multiplier = multiplier
        self.remap_output = out_channels is not None or remap_output
        if self.remap_output:
            self.channel_mapper = nn.Conv2d(
                in_channels, out_channels, kernel_size=kernel_size, bias=bias, padding=kernel_size // 2
            )
        self.wrap_video = wrap_video

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        video_frames = None
        if self.wrap_video and x.ndim == 5:
            video_frames = x.shape[2]
            x = rearrange(x, "b c t h w -> (b t) c h w")
        for _ in range(self.n_stages):
            x = F.interpolate(x, scale_factor=self.multiplier, mode=self.method)
        if video_frames is not None:
            x = rearrange(x, "(b t) c h w -> b c t h w", t=video_frames)
        if self.remap_output:
            x = self.channel_mapper(x)
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)
