"""Exponential moving average of a network's trainable weights, kept as buffers so checkpoints carry it.

Buffer names are the reference's (`LitEma`): each parameter name with its dots removed, plus `decay` and
`num_updates`, so a Lightning checkpoint holds `model_ema.diffusion_modelinput_blocks00weight` etc. Official
inference files never contain these; `sgm.train.export` writes the averaged weights under the network's own keys.
"""

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn


def shadow_name(parameter_name: str) -> str:
    """The buffer name of a parameter's average (buffer names cannot contain dots)."""
    return parameter_name.replace(".", "")


class LitEma(nn.Module):
    """theta_ema <- theta_ema - (1 - d) (theta_ema - theta), with d = min(decay, (1 + k) / (10 + k)) after the k-th
    update when `use_num_updates` (a warm-up that lets early averages follow the weights), else d = decay."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, use_num_updates: bool = True):
        super().__init__()
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be between 0 and 1, got {decay}")
        self.register_buffer("decay", torch.tensor(decay, dtype=torch.float32))
        self.register_buffer("num_updates", torch.tensor(0 if use_num_updates else -1, dtype=torch.int))
        self.m_name2s_name: dict[str, str] = {}
        for name, param in model.named_parameters():
            if param.requires_grad:
                self.m_name2s_name[name] = shadow_name(name)
                self.register_buffer(shadow_name(name), param.detach().clone())
        self.collected_params: list[torch.Tensor] = []

    def _trainable(self, model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
        for name, param in model.named_parameters():
            if param.requires_grad:
                if name not in self.m_name2s_name:
                    raise KeyError(f"parameter {name!r} has no EMA (it was frozen when the EMA was created)")
                yield name, param

    def current_decay(self) -> torch.Tensor:
        """The decay the next update uses (after counting it)."""
        if self.num_updates < 0:
            return self.decay
        k = self.num_updates + 1
        return torch.minimum(self.decay, (1.0 + k) / (10.0 + k))

    @torch.no_grad()
    def forward(self, model: nn.Module) -> None:
        """One EMA update towards `model`'s current weights."""
        decay = self.current_decay()
        if self.num_updates >= 0:
            self.num_updates += 1
        one_minus_decay = 1.0 - decay
        buffers = dict(self.named_buffers())
        for name, param in self._trainable(model):
            shadow = buffers[self.m_name2s_name[name]]
            if shadow.dtype != param.dtype:  # e.g. after a precision plugin cast the network
                shadow.data = shadow.data.to(param.dtype)
            shadow.sub_(one_minus_decay.to(param.dtype) * (shadow - param))

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite `model`'s trainable weights with their averages."""
        buffers = dict(self.named_buffers())
        for name, param in self._trainable(model):
            param.copy_(buffers[self.m_name2s_name[name]])

    def store(self, parameters: Iterable[torch.Tensor]) -> None:
        """Keep a copy of `parameters` for `restore`."""
        self.collected_params = [param.detach().clone() for param in parameters]

    @torch.no_grad()
    def restore(self, parameters: Iterable[torch.Tensor]) -> None:
        """Put back the weights saved by `store`."""
        for stored, param in zip(self.collected_params, parameters, strict=True):
            param.copy_(stored)
        self.collected_params = []

    @contextlib.contextmanager
    def average_weights(self, model: nn.Module) -> Iterator[None]:
        """Run the block with `model` holding the averaged weights, then put the training weights back."""
        self.store(model.parameters())
        self.copy_to(model)
        try:
            yield
        finally:
            self.restore(model.parameters())
