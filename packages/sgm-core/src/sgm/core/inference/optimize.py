"""One step that makes a loaded model fast for inference on its device, the same outputs up to float rounding."""

import torch
from torch import nn

from sgm.core.inference.kept_context import keep_context_projections
from sgm.kernels import pack_weights


def optimize_for_inference(engine: nn.Module, device: torch.device | str) -> nn.Module:
    """Prepare a DiffusionEngine (or a bare network) for sampling on `device`; returns it, in eval mode.

    Everywhere: cross-attention layers keep the text's keys and values across the steps of a sampling run
    (`sgm.core.inference.constant_context`). On the CPU, in fp32: the network's and the first stage's convolutions
    and linear layers hold their weights in oneDNN's blocked layout (`sgm.kernels.pack_weights`: no per-call
    weight reorder), and a network whose convolutions are all 2-D runs channels-last (oneDNN's native layout).
    """
    network = getattr(engine, "model", engine)
    keep_context_projections(network)
    if torch.device(device).type == "cpu":
        run_channels_last(network)
        for module in (network, getattr(engine, "first_stage_model", None)):
            if module is not None:
                pack_weights(module)
    return engine.eval()


def run_channels_last(network: nn.Module) -> bool:
    """Give a network whose convolutions are all 2-D channels-last weights and, in inference calls on the CPU, a
    channels-last input, so no layout conversion runs per call; `state_dict()` still saves contiguous tensors.
    Returns whether it applied (the video networks' 3-D convolutions keep their layout)."""
    convs = [m for m in network.modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)]
    if not convs or any(type(conv) is not nn.Conv2d for conv in convs):
        return False
    for conv in convs:
        conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)
    network.register_forward_pre_hook(_channels_last_input, with_kwargs=True)
    network.register_state_dict_post_hook(_contiguous_state)
    return True


def _channels_last_input(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or x.device.type != "cpu" or x.ndim != 4 or torch.is_grad_enabled():
        return None
    return (x.contiguous(memory_format=torch.channels_last), *args[1:]), kwargs


def _contiguous_state(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """State-dict hook: channels-last weights are saved contiguous (safetensors accepts nothing else)."""
    for key, value in state_dict.items():
        if key.startswith(prefix) and isinstance(value, torch.Tensor) and not value.is_contiguous():
            state_dict[key] = value.contiguous()
