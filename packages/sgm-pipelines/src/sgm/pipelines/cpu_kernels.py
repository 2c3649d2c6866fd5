"""What ATen's CPU kernels allocate while they run besides their outputs, for the ops where that differs from the
meta kernels (which allocate the output alone): the memory plan's model of a CPU run. Each model runs the op on its
meta inputs and makes meta tensors of the sizes the CPU kernel allocates, alive together as in the kernel, so a
live-bytes tracker sees the kernel's peak (checked against torch.profiler's records: bench/plan_vs_cpu.py).

- Convolutions: ATen picks the kernel per call from the shapes, dtype and thread count, and the model asks ATen
  which (`_select_conv_backend`, on one-element stand-ins expanded to the same sizes). Every kernel gets a dense
  input (a copy of a strided view). oneDNN (`Mkldnn`), with plain (NCHW) tensors, reorders the input and the weight
  into its blocked layout, computes a blocked output, frees the first two and reorders the output back; with
  channels-last tensors (its native layout) it copies those that are not and reorders the weight, beside the output.
  The native kernels (`Slow2d`, `Slow3d`: ATen's choice on one thread for a 1x1 or time-only kernel, or for a small
  input) unfold the input into columns `[N, C_in * prod(kernel), prod(output size)]` (im2col) for one GEMM, except
  for a 1x1 kernel with stride 1 and no padding. Not modelled: oneDNN's padding of channels to its block (8 or 16)
  in the blocked tensors, which grows the convolutions of few channels (a VAE's RGB input and output), and the
  scratchpad of its channels-last kernel (8 KiB, and 4 KiB per further thread).
- Group norm normalizes a contiguous copy of an input that is in no memory format (the video decoder's `b c t h w`
  views of its frames).
- Nearest 2-D upsampling of a plain input runs the channels-last kernel on copies of the input and output when the
  output's height + width is at most 128 (ATen's `_use_vectorized_kernel_cond_2d`).
- Fused (flash) attention keeps per-thread blocks of `q_split` queries by `kv_split` keys (`cpu_flash_attention`):
  scores, row maxima and sums and an output block in fp32, and the scores again in a half-precision input's dtype.
"""

import inspect
import math

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _ntuple
from torch.utils._python_dispatch import _disable_current_modes

_Backend = torch._C._ConvBackend
_CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}
_INTERPOLATE = inspect.signature(F.interpolate)
_KV_SPLIT = 512  # keys per block of the CPU flash kernel


def cpu_convolution(func, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """`func` (F.conv1d / conv2d / conv3d) on meta tensors, allocating what the CPU kernel ATen picks does."""
    spatial = weight.dim() - 2
    stride, padding, dilation = (list(_ntuple(spatial)(value)) for value in (stride, padding, dilation))
    with _disable_current_modes():  # the stand-ins are no part of the run
        backend = torch._C._select_conv_backend(_stand_in(input), _stand_in(weight), _stand_in(bias), stride,
                                                padding, dilation, False, [0] * spatial, groups, None)  # fmt: skip
    layout = _backend_layout(backend, input, weight)
    plain = layout == torch.contiguous_format
    held = [torch.empty_like(t) for t in (input, weight) if not t.is_contiguous(memory_format=layout)]
    if backend == _Backend.Mkldnn:  # plain: the input and the weight blocked; channels-last: the weight reordered
        held += [torch.empty_like(input), torch.empty_like(weight)] if plain else [torch.empty_like(weight)]
    out = func(input, weight, bias, stride, padding, dilation, groups)
    unfolds = any(size != 1 for size in weight.shape[2:]) or any(s != 1 for s in stride) or any(padding)
    if backend in (_Backend.Slow2d, _Backend.Slow3d) and unfolds:
        held.append(input.new_empty(input.shape[0], input.shape[1] * math.prod(weight.shape[2:]),
                                    math.prod(out.shape[2:])))  # fmt: skip
    del held
    if backend == _Backend.Mkldnn and plain:
        torch.empty_like(out)  # the blocked output reordered into the plain one
    return out


def _backend_layout(backend: torch._C._ConvBackend, input: torch.Tensor, weight: torch.Tensor) -> torch.memory_format:
    """The memory format the kernel works in (ATen's `_determine_backend_memory_format`): channels-last for oneDNN and
    the native 2-D kernel when the input or the weight is, else contiguous."""
    native_2d = backend == _Backend.Slow2d and input.dim() == 4
    if (backend == _Backend.Mkldnn or native_2d) and (_channels_last(input) or _channels_last(weight)):
        return _CHANNELS_LAST[input.dim()]
    return torch.contiguous_format


def cpu_group_norm(func, input, *args, **kwargs):
    """`func` (F.group_norm) on meta tensors, with the CPU kernel's contiguous copy of an input in no layout."""
    copy = None if input.is_contiguous() or _channels_last(input) else torch.empty_like(input)
    out = func(input, *args, **kwargs)
    del copy
    return out


def cpu_interpolate(func, input, *args, **kwargs):
    """`func` (F.interpolate) on meta tensors, with the channels-last copies of nearest 2-D upsampling."""
    out = func(input, *args, **kwargs)
    mode = _INTERPOLATE.bind(input, *args, **kwargs).arguments.get("mode", "nearest")
    if mode == "nearest" and input.dim() == 4 and not _channels_last(input):
        if out.shape[-2] + out.shape[-1] <= 128:
            copies = [torch.empty_like(input), torch.empty_like(out)]
            del copies
    return out


def cpu_attention_blocks(q: torch.Tensor, k: torch.Tensor) -> list[torch.Tensor]:
    """The per-thread blocks of the CPU flash kernel for queries `q` and keys `k` (`[..., tokens, head_dim]`)."""
    queries, keys, head_dim = q.shape[-2], k.shape[-2], q.shape[-1]
    q_split = min(queries, 256 if queries >= 768 else 64 if queries >= 192 else 32)
    kv_split = min(keys, _KV_SPLIT)
    threads = torch.get_num_threads()
    accumulate = torch.promote_types(q.dtype, torch.float32)
    blocks = [q.new_empty(threads, q_split * kv_split + 2 * q_split + q_split * head_dim, dtype=accumulate)]
    if accumulate != q.dtype:
        blocks.append(q.new_empty(threads, q_split, kv_split))
    return blocks


CPU_KERNELS = {F.conv1d: cpu_convolution, F.conv2d: cpu_convolution, F.conv3d: cpu_convolution,
               F.group_norm: cpu_group_norm, F.interpolate: cpu_interpolate}  # fmt: skip


def _stand_in(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """A CPU tensor of `tensor`'s sizes and dtype over one element."""
    return None if tensor is None else torch.empty((), dtype=tensor.dtype).expand(tensor.shape)


def _channels_last(tensor: torch.Tensor) -> bool:
    """Whether ATen takes `tensor` as channels-last (a contiguous one, e.g. a 1x1 kernel, it does not)."""
    layout = _CHANNELS_LAST.get(tensor.dim())
    return layout is not None and not tensor.is_contiguous() and tensor.is_contiguous(memory_format=layout)
