"""The text and image encoders' LayerNorms computed through `sgm.kernels.layer_norm`: in at least fp32 whatever the
weights' dtype (fp64 stays fp64), and switched with every other kernel by `SGM_ATTENTION_BACKEND` / `--attention`."""

from sgm.kernels import layer_norm
from torch import nn


class KernelLayerNorm(nn.LayerNorm):
    """`nn.LayerNorm` over the last dimension, computed by `sgm.kernels.layer_norm`, the result in the input's dtype."""

    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps)


def use_kernel_layer_norms(module: nn.Module) -> nn.Module:
    """Makes every LayerNorm of `module` over one dimension (torch's, or a library's subclass that only casts) a
    `KernelLayerNorm`, in place: same parameters and state-dict keys, nothing allocated. Returns `module`."""
    for submodule in module.modules():
        if isinstance(submodule, nn.LayerNorm) and len(submodule.normalized_shape) == 1:
            submodule.__class__ = KernelLayerNorm
    return module
