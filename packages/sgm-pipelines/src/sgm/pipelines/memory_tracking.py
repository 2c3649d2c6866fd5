"""Counting the bytes of live tensors while real modules run, on real or shape-only (meta) tensors.

`LiveTensorBytes` sees every aten op's outputs (a TorchDispatchMode, the mechanism torch's own
`torch.distributed._tools.mem_tracker` uses) and counts each new storage once until Python frees it, so a forward
pass on the meta device gives the same live-bytes curve as the same pass on real tensors, without any memory or
compute. An output that shares a storage with an input (a view, an in-place op) adds nothing, so the weights and
the other tensors made before the block are never counted.

`device_kernels(target)` stands in for the ops whose memory differs between the meta device and the device a plan
is for: `scaled_dot_product_attention`, which on the meta device decomposes into the textbook formula (a tokens x
tokens score matrix) while CUDA, the CPU and the Triton kernel run a fused kernel that keeps only its output and one
log-sum-exp per query row (FlashAttention, Dao et al. 2022), also where `nn.MultiheadAttention` calls it; linear
layers on strided inputs, whose bias ATen would add out of place under the tracker; and, on the CPU, the ops whose
kernels allocate more than their outputs (`cpu_kernels`: convolutions' layout reorders and im2col columns, group
norm's and upsampling's copies, the attention kernel's per-thread blocks).
"""

import types
import weakref

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from sgm.pipelines.cpu_kernels import CPU_KERNELS, cpu_attention_blocks


class LiveTensorBytes(TorchDispatchMode):
    """Inside the block, `live` is the bytes of the storages on devices of type `device_type` created since entering
    that are still referenced, and `peak` the most there were at once. Host tensors a pass makes and then moves to
    the device (token ids, masks) are counted there, once. `host_is_device` (a plan for the CPU, where the host is
    the device): host tensors count too, and moving one to the device makes no copy, as `.to("cpu")` returns the
    tensor itself: the moved copy counts nothing and keeps the host tensor alive while it lives."""

    def __init__(self, device_type: str = "meta", host_is_device: bool = False):
        super().__init__()
        self.counted = {device_type, "cpu"} if host_is_device else {device_type}
        self.host_is_device = host_is_device
        self.live = 0
        self.peak = 0
        self._storages: dict[int, weakref.ref] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.host_is_device and func is torch.ops.aten._to_copy.default and args[0].device.type == "cpu" and (
                out.dtype == args[0].dtype):  # fmt: skip
            weakref.finalize(out.untyped_storage(), _keep, args[0])
            return out
        inputs = {_key(value) for value in tree_flatten((args, kwargs))[0] if isinstance(value, torch.Tensor)}
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor) and value.device.type in self.counted and _key(value) not in inputs:
                self._count(value.untyped_storage())
        self.peak = max(self.peak, self.live)
        return out

    def _count(self, storage: torch.UntypedStorage) -> None:
        key = storage._cdata
        known = self._storages.get(key)
        if known is not None and known() is not None:
            return
        size = storage.nbytes()
        self.live += size
        self._storages[key] = weakref.ref(storage, lambda _, key=key, size=size: self._free(key, size))

    def _free(self, key: int, size: int) -> None:
        self.live -= size
        self._storages.pop(key, None)


def _keep(tensor: torch.Tensor) -> None:
    """Nothing: a finalizer holding `tensor` until the object it watches is gone."""


def _key(tensor: torch.Tensor) -> int:
    """The identity of a tensor's storage (its C++ object; Python storage wrappers may be rebuilt)."""
    return tensor.untyped_storage()._cdata


def _fused_attention(target: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """What a fused kernel allocates: its output and, while it runs, fp32 log-sum-exps `[..., tokens]` (and on the
    CPU its per-thread blocks)."""
    held = [torch.empty(q.shape[:-1], dtype=torch.float32, device=q.device)]
    if target == "cpu":
        held += cpu_attention_blocks(q, k)
        if v.shape[-1] == q.shape[-1]:
            return torch.empty_like(q)  # the CPU kernel's output takes the query's strides
    return q.new_empty((*q.shape[:-1], v.shape[-1]))


def _linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear as ATen runs it outside a dispatch mode: a strided input of more than 2 dimensions goes through
    matmul and then adds the bias in place, where the tracker's mode (a "subclass-like" context for ATen's composite
    ops) would make it add out of place, a second output."""
    if bias is None or input.dim() == 2 or input.is_contiguous():
        return F.linear(input, weight, bias)
    return F.linear(input, weight).add_(bias)


def _with_inner_calls(func):
    """A copy of `func`, a Python function that hands its calls to the torch-function mode, that skips that check.
    A mode's handler runs with the mode popped, so it never sees the calls inside such a function; the handler runs
    the copy with the mode kept instead (nn.MultiheadAttention's SDPA inside `F.multi_head_attention_forward`)."""
    checks = dict.fromkeys(("has_torch_function", "has_torch_function_unary", "has_torch_function_variadic"),
                           lambda *_: False)  # fmt: skip
    shadow = types.FunctionType(func.__code__, func.__globals__ | checks, func.__name__, func.__defaults__,
                                func.__closure__)  # fmt: skip
    shadow.__kwdefaults__ = func.__kwdefaults__
    return shadow


_SEEN_INSIDE = {F.multi_head_attention_forward: _with_inner_calls(F.multi_head_attention_forward)}


class device_kernels(TorchFunctionMode):
    """Inside the block, ops on meta tensors allocate what their kernels on a `target` device ("cuda", "cpu")
    would: a fused kernel's attention (also inside `F.multi_head_attention_forward`), linear layers' in-place bias,
    and on the CPU what `cpu_kernels` models."""

    def __init__(self, target: str = "cuda"):
        super().__init__()
        self.target = target

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        on_meta = bool(args) and isinstance(args[0], torch.Tensor) and args[0].device.type == "meta"
        if on_meta and func is F.scaled_dot_product_attention:
            return _fused_attention(self.target, *args, **kwargs)
        if on_meta and self.target == "cpu" and func in CPU_KERNELS:
            return CPU_KERNELS[func](func, *args, **kwargs)
        if on_meta and func is F.linear:
            return _linear(*args, **kwargs)
        if on_meta and func in _SEEN_INSIDE:
            with self:
                return _SEEN_INSIDE[func](*args, **kwargs)
        return func(*args, **kwargs)


def tensor_bytes(module: torch.nn.Module | None) -> int:
    """The bytes of a module's parameters and buffers (each storage once)."""
    if module is None:
        return 0
    tensors = [*module.parameters(), *module.buffers()]
    return sum({_key(t): t.untyped_storage().nbytes() for t in tensors}.values())
