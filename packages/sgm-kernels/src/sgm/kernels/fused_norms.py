"""Launching the Triton norm kernels, and their autograd Functions."""

import torch

from sgm.kernels.triton_common import cdiv, interpreted, next_power_of_2
from sgm.kernels.triton_norms import (
    _group_chunk_stats_kernel,
    _group_merge_stats_kernel,
    _group_norm_apply_kernel,
    _group_norm_bwd_dx_kernel,
    _group_norm_bwd_sums_kernel,
    _group_norm_one_program_kernel,
    _layer_norm_bwd_kernel,
    _layer_norm_fwd_kernel,
)


def _small_blocks() -> bool:
    """Under the interpreter, small blocks keep tests fast and make every chunking path run."""
    return interpreted(_group_norm_apply_kernel)


def _affine(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, channels: int):
    weight = torch.ones(channels, device=x.device, dtype=torch.float32) if weight is None else weight.contiguous()
    bias = torch.zeros(channels, device=x.device, dtype=torch.float32) if bias is None else bias.contiguous()
    return weight, bias


def _group_norm_blocks(spatial: int, group_numel: int) -> tuple[int, int, int]:
    """(spatial block of the elementwise kernels, chunk of the statistics kernel, warps)."""
    if _small_blocks():
        return 64, 128, 4
    return min(2048, next_power_of_2(spatial)), min(4096, next_power_of_2(group_numel)), 4


def _one_program_per_group(group_numel: int) -> bool:
    """Groups up to this size run as one program each: one launch, which wins while launches cost more than reads."""
    return group_numel <= (256 if _small_blocks() else 1 << 17)


def group_norm_forward(x, num_groups, weight, bias, eps, activation):
    """x: contiguous `[batch, channels, spatial]`. Returns y and the per-group mean and 1/std (fp32)."""
    batch, channels, spatial = x.shape
    group_numel = channels // num_groups * spatial
    block, chunk, warps = _group_norm_blocks(spatial, group_numel)
    y = torch.empty_like(x)
    mean = torch.empty(batch * num_groups, device=x.device, dtype=torch.float32)
    rstd = torch.empty_like(mean)
    if _one_program_per_group(group_numel):
        _group_norm_one_program_kernel[(batch * num_groups,)](
            x, y, weight, bias, mean, rstd, channels, num_groups, spatial, eps, ACTIVATION=activation,
            BLOCK=64 if _small_blocks() else 8192, num_warps=16,
        )  # fmt: skip
        return y, mean, rstd
    n_chunks = cdiv(group_numel, chunk)
    part_mean = torch.empty(batch * num_groups, n_chunks, device=x.device, dtype=torch.float32)
    part_m2 = torch.empty_like(part_mean)
    _group_chunk_stats_kernel[(batch * num_groups, n_chunks)](
        x, part_mean, part_m2, group_numel, n_chunks, BLOCK=chunk, num_warps=warps
    )
    block_c = min(1024, next_power_of_2(n_chunks))
    _group_merge_stats_kernel[(batch * num_groups,)](
        part_mean, part_m2, mean, rstd, group_numel, n_chunks, eps, CHUNK=chunk, BLOCK_C=block_c
    )
    _group_norm_apply_kernel[(batch * channels, cdiv(spatial, block))](
        x, y, weight, bias, mean, rstd, channels, num_groups, spatial, ACTIVATION=activation, BLOCK=block,
        num_warps=warps,
    )  # fmt: skip
    return y, mean, rstd


def group_norm_backward(x, grad_y, weight, bias, mean, rstd, num_groups, activation):
    batch, channels, spatial = x.shape
    block, _, warps = _group_norm_blocks(spatial, channels // num_groups * spatial)
    n_chunks = cdiv(spatial, block)
    part_dz = torch.empty(batch * channels, n_chunks, device=x.device, dtype=torch.float32)
    part_dz_xhat = torch.empty_like(part_dz)
    grid = (batch * channels, n_chunks)
    common = (channels, num_groups, spatial)
    _group_norm_bwd_sums_kernel[grid](
        x, grad_y, weight, bias, mean, rstd, part_dz, part_dz_xhat, *common, n_chunks,
        ACTIVATION=activation, BLOCK=block, num_warps=warps,
    )  # fmt: skip
    sum_dz = part_dz.sum(1).view(batch, channels)
    sum_dz_xhat = part_dz_xhat.sum(1).view(batch, channels)
    group_numel = channels // num_groups * spatial
    w = weight.float()
    mean_g = (sum_dz * w).view(batch, num_groups, -1).sum(-1).flatten() / group_numel
    mean_g_xhat = (sum_dz_xhat * w).view(batch, num_groups, -1).sum(-1).flatten() / group_numel
    grad_x = torch.empty_like(x)
    _group_norm_bwd_dx_kernel[grid](
        x, grad_y, grad_x, weight, bias, mean, rstd, mean_g, mean_g_xhat, *common,
        ACTIVATION=activation, BLOCK=block, num_warps=warps,
    )  # fmt: skip
    return grad_x, sum_dz_xhat.sum(0), sum_dz.sum(0)


class FusedGroupNorm(torch.autograd.Function):
    """GroupNorm (+ SiLU) over `[batch, channels, *spatial]`; weight and bias may be None."""

    @staticmethod
    def forward(ctx, x, num_groups, weight, bias, eps, activation):
        shape = x.shape
        x3 = x.reshape(shape[0], shape[1], -1).contiguous()
        w, b = _affine(x, weight, bias, shape[1])
        y, mean, rstd = group_norm_forward(x3, num_groups, w, b, eps, activation)
        ctx.save_for_backward(x3, w, b, mean, rstd)
        ctx.config = (num_groups, activation, shape, weight is not None, bias is not None)
        return y.view(shape)

    @staticmethod
    def backward(ctx, grad_y):
        x3, w, b, mean, rstd = ctx.saved_tensors
        num_groups, activation, shape, has_weight, has_bias = ctx.config
        grad_y = grad_y.reshape(x3.shape).contiguous()
        grad_x, grad_w, grad_b = group_norm_backward(x3, grad_y, w, b, mean, rstd, num_groups, activation)
        return (
            grad_x.view(shape),
            None,
            grad_w.to(w.dtype) if has_weight else None,
            grad_b.to(b.dtype) if has_bias else None,
            None,
            None,
        )


def _layer_norm_blocks(dim: int) -> tuple[int, int, int]:
    """(rows per tile, padded dim, warps)."""
    block_d = next_power_of_2(dim)
    if _small_blocks():
        return 2, block_d, 4
    return max(1, 4096 // block_d), block_d, 8 if block_d >= 2048 else 4


class FusedLayerNorm(torch.autograd.Function):
    """LayerNorm over the last dimension; weight and bias may be None."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).contiguous()
        n_rows, dim = x2.shape
        w, b = _affine(x, weight, bias, dim)
        rows, block_d, warps = _layer_norm_blocks(dim)
        y = torch.empty_like(x2)
        mean = torch.empty(n_rows, device=x.device, dtype=torch.float32)
        rstd = torch.empty_like(mean)
        _layer_norm_fwd_kernel[(cdiv(n_rows, rows),)](
            x2, y, w, b, mean, rstd, n_rows, dim, eps, ROWS=rows, BLOCK_D=block_d, num_warps=warps
        )
        ctx.save_for_backward(x2, w, mean, rstd)
        ctx.config = (shape, weight is not None, b.dtype if bias is not None else None)
        return y.view(shape)

    @staticmethod
    def backward(ctx, grad_y):
        x2, w, mean, rstd = ctx.saved_tensors
        shape, has_weight, bias_dtype = ctx.config
        n_rows, dim = x2.shape
        rows, block_d, warps = _layer_norm_blocks(dim)
        n_tiles = cdiv(n_rows, rows)
        programs = min(n_tiles, 2 if _small_blocks() else 512)
        tiles_per_program = cdiv(n_tiles, programs)
        programs = cdiv(n_tiles, tiles_per_program)
        part_dw = torch.empty(programs, dim, device=x2.device, dtype=torch.float32)
        part_db = torch.empty_like(part_dw)
        grad_x = torch.empty_like(x2)
        _layer_norm_bwd_kernel[(programs,)](
            x2, grad_y.reshape(n_rows, dim).contiguous(), grad_x, w, mean, rstd, part_dw, part_db, n_rows, dim,
            tiles_per_program, ROWS=rows, BLOCK_D=block_d, num_warps=warps,
        )  # fmt: skip
        grad_w = part_dw.sum(0).to(w.dtype) if has_weight else None
        grad_b = part_db.sum(0).to(bias_dtype) if bias_dtype is not None else None
        return grad_x.view(shape), grad_w, grad_b, None
