"""The convolutional encoder and decoder of the KL / VQ autoencoders (LDM, Rombach et al. 2022, appendix G).

Module names and constructor parameters are the reference's, so `ddconfig` blocks and checkpoints load as they are.
"""

from collections.abc import Callable, Sequence

import torch
from torch import nn

from sgm.autoencoders.blocks import Downsample, Normalize, PlainConv2d, ResnetBlock, Upsample, make_attn


def _check_resolution(ch_mult: Sequence[int], num_res_blocks: int) -> None:
    if len(ch_mult) < 1:
        raise ValueError("ch_mult must name at least one level, e.g. [1, 2, 4, 4]")
    if num_res_blocks < 1:
        raise ValueError(f"num_res_blocks must be >= 1, got {num_res_blocks}")


class Encoder(nn.Module):
    """Image `[b, in_channels, H, W]` -> latent moments `[b, (1 + double_z) * z_channels, H / f, W / f]`,
    f = 2 ** (len(ch_mult) - 1)."""

    def __init__(
        self,
        *,
        ch: int,
        out_ch: int,
        ch_mult: Sequence[int] = (1, 2, 4, 8),
        num_res_blocks: int,
        attn_resolutions: Sequence[int],
        dropout: float = 0.0,
        resamp_with_conv: bool = True,
        in_channels: int,
        resolution: int,
        z_channels: int,
        double_z: bool = True,
        use_linear_attn: bool = False,
        attn_type: str = "vanilla",
        **ignored,
    ):
        super().__init__()
        _check_resolution(ch_mult, num_res_blocks)
        if use_linear_attn:
            attn_type = "linear"
        self.ch = ch
        self.temb_ch = 0
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        self.resolution = resolution
        self.in_channels = in_channels

        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, stride=1, padding=1)
        in_ch_mult = (1, *ch_mult)
        self.in_ch_mult = in_ch_mult
        current_res = resolution
        self.down = nn.ModuleList()
        for level in range(self.num_resolutions):
            blocks, attns = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_ch_mult[level], ch * ch_mult[level]
            for _ in range(num_res_blocks):
                blocks.append(
                    ResnetBlock(in_channels=block_in, out_channels=block_out, temb_channels=0, dropout=dropout)
                )
                block_in = block_out
                if current_res in attn_resolutions:
                    attns.append(make_attn(block_in, attn_type=attn_type))
            down = nn.Module()
            down.block, down.attn = blocks, attns
            if level != self.num_resolutions - 1:
                down.downsample = Downsample(block_in, resamp_with_conv)
                current_res //= 2
            self.down.append(down)

        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(in_channels=block_in, out_channels=block_in, temb_channels=0, dropout=dropout)
        self.mid.attn_1 = make_attn(block_in, attn_type=attn_type)
        self.mid.block_2 = ResnetBlock(in_channels=block_in, out_channels=block_in, temb_channels=0, dropout=dropout)

        self.norm_out = Normalize(block_in, activation="silu")
        out_channels = 2 * z_channels if double_z else z_channels
        self.conv_out = nn.Conv2d(block_in, out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level, down in enumerate(self.down):
            for i, block in enumerate(down.block):
                h = block(h)
                if len(down.attn) > 0:
                    h = down.attn[i](h)
            if level != self.num_resolutions - 1:
                h = down.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(self.norm_out(h))


class Decoder(nn.Module):
    """Latent `[b, z_channels, h, w]` -> image `[b, out_ch, h * f, w * f]`, f = 2 ** (len(ch_mult) - 1).

    `_make_attn`, `_make_resblock` and `_make_conv` pick the block types; the video decoder overrides them.
    Keyword arguments of `forward` (e.g. `timesteps`) reach every block and `conv_out`.
    """

    def __init__(
        self,
        *,
        ch: int,
        out_ch: int,
        ch_mult: Sequence[int] = (1, 2, 4, 8),
        num_res_blocks: int,
        attn_resolutions: Sequence[int],
        dropout: float = 0.0,
        resamp_with_conv: bool = True,
        in_channels: int,
        resolution: int,
        z_channels: int,
        give_pre_end: bool = False,
        tanh_out: bool = False,
        use_linear_attn: bool = False,
        attn_type: str = "vanilla",
        **ignored,
    ):
        super().__init__()
        _check_resolution(ch_mult, num_res_blocks)
        if use_linear_attn:
            attn_type = "linear"
        self.ch = ch
        self.temb_ch = 0
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        self.resolution = resolution
        self.in_channels = in_channels
        self.give_pre_end = give_pre_end
        self.tanh_out = tanh_out

        block_in = ch * ch_mult[-1]
        current_res = resolution // 2 ** (self.num_resolutions - 1)
        self.z_shape = (1, z_channels, current_res, current_res)
        attn_cls, resblock_cls, conv_cls = self._make_attn(), self._make_resblock(), self._make_conv()

        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, stride=1, padding=1)

        self.mid = nn.Module()
        self.mid.block_1 = resblock_cls(in_channels=block_in, out_channels=block_in, temb_channels=0, dropout=dropout)
        self.mid.attn_1 = attn_cls(block_in, attn_type=attn_type)
        self.mid.block_2 = resblock_cls(in_channels=block_in, out_channels=block_in, temb_channels=0, dropout=dropout)

        self.up = nn.ModuleList()
        for level in reversed(range(self.num_resolutions)):
            blocks, attns = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[level]
            for _ in range(num_res_blocks + 1):
                blocks.append(
                    resblock_cls(in_channels=block_in, out_channels=block_out, temb_channels=0, dropout=dropout)
                )
                block_in = block_out
                if current_res in attn_resolutions:
                    attns.append(attn_cls(block_in, attn_type=attn_type))
            up = nn.Module()
            up.block, up.attn = blocks, attns
            if level != 0:
                up.upsample = Upsample(block_in, resamp_with_conv)
                current_res *= 2
            self.up.insert(0, up)  # up[0] is the full-resolution level, as in the checkpoints

        self.norm_out = Normalize(block_in, activation="silu")
        self.conv_out = conv_cls(block_in, out_ch, kernel_size=3, stride=1, padding=1)

    def _make_attn(self) -> Callable[..., nn.Module]:
        return make_attn

    def _make_resblock(self) -> Callable[..., nn.Module]:
        return ResnetBlock

    def _make_conv(self) -> Callable[..., nn.Module]:
        return PlainConv2d

    def get_last_layer(self, **kwargs) -> torch.Tensor:
        """The weight the adaptive GAN weight differentiates against."""
        return self.conv_out.weight

    def forward(self, z: torch.Tensor, **kwargs) -> torch.Tensor:
        self.last_z_shape = z.shape
        h = self.conv_in(z)
        h = self.mid.block_1(h, None, **kwargs)
        h = self.mid.attn_1(h, **kwargs)
        h = self.mid.block_2(h, None, **kwargs)
        for level in reversed(range(self.num_resolutions)):
            up = self.up[level]
            for i, block in enumerate(up.block):
                h = block(h, None, **kwargs)
                if len(up.attn) > 0:
                    h = up.attn[i](h, **kwargs)
            if level != 0:
                h = up.upsample(h)
        if self.give_pre_end:
            return h
        h = self.conv_out(self.norm_out(h), **kwargs)
        return torch.tanh(h) if self.tanh_out else h
