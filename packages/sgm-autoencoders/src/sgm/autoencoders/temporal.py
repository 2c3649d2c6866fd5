"""The temporally consistent video decoder of Stable Video Diffusion (Blattmann et al. 2023, section 4 and app. D).

The image decoder's blocks gain time mixing over the frames of each video: 3-D convolutions after `conv_out`
(`AE3DConv`), a 3-D `ResBlock` after every ResnetBlock (`VideoResBlock`) and, with `time_mode` "all" or
"attn-only", a temporal transformer in the attention blocks (`VideoBlock`). Each mix is weighted by a learned (or
fixed) `mix_factor`, stored on the block itself as in the checkpoints. Inputs are `[(B T), C, H, W]` with
`timesteps` = T frames per video.
"""

from collections.abc import Callable, Sequence

import torch
from einops import rearrange
from torch import nn

from sgm.autoencoders.blocks import AttnBlock, PlainConv2d, ResnetBlock, make_attn
from sgm.autoencoders.model import Decoder
from sgm.core.nn.alpha_blender import AlphaBlender
from sgm.core.nn.resblock import ResBlock
from sgm.core.nn.timestep import timestep_embedding
from sgm.core.nn.video_transformer import VideoTransformerBlock

MERGE_STRATEGIES = ("fixed", "learned")
TIME_MODES = ("all", "conv-only", "attn-only")


class _MixFactorBlend:
    """AlphaBlender's `alpha * a + (1 - alpha) * b` for blocks that keep `mix_factor` themselves (the checkpoints
    have `...block_1.mix_factor`, not a nested blender)."""

    get_alpha = AlphaBlender.get_alpha
    blend = AlphaBlender.forward

    def _init_mix_factor(self, alpha: float, merge_strategy: str) -> None:
        if merge_strategy not in MERGE_STRATEGIES:
            raise ValueError(f"merge_strategy must be one of {', '.join(MERGE_STRATEGIES)}, got {merge_strategy!r}")
        self.merge_strategy = merge_strategy
        if merge_strategy == "fixed":
            self.register_buffer("mix_factor", torch.tensor([float(alpha)]))
        else:
            self.mix_factor = nn.Parameter(torch.tensor([float(alpha)]))


def _to_video(x: torch.Tensor, timesteps: int) -> torch.Tensor:
    return rearrange(x, "(b t) c h w -> b c t h w", t=timesteps)


def _to_frames(x: torch.Tensor) -> torch.Tensor:
    return rearrange(x, "b c t h w -> (b t) c h w")


class VideoResBlock(ResnetBlock, _MixFactorBlend):
    """ResnetBlock, then alpha * time_stack(x) + (1 - alpha) * x with a 3-D ResBlock (`video_kernel_size`) over time."""

    def __init__(
        self,
        out_channels: int,
        *args,
        dropout: float = 0.0,
        video_kernel_size: int | Sequence[int] | None = 3,
        alpha: float = 0.0,
        merge_strategy: str = "learned",
        **kwargs,
    ):
        super().__init__(*args, out_channels=out_channels, dropout=dropout, **kwargs)
        self.time_stack = ResBlock(
            channels=out_channels,
            emb_channels=0,
            dropout=dropout,
            dims=3,
            use_scale_shift_norm=False,
            use_conv=False,
            up=False,
            down=False,
            kernel_size=[3, 1, 1] if video_kernel_size is None else video_kernel_size,
            use_checkpoint=False,
            skip_t_emb=True,
        )
        self._init_mix_factor(alpha, merge_strategy)

    def forward(
        self, x: torch.Tensor, temb: torch.Tensor | None, skip_video: bool = False, timesteps: int | None = None
    ) -> torch.Tensor:
        x = super().forward(x, temb)
        if skip_video:
            return x
        spatial = _to_video(x, timesteps)
        temporal = self.time_stack(spatial, temb)
        # here alpha weights the temporal branch: AlphaBlender's first input gets alpha
        return _to_frames(self.blend(temporal, spatial))


class AE3DConv(nn.Conv2d):
    """A 2-D convolution followed by a 3-D convolution over (time, height, width) of each video (`time_mix_conv`)."""

    def __init__(
        self, in_channels: int, out_channels: int, video_kernel_size: int | Sequence[int] = 3, *args, **kwargs
    ):
        super().__init__(in_channels, out_channels, *args, **kwargs)
        if isinstance(video_kernel_size, int):
            padding = video_kernel_size // 2
        else:
            padding = [k // 2 for k in video_kernel_size]
        self.time_mix_conv = nn.Conv3d(out_channels, out_channels, kernel_size=video_kernel_size, padding=padding)

    def forward(self, input: torch.Tensor, timesteps: int | None = None, skip_video: bool = False) -> torch.Tensor:
        x = super().forward(input)
        if skip_video:
            return x
        return _to_frames(self.time_mix_conv(_to_video(x, timesteps)))


class VideoBlock(AttnBlock, _MixFactorBlend):
    """Spatial self-attention whose attended tokens are mixed with a single-head temporal transformer over the
    frames (with a learned frame-index embedding) before `proj_out`."""

    def __init__(self, in_channels: int, alpha: float = 0.0, merge_strategy: str = "learned"):
        super().__init__(in_channels)
        self.time_mix_block = VideoTransformerBlock(
            dim=in_channels, n_heads=1, d_head=in_channels, checkpoint=False, ff_in=True, attn_mode="softmax"
        )
        time_embed_dim = in_channels * 4
        self.video_time_embed = nn.Sequential(
            nn.Linear(in_channels, time_embed_dim), nn.SiLU(), nn.Linear(time_embed_dim, in_channels)
        )
        self._init_mix_factor(alpha, merge_strategy)

    def forward(self, x: torch.Tensor, timesteps: int | None = None, skip_video: bool = False) -> torch.Tensor:
        if skip_video:
            return super().forward(x)
        height, width = x.shape[-2:]
        spatial = rearrange(self.attention(x), "b c h w -> b (h w) c")
        frame_index = torch.arange(timesteps, device=x.device).repeat(x.shape[0] // timesteps)
        frame_embedding = self.video_time_embed(timestep_embedding(frame_index, self.in_channels).to(x.dtype))
        temporal = self.time_mix_block(spatial + frame_embedding[:, None, :], timesteps=timesteps)
        mixed = self.blend(spatial, temporal)
        return x + self.proj_out(rearrange(mixed, "b (h w) c -> b c h w", h=height, w=width))


class VideoDecoder(Decoder):
    """The image Decoder with time mixing; `forward(z, timesteps=T)` decodes `[(B T), z_channels, h, w]` latents.

    time_mode: "conv-only" (SVD: mixing ResnetBlocks and conv_out), "attn-only" (temporal attention only) or "all".
    video_kernel_size: kernel of the temporal convolutions, e.g. [3, 1, 1] (time only).
    alpha / merge_strategy: the initial mix factor, and whether it is learned (through a sigmoid) or fixed.
    """

    available_time_modes = list(TIME_MODES)
    takes_timesteps = True

    def __init__(
        self,
        *args,
        video_kernel_size: int | Sequence[int] = 3,
        alpha: float = 0.0,
        merge_strategy: str = "learned",
        time_mode: str = "conv-only",
        **kwargs,
    ):
        if time_mode not in TIME_MODES:
            raise ValueError(f"time_mode must be one of {', '.join(TIME_MODES)}, got {time_mode!r}")
        self.video_kernel_size = video_kernel_size
        self.alpha = alpha
        self.merge_strategy = merge_strategy
        self.time_mode = time_mode
        super().__init__(*args, **kwargs)

    def get_last_layer(self, skip_time_mix: bool = False, **kwargs) -> torch.Tensor:
        if self.time_mode == "attn-only" or skip_time_mix:
            return self.conv_out.weight
        return self.conv_out.time_mix_conv.weight

    def _make_attn(self) -> Callable[..., nn.Module]:
        if self.time_mode == "conv-only":
            return make_attn
        return self._make_video_attn

    def _make_video_attn(
        self, in_channels: int, attn_type: str = "vanilla", attn_kwargs: dict | None = None
    ) -> nn.Module:
        if attn_type not in ("vanilla", "vanilla-xformers") or attn_kwargs:
            raise ValueError(
                f"spatio-temporal attention supports attn_type 'vanilla' / 'vanilla-xformers', got {attn_type!r}"
            )
        return VideoBlock(in_channels, alpha=self.alpha, merge_strategy=self.merge_strategy)

    def _make_conv(self) -> Callable[..., nn.Module]:
        if self.time_mode == "attn-only":
            return PlainConv2d
        return lambda *args, **kwargs: AE3DConv(*args, video_kernel_size=self.video_kernel_size, **kwargs)

    def _make_resblock(self) -> Callable[..., nn.Module]:
        if self.time_mode == "attn-only":
            return ResnetBlock
        return lambda **kwargs: VideoResBlock(
            video_kernel_size=self.video_kernel_size, alpha=self.alpha, merge_strategy=self.merge_strategy, **kwargs
        )

    def forward(
        self, z: torch.Tensor, timesteps: int | None = None, skip_video: bool = False, **kwargs
    ) -> torch.Tensor:
        if not skip_video:
            if timesteps is None or timesteps < 1 or z.shape[0] % timesteps:
                raise ValueError(
                    f"VideoDecoder needs timesteps=<frames per video> dividing the batch of {z.shape[0]} latents "
                    f"(got {timesteps!r}); pass skip_video=True to decode frames independently"
                )
        return super().forward(z, timesteps=timesteps, skip_video=skip_video, **kwargs)
