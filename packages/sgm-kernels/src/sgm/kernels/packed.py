"""Convolutions and linear layers whose weights stay in oneDNN's blocked layout, for fp32 inference on the CPU.

A plain `nn.Conv2d` on the CPU hands oneDNN a weight in torch's layout, and oneDNN reorders it into the blocked
layout its kernel wants on every call: for a small feature map with many channels that reorder costs more than
the convolution (a 4 x 4 map with 1024 -> 512 channels: 9.6 ms plain, 2.6 ms packed on a 2-core EPYC). A plain
`nn.Linear` runs MKL's GEMM, which on that machine reaches 80-100 GFLOP/s where oneDNN's, with its weight blocked
once, reaches 90-140 on the UNet's large layers. The packed modules keep the blocked weight instead of the plain
one (no second copy). Inference only: no autograd, CPU, fp32; results equal the plain modules' up to float rounding.
"""

import abc

import torch
import torch.nn as nn


def _onednn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


def can_pack(module: nn.Module) -> bool:
    """Whether `module` is a plain CPU fp32 `nn.Linear`, or `nn.Conv2d` with numeric zero padding, and this torch
    has oneDNN. Subclasses are left alone: they may do more in their forward."""
    if type(module) not in (nn.Conv2d, nn.Linear) or not _onednn_available():
        return False
    if module.weight.device.type != "cpu" or module.weight.dtype != torch.float32:
        return False
    return type(module) is nn.Linear or (module.padding_mode == "zeros" and not isinstance(module.padding, str))


class _Packed(nn.Module, abc.ABC):
    """What the packed modules share: the weight held blocked for the last input's shape, re-blocked when the
    shape changes (oneDNN picks its kernel, and the layout with it, per shape; a weight blocked for another shape
    is reordered again on every call), and state dicts that see the plain `weight` and `bias`."""

    def __init__(self, module: nn.Module):
        super().__init__()
        if not can_pack(module):
            raise ValueError(f"{type(self).__name__} takes a CPU fp32 {type(module).__name__}, got {module}")
        self.bias = module.bias
        self.weight_shape = tuple(module.weight.shape)
        self._set_weight(module.weight)

    def _set_weight(self, weight: torch.Tensor) -> None:
        self._blocked = weight.detach().to(torch.float32).contiguous().to_mkldnn()
        self._blocked_for: tuple | None = None

    @abc.abstractmethod
    def _reblock(self, layout: tuple) -> torch.Tensor:
        """The weight blocked for inputs of `layout` (what `forward` passes to `_prepare`), for this module's kernel."""

    @property
    def weight(self) -> torch.Tensor:
        """The weight in torch's plain layout (a copy: the module keeps only the blocked one)."""
        return self._blocked.to_dense()

    def _prepare(self, x: torch.Tensor, layout: tuple) -> None:
        """Refuses inputs the blocked weight cannot serve; re-blocks it when the input's `layout` changed."""
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32:
            raise RuntimeError(
                f"{type(self).__name__} runs fp32 CPU inference only (under torch.no_grad()); for training or "
                "another device or dtype, call sgm.kernels.unpack_weights(model) first"
            )
        if self._blocked_for != layout:
            self._blocked = self._reblock(layout)
            self._blocked_for = layout

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        destination[prefix + "weight"] = self.weight
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        weight = state_dict.get(prefix + "weight")
        if weight is None:
            missing.append(prefix + "weight")
        elif tuple(weight.shape) != self.weight_shape:
            errors.append(
                f"size mismatch for {prefix}weight: {tuple(weight.shape)} in the checkpoint, {self.weight_shape} here"
            )
        else:
            self._set_weight(weight)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, unexpected, errors)
        if prefix + "weight" in unexpected:
            unexpected.remove(prefix + "weight")

    def extra_repr(self) -> str:
        return f"weight {self.weight_shape}, blocked for {self._blocked_for or 'no input yet'}"


class PackedConv2d(_Packed):
    """Stands in for an fp32 CPU `nn.Conv2d` in inference: the same outputs, the weight in oneDNN's layout."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__(conv)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups

    def _reblock(self, layout: tuple) -> torch.Tensor:
        shape, _channels_last = layout
        return torch._C._nn.mkldnn_reorder_conv2d_weight(
            self._blocked, self.padding, self.stride, self.dilation, self.groups, list(shape)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._prepare(x, (tuple(x.shape), x.is_contiguous(memory_format=torch.channels_last)))
        return torch.ops.mkldnn._convolution_pointwise(
            x, self._blocked, self.bias, self.padding, self.stride, self.dilation, self.groups, "none", [], ""
        )

    def to_plain(self) -> nn.Conv2d:
        """The equivalent `nn.Conv2d` (sharing the bias)."""
        out_channels, in_per_group, *kernel_size = self.weight_shape
        conv = nn.Conv2d(
            in_per_group * self.groups, out_channels, tuple(kernel_size), self.stride, self.padding, self.dilation,
            self.groups, bias=self.bias is not None, device="meta",
        )  # fmt: skip
        conv.weight, conv.bias = nn.Parameter(self.weight), self.bias
        return conv


class PackedLinear(_Packed):
    """Stands in for an fp32 CPU `nn.Linear` in inference: the same outputs up to float rounding (oneDNN's GEMM
    instead of MKL's), the weight in oneDNN's layout for the number of rows the input has."""

    def _reblock(self, layout: tuple) -> torch.Tensor:
        (rows,) = layout
        return torch.ops.mkldnn._reorder_linear_weight(self._blocked.to_dense(), rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._prepare(x, (x.numel() // x.shape[-1],))
        return torch.ops.mkldnn._linear_pointwise(x, self._blocked, self.bias, "none", [], "")

    def to_plain(self) -> nn.Linear:
        """The equivalent `nn.Linear` (sharing the bias)."""
        out_features, in_features = self.weight_shape
        linear = nn.Linear(in_features, out_features, bias=self.bias is not None, device="meta")
        linear.weight, linear.bias = nn.Parameter(self.weight), self.bias
        return linear


def _swap_children(module: nn.Module, convert) -> int:
    swapped = 0
    for name, child in module.named_children():
        replacement = convert(child)
        if replacement is not None:
            setattr(module, name, replacement)
            swapped += 1
        else:
            swapped += _swap_children(child, convert)
    return swapped


def _packed(module: nn.Module) -> _Packed | None:
    if not can_pack(module):
        return None
    return PackedConv2d(module) if type(module) is nn.Conv2d else PackedLinear(module)


def pack_weights(module: nn.Module) -> int:
    """Replaces every packable `nn.Conv2d` and `nn.Linear` inside `module` by its packed module; returns how many."""
    return _swap_children(module, _packed)


def unpack_weights(module: nn.Module) -> int:
    """Turns every packed module inside `module` back into `nn.Conv2d` / `nn.Linear`; returns how many."""
    return _swap_children(module, lambda child: child.to_plain() if isinstance(child, _Packed) else None)
