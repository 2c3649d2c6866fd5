"""2-D convolutions whose weights stay in oneDNN's blocked layout, for fp32 inference on the CPU.

A plain `nn.Conv2d` on the CPU hands oneDNN a weight in torch's layout, and oneDNN reorders it into the blocked
layout its kernel wants on every call: for a small feature map with many channels that reorder costs more than
the convolution (a 4 x 4 map with 1024 -> 512 channels: 9.6 ms plain, 2.6 ms packed on a 2-core EPYC).
`PackedConv2d` keeps the weight in that blocked layout instead of the plain one (no second copy), so only the
arithmetic is left; the results are the same numbers. It is inference only: no autograd, CPU, fp32.
"""

import torch
import torch.nn as nn


def can_pack(conv: nn.Module) -> bool:
    """Whether `conv` is a plain CPU fp32 `nn.Conv2d` with numeric zero padding, and this torch has oneDNN."""
    return (
        type(conv) is nn.Conv2d
        and conv.weight.device.type == "cpu"
        and conv.weight.dtype == torch.float32
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    )


class PackedConv2d(nn.Module):
    """Stands in for an fp32 CPU `nn.Conv2d` in inference: the same outputs, the weight in oneDNN's layout.

    The blocked layout is chosen for one input shape (the kernel oneDNN picks depends on it; a weight blocked for
    another shape is reordered again on every call), so the weight is re-blocked when the input's shape or memory
    format changes: once per image size in a sampling run. `state_dict()` / `load_state_dict()` see the plain `weight` and `bias`
    of the convolution it replaced, so checkpoints are unchanged. `unpack_conv2d` turns it back into `nn.Conv2d`.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not can_pack(conv):
            raise ValueError(f"PackedConv2d takes a CPU fp32 nn.Conv2d with numeric padding, got {conv}")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups
        self.bias = conv.bias
        self._set_weight(conv.weight)

    def _set_weight(self, weight: torch.Tensor) -> None:
        self._blocked = weight.detach().to(torch.float32).contiguous().to_mkldnn()
        self._blocked_for: tuple | None = None  # (input shape, channels-last) the layout was chosen for

    @property
    def weight(self) -> torch.Tensor:
        """The weight in torch's plain layout (a copy: the module keeps only the blocked one)."""
        return self._blocked.to_dense()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32:
            raise RuntimeError(
                "PackedConv2d runs fp32 CPU inference only (under torch.no_grad()); for training or another "
                "device or dtype, call sgm.kernels.unpack_conv2d(model) first"
            )
        layout = (tuple(x.shape), x.is_contiguous(memory_format=torch.channels_last))
        if self._blocked_for != layout:
            self._blocked = torch._C._nn.mkldnn_reorder_conv2d_weight(
                self._blocked, self.padding, self.stride, self.dilation, self.groups, list(x.shape)
            )
            self._blocked_for = layout
        return torch.ops.mkldnn._convolution_pointwise(
            x, self._blocked, self.bias, self.padding, self.stride, self.dilation, self.groups, "none", [], ""
        )

    def to_conv2d(self) -> nn.Conv2d:
        """The equivalent plain `nn.Conv2d` (sharing the bias)."""
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.dilation,
            self.groups, bias=self.bias is not None, device="meta",
        )  # fmt: skip
        conv.weight = nn.Parameter(self.weight)
        conv.bias = self.bias
        return conv

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        destination[prefix + "weight"] = self.weight
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        weight = state_dict.get(prefix + "weight")
        expected = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        if weight is None:
            missing.append(prefix + "weight")
        elif tuple(weight.shape) != expected:
            errors.append(f"size mismatch for {prefix}weight: {tuple(weight.shape)} in the checkpoint, {expected} here")
        else:
            self._set_weight(weight)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, unexpected, errors)
        if prefix + "weight" in unexpected:
            unexpected.remove(prefix + "weight")

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, blocked for {self._blocked_for[0] if self._blocked_for else 'no input yet'}"
        )


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


def pack_conv2d(module: nn.Module) -> int:
    """Replaces every packable `nn.Conv2d` inside `module` by a `PackedConv2d`; returns how many."""
    return _swap_children(module, lambda child: PackedConv2d(child) if can_pack(child) else None)


def unpack_conv2d(module: nn.Module) -> int:
    """Turns every `PackedConv2d` inside `module` back into `nn.Conv2d`; returns how many."""
    return _swap_children(module, lambda child: child.to_conv2d() if isinstance(child, PackedConv2d) else None)
