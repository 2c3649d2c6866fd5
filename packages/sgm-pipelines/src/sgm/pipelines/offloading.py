"""Keeping weights off the accelerator except while they run, the same way for every model (`--offload`).

A DiffusionEngine has three components: the conditioner (text / image encoders), the network and the first stage
(the VAE). `offload="model"` keeps each on the host until one of its modules is called, and sends the previous one
back first, so only the running component's weights take device memory. `"sequential"` does the same for the
conditioner and the VAE and streams the network block by block (each top-level block of the UNet on the device
only for its own forward). `"none"` keeps everything on the device. The pipelines need no change: forward hooks
move the weights, and the engine keeps reporting the execution device as its `device`.
"""

from collections.abc import Iterator

import torch
from torch import nn

OFFLOAD_MODES = ("none", "model", "sequential")
HOME = torch.device("cpu")


def streamed_blocks(network: nn.Module) -> list[nn.Module]:
    """The units `"sequential"` streams: each entry of the UNet's block lists (input, output blocks) and each other
    top-level module (time and label embeddings, middle block, output layer)."""
    unet = getattr(network, "diffusion_model", network)
    blocks: list[nn.Module] = []
    for child in unet.children():
        blocks.extend(child if isinstance(child, nn.ModuleList) else [child])
    return blocks


def components(engine: nn.Module) -> dict[str, nn.Module]:
    return {"conditioner": engine.conditioner, "network": engine.model, "first_stage": engine.first_stage_model}


class Offloader:
    """Moves `engine`'s components between `device` and the host as they run, per `mode`. `placements` records,
    for every call of a component's modules, `(component, device of its weights)` as the call starts (tests and
    the GPU check read it). Use as a context manager around one run: on exit every component is back home and
    the hooks are gone."""

    def __init__(self, engine: nn.Module, device: torch.device | str, mode: str):
        if mode not in OFFLOAD_MODES:
            raise ValueError(f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {mode!r}")
        self.engine, self.device, self.mode = engine, torch.device(device), mode
        self.placements: list[tuple[str, torch.device]] = []
        self._active: str | None = None
        self._hooks: list = []
        self._class = type(engine)

    def __enter__(self) -> "Offloader":
        if self.mode == "none":
            self.engine.to(self.device)
            return self
        for name, component in components(self.engine).items():
            component.to(HOME)
            streamed = self.mode == "sequential" and name == "network"
            for module in streamed_blocks(component) if streamed else _entry_modules(component):
                self._hooks.append(module.register_forward_pre_hook(self._before(name, module, streamed)))
                if streamed:
                    self._hooks.append(module.register_forward_hook(self._after_block(module)))
        self.engine.denoiser.to(self.device)
        _report_device(self.engine, self.device)
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        if self.mode != "none":
            self.engine.__class__ = self._class
            for component in components(self.engine).values():
                component.to(HOME)
            _empty_cache(self.device)
        self._active = None

    def _before(self, name: str, module: nn.Module, streamed: bool):
        def hook(_module: nn.Module, args: tuple) -> None:
            if streamed:
                module.to(self.device)
            elif self._active != name:
                if self._active is not None:
                    components(self.engine)[self._active].to(HOME)
                    _empty_cache(self.device)
                components(self.engine)[name].to(self.device)
                self._active = name
            self.placements.append((name, _weights_device(module)))

        return hook

    def _after_block(self, module: nn.Module):
        def hook(_module: nn.Module, args: tuple, output) -> None:
            module.to(HOME)

        return hook


def _entry_modules(component: nn.Module) -> Iterator[nn.Module]:
    """The component and its direct children: the pipelines call a VAE through `encode` / `decode`, which reach
    its children (encoder, decoder, quant convs) without the component's own forward."""
    yield component
    yield from component.children()


def _weights_device(module: nn.Module) -> torch.device:
    return next((p.device for p in module.parameters()), HOME)


def _empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _report_device(engine: nn.Module, device: torch.device) -> None:
    """The engine's `device` (where the pipelines put their inputs) is the execution device while weights move:
    the engine's class is swapped for a subclass that says so, until the offloader's exit restores it."""
    engine.__class__ = type(type(engine).__name__, (type(engine),), {"device": property(lambda self: device)})


def place(pipeline, device: torch.device | str, mode: str) -> Offloader:
    """Give `pipeline` (and the pipeline it takes reference views from, if any) an entered `Offloader` for `mode`,
    replacing the one it had; it stays in effect until the next `place`."""
    previous = getattr(pipeline, "offloader", None)
    if previous is not None:
        previous.__exit__(None, None, None)
    pipeline.offloader = Offloader(pipeline.engine, device, mode).__enter__()
    companion = getattr(pipeline, "reference_views", None)
    if companion is not None:
        place(companion, device, mode)
    return pipeline.offloader
