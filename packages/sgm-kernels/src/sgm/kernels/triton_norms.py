"""Triton kernels for GroupNorm (Wu & He 2018) with an optional fused SiLU, and LayerNorm (Ba et al. 2016).

GroupNorm over `[batch, channels, spatial]` (spatial flattened: H*W, or T*H*W for video): a group of moderate size is
one program that reads it twice (statistics, then output; the second read hits L2), a single launch. Large groups
(video) run in three steps that spread a group over many programs: per-chunk mean and M2, merged per group with
Chan et al.'s (1979) parallel variance formula, then one pass that normalizes, applies the affine map and the
activation. All statistics are fp32.
"""

import triton
import triton.language as tl


@triton.jit
def _silu_and_grad(z):
    """SiLU z * sigmoid(z) and its derivative sigmoid(z) * (1 + z * (1 - sigmoid(z)))."""
    sig = 1.0 / (1.0 + tl.exp(-z))
    return z * sig, sig * (1.0 + z * (1.0 - sig))


@triton.jit
def _group_norm_one_program_kernel(
    X, Y, W, B, MEAN, RSTD, channels, groups, spatial, eps, ACTIVATION: tl.constexpr, BLOCK: tl.constexpr
):
    """GroupNorm of one (batch, group), a contiguous range; per-block statistics merged as in Chan et al."""
    group = tl.program_id(0)
    per_group = channels // groups
    group_numel = per_group * spatial
    base = group.to(tl.int64) * group_numel
    count = tl.zeros([1], tl.float32)
    mean = tl.zeros([1], tl.float32)
    m2 = tl.zeros([1], tl.float32)
    for start in range(0, group_numel, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        mask = offs < group_numel
        x = tl.load(X + base + offs, mask=mask, other=0.0).to(tl.float32)
        n_block = tl.minimum(group_numel - start, BLOCK).to(tl.float32)
        block_mean = tl.sum(x, 0) / n_block
        block_m2 = tl.sum(tl.where(mask, (x - block_mean) * (x - block_mean), 0.0), 0)
        delta = block_mean - mean
        total = count + n_block
        mean += delta * n_block / total
        m2 += block_m2 + delta * delta * count * n_block / total
        count = total
    rstd = 1.0 / tl.sqrt(m2 / count + eps)
    first = tl.arange(0, 1)
    tl.store(MEAN + group + first, mean)
    tl.store(RSTD + group + first, rstd)
    channel0 = (group % groups) * per_group
    for start in range(0, group_numel, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        mask = offs < group_numel
        channel = channel0 + offs // spatial
        x = tl.load(X + base + offs, mask=mask, other=0.0).to(tl.float32)
        scale = rstd * tl.load(W + channel, mask=mask, other=0.0).to(tl.float32)
        y = (x - mean) * scale + tl.load(B + channel, mask=mask, other=0.0).to(tl.float32)
        if ACTIVATION == "silu":
            y, _ = _silu_and_grad(y)
        tl.store(Y + base + offs, y.to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _group_chunk_stats_kernel(X, PART_MEAN, PART_M2, group_numel, n_chunks, BLOCK: tl.constexpr):
    """Mean and sum of squared deviations of one chunk of one group (a group is contiguous in memory)."""
    group = tl.program_id(0)
    chunk = tl.program_id(1)
    offs = chunk * BLOCK + tl.arange(0, BLOCK)
    mask = offs < group_numel
    x = tl.load(X + group.to(tl.int64) * group_numel + offs, mask=mask, other=0.0).to(tl.float32)
    count = tl.minimum(group_numel - chunk * BLOCK, BLOCK).to(tl.float32)
    mean = tl.sum(x, 0) / count
    m2 = tl.sum(tl.where(mask, (x - mean) * (x - mean), 0.0), 0)
    tl.store(PART_MEAN + group * n_chunks + chunk, mean)
    tl.store(PART_M2 + group * n_chunks + chunk, m2)


@triton.jit
def _group_merge_stats_kernel(
    PART_MEAN, PART_M2, MEAN, RSTD, group_numel, n_chunks, eps, CHUNK: tl.constexpr, BLOCK_C: tl.constexpr
):
    """Merge the chunks of one group: mean = sum n_c mean_c / n, M2 = sum M2_c + n_c (mean_c - mean)^2."""
    group = tl.program_id(0)
    total = tl.zeros([BLOCK_C], tl.float32)
    for start in range(0, n_chunks, BLOCK_C):
        c = start + tl.arange(0, BLOCK_C)
        count = tl.maximum(tl.minimum(group_numel - c * CHUNK, CHUNK), 0).to(tl.float32)
        total += count * tl.load(PART_MEAN + group * n_chunks + c, mask=c < n_chunks, other=0.0)
    mean = tl.sum(total, 0) / group_numel
    m2 = tl.zeros([BLOCK_C], tl.float32)
    for start in range(0, n_chunks, BLOCK_C):
        c = start + tl.arange(0, BLOCK_C)
        count = tl.maximum(tl.minimum(group_numel - c * CHUNK, CHUNK), 0).to(tl.float32)
        chunk_mean = tl.load(PART_MEAN + group * n_chunks + c, mask=c < n_chunks, other=0.0)
        m2 += tl.load(PART_M2 + group * n_chunks + c, mask=c < n_chunks, other=0.0)
        m2 += count * (chunk_mean - mean) * (chunk_mean - mean)
    tl.store(MEAN + group, mean)
    tl.store(RSTD + group, 1.0 / tl.sqrt(tl.sum(m2, 0) / group_numel + eps))


@triton.jit
def _group_norm_apply_kernel(
    X, Y, W, B, MEAN, RSTD, channels, groups, spatial, ACTIVATION: tl.constexpr, BLOCK: tl.constexpr
):
    """y = act((x - mean) * rstd * w[c] + b[c]) for one spatial chunk of one (batch, channel) row."""
    row = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < spatial
    channel = row % channels
    group = (row // channels) * groups + channel // (channels // groups)
    base = row.to(tl.int64) * spatial
    x = tl.load(X + base + offs, mask=mask, other=0.0).to(tl.float32)
    scale = tl.load(RSTD + group) * tl.load(W + channel).to(tl.float32)
    shift = tl.load(B + channel).to(tl.float32) - tl.load(MEAN + group) * scale
    y = x * scale + shift
    if ACTIVATION == "silu":
        y, _ = _silu_and_grad(y)
    tl.store(Y + base + offs, y.to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _group_norm_grad_terms(
    X, DY, W, B, MEAN, RSTD, row, offs, mask, channels, groups, spatial, ACTIVATION: tl.constexpr
):
    """x_hat = (x - mean) * rstd and dz = dL/d(affine output), recomputing the activation's input."""
    channel = row % channels
    group = (row // channels) * groups + channel // (channels // groups)
    base = row.to(tl.int64) * spatial
    x = tl.load(X + base + offs, mask=mask, other=0.0).to(tl.float32)
    dz = tl.load(DY + base + offs, mask=mask, other=0.0).to(tl.float32)
    rstd = tl.load(RSTD + group)
    x_hat = (x - tl.load(MEAN + group)) * rstd
    w = tl.load(W + channel).to(tl.float32)
    if ACTIVATION == "silu":
        _, d_act = _silu_and_grad(x_hat * w + tl.load(B + channel).to(tl.float32))
        dz = dz * d_act
    return x_hat, dz, w, rstd, group, base


@triton.jit
def _group_norm_bwd_sums_kernel(
    X,
    DY,
    W,
    B,
    MEAN,
    RSTD,
    PART_DZ,
    PART_DZ_XHAT,
    channels,
    groups,
    spatial,
    n_chunks,
    ACTIVATION: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Per (batch, channel, chunk): sum dz and sum dz * x_hat (for db, dw and the group means of dx)."""
    row = tl.program_id(0)
    chunk = tl.program_id(1)
    offs = chunk * BLOCK + tl.arange(0, BLOCK)
    mask = offs < spatial
    x_hat, dz, _, _, _, _ = _group_norm_grad_terms(
        X, DY, W, B, MEAN, RSTD, row, offs, mask, channels, groups, spatial, ACTIVATION
    )
    tl.store(PART_DZ + row * n_chunks + chunk, tl.sum(dz, 0))
    tl.store(PART_DZ_XHAT + row * n_chunks + chunk, tl.sum(tl.where(mask, dz * x_hat, 0.0), 0))


@triton.jit
def _group_norm_bwd_dx_kernel(
    X,
    DY,
    DX,
    W,
    B,
    MEAN,
    RSTD,
    MEAN_G,
    MEAN_G_XHAT,
    channels,
    groups,
    spatial,
    ACTIVATION: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """dx = rstd * (g - mean_group(g) - x_hat * mean_group(g * x_hat)) with g = dz * w."""
    row = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < spatial
    x_hat, dz, w, rstd, group, base = _group_norm_grad_terms(
        X, DY, W, B, MEAN, RSTD, row, offs, mask, channels, groups, spatial, ACTIVATION
    )
    dx = rstd * (dz * w - tl.load(MEAN_G + group) - x_hat * tl.load(MEAN_G_XHAT + group))
    tl.store(DX + base + offs, dx.to(DX.dtype.element_ty), mask=mask)


@triton.jit
def _layer_norm_fwd_kernel(X, Y, W, B, MEAN, RSTD, n_rows, dim, eps, ROWS: tl.constexpr, BLOCK_D: tl.constexpr):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK_D)
    mask = (rows < n_rows)[:, None] & (cols < dim)[None, :]
    offs = rows.to(tl.int64)[:, None] * dim + cols[None, :]
    x = tl.load(X + offs, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, 1) / dim
    centered = tl.where(mask, x - mean[:, None], 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(centered * centered, 1) / dim + eps)
    w = tl.load(W + cols, mask=cols < dim, other=0.0).to(tl.float32)
    b = tl.load(B + cols, mask=cols < dim, other=0.0).to(tl.float32)
    y = centered * rstd[:, None] * w[None, :] + b[None, :]
    tl.store(Y + offs, y.to(Y.dtype.element_ty), mask=mask)
    tl.store(MEAN + rows, mean, mask=rows < n_rows)
    tl.store(RSTD + rows, rstd, mask=rows < n_rows)


@triton.jit
def _layer_norm_bwd_kernel(
    X,
    DY,
    DX,
    W,
    MEAN,
    RSTD,
    PART_DW,
    PART_DB,
    n_rows,
    dim,
    tiles_per_program,
    ROWS: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)) with g = dy * w; partial dw, db for this program."""
    cols = tl.arange(0, BLOCK_D)
    w = tl.load(W + cols, mask=cols < dim, other=0.0).to(tl.float32)
    dw = tl.zeros([BLOCK_D], tl.float32)
    db = tl.zeros([BLOCK_D], tl.float32)
    for i in range(tiles_per_program):
        rows = (tl.program_id(0) * tiles_per_program + i) * ROWS + tl.arange(0, ROWS)
        mask = (rows < n_rows)[:, None] & (cols < dim)[None, :]
        offs = rows.to(tl.int64)[:, None] * dim + cols[None, :]
        x = tl.load(X + offs, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(DY + offs, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(MEAN + rows, mask=rows < n_rows, other=0.0)
        rstd = tl.load(RSTD + rows, mask=rows < n_rows, other=0.0)
        x_hat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
        g = dy * w[None, :]
        mean_g = tl.sum(g, 1) / dim
        mean_g_xhat = tl.sum(g * x_hat, 1) / dim
        dx = rstd[:, None] * (g - mean_g[:, None] - x_hat * mean_g_xhat[:, None])
        tl.store(DX + offs, dx.to(DX.dtype.element_ty), mask=mask)
        dw += tl.sum(dy * x_hat, 0)
        db += tl.sum(dy, 0)
    tl.store(PART_DW + tl.program_id(0) * dim + cols, dw, mask=cols < dim)
    tl.store(PART_DB + tl.program_id(0) * dim + cols, db, mask=cols < dim)
