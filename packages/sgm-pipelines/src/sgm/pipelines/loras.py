"""LoRAs in the pipelines: found (a path, or a file name in the LoRA folder), checked against the checkpoint before
anything loads, and applied to a loaded model per request with `sgm.core.lora`.

Two ways, chosen per request:
- side layers (the default): the LoRAs sit beside the weights, so the next request changes their weights, swaps
  them or drops them without reloading the model (`PipelineLoras`); each changed layer adds its update whenever it
  runs, which costs a little time per step;
- merged (`Request.lora_merge`, `--lora-merge`): added into the weights once, when the model loads, as fast as the
  model alone; the pipeline cache knows such a model by its merged files and weights, so a request with other LoRAs
  (or none) loads it anew.

On the CPU in fp32 the network's weights are packed for oneDNN (`sgm.kernels.pack_weights`), which LoRAs cannot
change: merging unpacks the network, merges and packs it again; side layers unpack it while they are attached and
pack it again once they are removed. The first stage, which no LoRA changes, stays packed. Weights are changed only
between sampling runs, never inside one, so the cross-attention keys and values that `constant_context` keeps
during a run never mix LoRA weights (it drops them when the run ends); `PipelineCache` lets a request change a
pipeline's LoRAs only while no other request samples with it.
"""

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from sgm.core.checkpoint import read_layout
from sgm.core.errors import SgmError
from sgm.core.lora import MERGE, SIDE, AppliedLoras, apply_loras, describe_lora, is_lora_file, lora_slots, read_lora
from sgm.kernels import pack_weights, unpack_weights
from sgm.pipelines.catalog import catalog_layouts

LORA_DIR_ENV = "SGM_LORA_DIR"
DEFAULT_LORA_DIR = "loras"
Loras = tuple[tuple[Path, float], ...]
log = logging.getLogger("sgm.pipelines")


def lora_dir() -> Path:
    """Where LoRA files are looked up by name: `$SGM_LORA_DIR`, else `./loras` in the working directory."""
    return Path(os.environ.get(LORA_DIR_ENV) or DEFAULT_LORA_DIR)


def lora_files() -> list[str]:
    """The `.safetensors` file names in the LoRA folder, sorted (what a picker offers)."""
    folder = lora_dir()
    return sorted(path.name for path in folder.glob("*.safetensors") if path.is_file()) if folder.is_dir() else []


def find_lora(path: str | Path) -> Path:
    """The LoRA file `path` names: the path itself, else a file of that name in the LoRA folder."""
    path = Path(path)
    if path.is_file():
        return path
    in_folder = lora_dir() / path
    if not path.is_absolute() and in_folder.is_file():
        return in_folder
    raise SgmError(f"LoRA file not found: {path} (nor in the LoRA folder {lora_dir().resolve()}; set {LORA_DIR_ENV} "
                   "to another folder)")  # fmt: skip


def check_loras(model: str, ckpt: Path, loras: Sequence, *, allow_pickle: bool = False) -> Loras:
    """`loras` (`(file, weight)` pairs) found and checked against checkpoint `ckpt` of `model`: each a LoRA
    safetensors file whose layers fit the model's weights. Keys that match nothing are logged by name and count; a
    file that fits nothing is an SgmError naming the models it fits. Returns the pairs with the files found."""
    checked = []
    layout = None
    for spec in loras:
        path, weight = spec
        path = find_lora(path)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            raise SgmError(f"LoRA {path.name}: its weight must be a finite number, got {weight!r}")
        if path.suffix.lower() != ".safetensors":
            raise SgmError(f"{path}: LoRAs are read as .safetensors files only (convert a .ckpt/.pt LoRA first)")
        if not is_lora_file(path):
            raise SgmError(f"{path} is not a LoRA (no lora_down/lora_up or lora_A/lora_B keys); `sgm inspect` "
                           "tells what it is")  # fmt: skip
        if layout is None:
            layout = read_layout(ckpt, allow_pickle=allow_pickle)  # the file's header: the model as it will load
        fit = describe_lora(path, {model: layout}).candidates[0]
        if not fit.fits:
            raise SgmError(_misfit(path, model, fit.mismatched))
        unmatched = unmatched_keys(path, {key: shape for key, (shape, _) in layout.items()})
        if unmatched:
            shown = ", ".join(unmatched[:5]) + (", ..." if len(unmatched) > 5 else "")
            log.warning(f"{path.name}: {len(unmatched)} keys match nothing in {model} and are left out: {shown}")
        checked.append((path, float(weight)))
    return tuple(checked)


def unmatched_keys(path: Path, shapes: dict[str, list[int]]) -> list[str]:
    """The LoRA's keys that change no weight of a model of `shapes` (what `apply_loras` reports as unmatched)."""
    contents = read_lora(path, str(path), shapes_only=True)
    slots = lora_slots(shapes)
    missing = (key for layer in contents.layers if layer.name not in slots for key in layer.keys)
    return sorted([*contents.unsupported, *missing])


def _misfit(path: Path, model: str, mismatched: list[str]) -> str:
    reason = (f"{len(mismatched)} of its layers have other shapes ({', '.join(mismatched[:3])})" if mismatched
              else "none of its layers names a weight of the model")  # fmt: skip
    others = [name for name in describe_lora(path, catalog_layouts()[0]).models if name != model]
    fits = f"it fits {', '.join(others)}" if others else "it fits none of the catalog's models"
    return f"{path} is not a LoRA for {model}: {reason}; {fits}"


def recorded_loras(loras: Loras) -> list[str]:
    """The LoRAs as results record them: `name:weight`, each file by its name (as `--lora` and the LoRA folder
    take it back)."""
    return [f"{Path(path).name}:{weight!r}" for path, weight in loras]


def file_identity(loras: Loras, *, with_weights: bool) -> tuple:
    """What tells LoRA files apart between requests: each file's resolved path, time and size (a replaced file is
    another), and their weights when asked."""
    identity = []
    for path, weight in loras:
        stat = Path(path).stat()
        weights = [weight] if with_weights else []
        identity.append((str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, *weights))
    return tuple(identity)


def _lora_targets(engine: nn.Module) -> nn.Module:
    """The engine's parts that LoRAs change, the network and the text encoders, under their official key prefixes
    (`model.diffusion_model.`, `conditioner.embedders.`); the first stage stays out, and with it its packed weights."""
    targets = nn.Module()
    targets.model = engine.model
    targets.conditioner = engine.conditioner
    return targets


def merge_loras(engine: nn.Module, loras: Loras) -> AppliedLoras:
    """`loras` merged into a loaded engine's weights (unpacked and packed again where they were packed)."""
    packed = unpack_weights(engine.model)
    try:
        return _apply(engine, loras, MERGE)
    finally:
        if packed:
            pack_weights(engine.model)


def _apply(engine: nn.Module, loras: Loras, mode: str) -> AppliedLoras:
    applied = apply_loras(_lora_targets(engine), list(loras), mode=mode)
    for line in applied.summary():
        log.info(line)
    return applied


class PipelineLoras:
    """The side LoRAs of one loaded engine, set per request: the same files with other weights change only the
    weights; other files replace them; none removes them, leaving the engine as it loaded."""

    def __init__(self, engine: nn.Module):
        self.engine = engine
        self.loras: Loras = ()
        self._files: tuple = ()
        self._applied: AppliedLoras | None = None
        self._repack = False  # the network was packed before the side layers were attached

    def serves(self, loras: Loras) -> bool:
        """Whether the engine carries exactly `loras` now (the same files, unchanged, with the same weights)."""
        return self.loras == tuple(loras) and self._files == file_identity(loras, with_weights=False)

    def use(self, loras: Loras) -> None:
        loras = tuple(loras)
        files = file_identity(loras, with_weights=False)
        if self._applied is not None and files == self._files:
            self._applied.set_weights([weight for _, weight in loras])
        else:
            if self._applied is not None:
                self._applied.remove()
                self._applied = None
            if loras:
                self._repack |= unpack_weights(self.engine.model) > 0
                self._applied = _apply(self.engine, loras, SIDE)
            elif self._repack:
                pack_weights(self.engine.model)
                self._repack = False
        self.loras, self._files = loras, files
