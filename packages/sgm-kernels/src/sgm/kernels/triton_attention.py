"""FlashAttention (Dao et al. 2022) in Triton: tiled attention with an online softmax, forward and backward.

Tensors are `[batch, heads, tokens, head_dim]` with any strides (the last dimension contiguous). A tile holds the
tokens of PAIRS (batch, head) pairs at once: PAIRS = 1 for long sequences (spatial attention), several for the very
short sequences of temporal and multi-view attention, where a score mask keeps each pair to its own keys. The head
dimension is padded to a power of two inside the kernel and masked. Softmax runs in base 2 (exp2) with fp32
statistics and accumulators; the log-sum-exp of each query row is kept for the backward pass.
"""

import triton
import triton.language as tl

LOG2_E = 1.4426950408889634


@triton.jit
def _tile_rows(
    pid_pairs, start, n_tokens, n_pairs, n_heads, stride_b, stride_h, stride_t, BLOCK: tl.constexpr, PAIRS: tl.constexpr
):
    """Memory offsets, token index and pair index of each row of a tile of PAIRS pairs x BLOCK // PAIRS tokens."""
    rows = tl.arange(0, BLOCK)
    pair = pid_pairs * PAIRS + rows // (BLOCK // PAIRS)
    token = start + rows % (BLOCK // PAIRS)
    pair_valid = pair < n_pairs
    base = (pair // n_heads).to(tl.int64) * stride_b + (pair % n_heads).to(tl.int64) * stride_h
    return base + token * stride_t, token, pair, pair_valid & (token < n_tokens)


@triton.jit
def _load_rows(ptr, offsets, valid, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr):
    """Load a [rows, BLOCK_D] tile, zero where a row is invalid or past the true head dimension."""
    cols = tl.arange(0, BLOCK_D)
    ptrs = ptr + offsets[:, None] + cols[None, :]
    if HEAD_DIM == BLOCK_D:
        tile = tl.load(ptrs, mask=valid[:, None], other=0.0)
    else:
        tile = tl.load(ptrs, mask=valid[:, None] & (cols[None, :] < HEAD_DIM), other=0.0)
    return tile


@triton.jit
def _store_rows(ptr, offsets, valid, tile, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr):
    cols = tl.arange(0, BLOCK_D)
    ptrs = ptr + offsets[:, None] + cols[None, :]
    tl.store(ptrs, tile.to(ptr.dtype.element_ty), mask=valid[:, None] & (cols[None, :] < HEAD_DIM))


@triton.jit
def _same_pair(row_pair, col_pair, keep, PAIRS: tl.constexpr):
    if PAIRS > 1:
        keep = keep & (row_pair[:, None] == col_pair[None, :])
    return keep


@triton.jit
def _attention_fwd_kernel(
    Q,
    K,
    V,
    O,
    LSE,
    sqb,
    sqh,
    sqt,
    skb,
    skh,
    skt,
    svb,
    svh,
    svt,
    sob,
    soh,
    sot,
    n_heads,
    n_pairs,
    n_q,
    n_k,
    qk_scale,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PAIRS: tl.constexpr,
    PRECISION: tl.constexpr,
):
    SEQ_M: tl.constexpr = BLOCK_M // PAIRS
    SEQ_N: tl.constexpr = BLOCK_N // PAIRS
    pid_p = tl.program_id(0)  # pairs on the first grid axis: it takes more than 65535 programs
    pid_m = tl.program_id(1)
    q_off, q_token, row_pair, q_valid = _tile_rows(
        pid_p, pid_m * SEQ_M, n_q, n_pairs, n_heads, sqb, sqh, sqt, BLOCK_M, PAIRS
    )
    k_off, k_token0, col_pair, _ = _tile_rows(pid_p, 0, n_k, n_pairs, n_heads, skb, skh, skt, BLOCK_N, PAIRS)
    v_off, _, _, _ = _tile_rows(pid_p, 0, n_k, n_pairs, n_heads, svb, svh, svt, BLOCK_N, PAIRS)
    col_pair_valid = col_pair < n_pairs
    q = _load_rows(Q, q_off, q_valid, HEAD_DIM, BLOCK_D)

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    if PAIRS == 1:
        n_full = (n_k // SEQ_N) * SEQ_N  # key blocks that need no mask
    else:
        n_full = n_k * 0
    for start_n in range(0, n_full, SEQ_N):
        k = _load_rows(K + start_n * skt, k_off, col_pair_valid, HEAD_DIM, BLOCK_D)
        v = _load_rows(V + start_n * svt, v_off, col_pair_valid, HEAD_DIM, BLOCK_D)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new
    for start_n in range(n_full, n_k, SEQ_N):
        k_valid = (start_n + k_token0 < n_k) & col_pair_valid
        k = _load_rows(K + start_n * skt, k_off, k_valid, HEAD_DIM, BLOCK_D)
        v = _load_rows(V + start_n * svt, v_off, k_valid, HEAD_DIM, BLOCK_D)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        keep = _same_pair(row_pair, col_pair, (start_n + k_token0 < n_k)[None, :], PAIRS)
        s = tl.where(keep, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    o_off, _, _, _ = _tile_rows(pid_p, pid_m * SEQ_M, n_q, n_pairs, n_heads, sob, soh, sot, BLOCK_M, PAIRS)
    _store_rows(O, o_off, q_valid, acc / l_i[:, None], HEAD_DIM, BLOCK_D)
    tl.store(LSE + row_pair.to(tl.int64) * n_q + q_token, m_i + tl.log2(l_i), mask=q_valid)


@triton.jit
def _attention_bwd_dq_kernel(
    Q,
    K,
    V,
    O,
    DO,
    DQ,
    LSE,
    DELTA,
    sqb,
    sqh,
    sqt,
    skb,
    skh,
    skt,
    svb,
    svh,
    svt,
    sob,
    soh,
    sot,
    sdob,
    sdoh,
    sdot,
    sdqb,
    sdqh,
    sdqt,
    n_heads,
    n_pairs,
    n_q,
    n_k,
    qk_scale,
    sm_scale,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PAIRS: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """dQ = scale * dS K with dS = P * (dP - delta), dP = dO V^T, delta = rowsum(dO * O); also stores delta."""
    SEQ_M: tl.constexpr = BLOCK_M // PAIRS
    SEQ_N: tl.constexpr = BLOCK_N // PAIRS
    pid_p = tl.program_id(0)  # pairs on the first grid axis: it takes more than 65535 programs
    pid_m = tl.program_id(1)
    q_off, q_token, row_pair, q_valid = _tile_rows(
        pid_p, pid_m * SEQ_M, n_q, n_pairs, n_heads, sqb, sqh, sqt, BLOCK_M, PAIRS
    )
    o_off, _, _, _ = _tile_rows(pid_p, pid_m * SEQ_M, n_q, n_pairs, n_heads, sob, soh, sot, BLOCK_M, PAIRS)
    do_off, _, _, _ = _tile_rows(pid_p, pid_m * SEQ_M, n_q, n_pairs, n_heads, sdob, sdoh, sdot, BLOCK_M, PAIRS)
    k_off, k_token0, col_pair, _ = _tile_rows(pid_p, 0, n_k, n_pairs, n_heads, skb, skh, skt, BLOCK_N, PAIRS)
    v_off, _, _, _ = _tile_rows(pid_p, 0, n_k, n_pairs, n_heads, svb, svh, svt, BLOCK_N, PAIRS)
    q = _load_rows(Q, q_off, q_valid, HEAD_DIM, BLOCK_D)
    do = _load_rows(DO, do_off, q_valid, HEAD_DIM, BLOCK_D)
    o = _load_rows(O, o_off, q_valid, HEAD_DIM, BLOCK_D)
    delta = tl.sum(do.to(tl.float32) * o.to(tl.float32), 1)
    row = row_pair.to(tl.int64) * n_q + q_token
    tl.store(DELTA + row, delta, mask=q_valid)
    lse = tl.load(LSE + row, mask=q_valid, other=0.0)

    dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for start_n in range(0, n_k, SEQ_N):
        k_in_range = start_n + k_token0 < n_k
        k = _load_rows(K + start_n * skt, k_off, k_in_range & (col_pair < n_pairs), HEAD_DIM, BLOCK_D)
        v = _load_rows(V + start_n * svt, v_off, k_in_range & (col_pair < n_pairs), HEAD_DIM, BLOCK_D)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        keep = _same_pair(row_pair, col_pair, k_in_range[None, :], PAIRS)
        p = tl.where(keep, tl.exp2(s - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)

    dq_off, _, _, _ = _tile_rows(pid_p, pid_m * SEQ_M, n_q, n_pairs, n_heads, sdqb, sdqh, sdqt, BLOCK_M, PAIRS)
    _store_rows(DQ, dq_off, q_valid, dq * sm_scale, HEAD_DIM, BLOCK_D)


@triton.jit
def _attention_bwd_dkdv_kernel(
    Q,
    K,
    V,
    DO,
    DK,
    DV,
    LSE,
    DELTA,
    sqb,
    sqh,
    sqt,
    skb,
    skh,
    skt,
    svb,
    svh,
    svt,
    sdob,
    sdoh,
    sdot,
    sdkb,
    sdkh,
    sdkt,
    sdvb,
    sdvh,
    sdvt,
    n_heads,
    n_pairs,
    n_q,
    n_k,
    qk_scale,
    sm_scale,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PAIRS: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """dV = P^T dO and dK = scale * dS^T Q for one block of keys, looping over the queries (transposed tiles)."""
    SEQ_M: tl.constexpr = BLOCK_M // PAIRS
    SEQ_N: tl.constexpr = BLOCK_N // PAIRS
    pid_p = tl.program_id(0)
    pid_n = tl.program_id(1)
    k_off, _, key_pair, k_valid = _tile_rows(pid_p, pid_n * SEQ_N, n_k, n_pairs, n_heads, skb, skh, skt, BLOCK_N, PAIRS)
    v_off, _, _, _ = _tile_rows(pid_p, pid_n * SEQ_N, n_k, n_pairs, n_heads, svb, svh, svt, BLOCK_N, PAIRS)
    q_off, q_token0, q_pair, _ = _tile_rows(pid_p, 0, n_q, n_pairs, n_heads, sqb, sqh, sqt, BLOCK_M, PAIRS)
    do_off, _, _, _ = _tile_rows(pid_p, 0, n_q, n_pairs, n_heads, sdob, sdoh, sdot, BLOCK_M, PAIRS)
    k = _load_rows(K, k_off, k_valid, HEAD_DIM, BLOCK_D)
    v = _load_rows(V, v_off, k_valid, HEAD_DIM, BLOCK_D)

    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    for start_m in range(0, n_q, SEQ_M):
        q_valid = (start_m + q_token0 < n_q) & (q_pair < n_pairs)
        q = _load_rows(Q + start_m * sqt, q_off, q_valid, HEAD_DIM, BLOCK_D)
        do = _load_rows(DO + start_m * sdot, do_off, q_valid, HEAD_DIM, BLOCK_D)
        row = q_pair.to(tl.int64) * n_q + start_m + q_token0
        lse = tl.load(LSE + row, mask=q_valid, other=0.0)
        delta = tl.load(DELTA + row, mask=q_valid, other=0.0)
        s_t = tl.dot(k, tl.trans(q), input_precision=PRECISION) * qk_scale
        keep = _same_pair(key_pair, q_pair, q_valid[None, :], PAIRS)
        p_t = tl.where(keep, tl.exp2(s_t - lse[None, :]), 0.0)
        dv += tl.dot(p_t.to(do.dtype), do, input_precision=PRECISION)
        dp_t = tl.dot(v, tl.trans(do), input_precision=PRECISION)
        ds_t = p_t * (dp_t - delta[None, :])
        dk += tl.dot(ds_t.to(q.dtype), q, input_precision=PRECISION)

    dk_off, _, _, _ = _tile_rows(pid_p, pid_n * SEQ_N, n_k, n_pairs, n_heads, sdkb, sdkh, sdkt, BLOCK_N, PAIRS)
    dv_off, _, _, _ = _tile_rows(pid_p, pid_n * SEQ_N, n_k, n_pairs, n_heads, sdvb, sdvh, sdvt, BLOCK_N, PAIRS)
    _store_rows(DK, dk_off, k_valid, dk * sm_scale, HEAD_DIM, BLOCK_D)
    _store_rows(DV, dv_off, k_valid, dv, HEAD_DIM, BLOCK_D)
