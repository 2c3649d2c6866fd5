"""The models sgm knows: official file names, where to get them, their config, layout and sampling defaults.

Each installed package registers the models it ships through an entry point in the group `sgm.models` (a registry
module with `MODELS`, e.g. `sgm.video.registry`); a model's config and layout are files of that package, and its
defaults are its config's `sampling:` block, read here and nowhere else. A config may `extends:` another config of
the same package: it takes that file's `model:` block and has its own `sampling:` block (the Turbos).
"""

import functools
import gzip
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sgm.core.errors import SgmError
from sgm.pipelines.hf_cache import cached_file, describe_cache

CHECKPOINT_DIR_ENV = "SGM_CHECKPOINT_DIR"
DEFAULT_CHECKPOINT_DIR = "checkpoints"
TASKS = ("txt2img", "img2img", "class2img", "img2video", "img2orbit", "video2views")
VIDEO_TASKS = ("img2video", "img2orbit", "video2views")
ENTRY_POINT_GROUP = "sgm.models"
MODEL_DIR, LAYOUT_DIR = "configs/models", "configs/layouts"


@dataclass(frozen=True)
class Resource:
    """A file shipped inside an installed package, e.g. `Resource("sgm.video", "configs/models/svd.yaml")`."""

    package: str
    path: str

    def open_text(self) -> str:
        try:
            return resources.files(self.package).joinpath(self.path).read_text()
        except (ModuleNotFoundError, FileNotFoundError):
            raise SgmError(f"{self.path} of package {self.package} is not installed") from None

    def location(self) -> str:
        """Where the file is or would be in this install (for messages)."""
        try:
            return str(resources.files(self.package).joinpath(self.path))
        except ModuleNotFoundError:
            return f"{self.path} in package {self.package}"

    def local_path(self) -> Path | None:
        """The file on disk when the package is installed as files (workspace or wheel), else None."""
        try:
            path = Path(str(resources.files(self.package).joinpath(self.path)))
        except ModuleNotFoundError:
            return None
        return path if path.is_file() else None

    def sibling(self, name: str) -> "Resource":
        return Resource(self.package, str(Path(self.path).parent / name))


@dataclass(frozen=True)
class ModelEntry:
    name: str
    files: tuple[str, ...]  # official file names, the usual one first
    source: str  # where users download the file (printed, never fetched)
    config: Resource  # the model's config: `sampling:` (its defaults) and `model:` (a DiffusionEngine)
    layout: str  # name of the checkpoint layout (`configs/layouts/<layout>.json.gz` of the config's package)
    size_multiple: int = 64  # width and height must be multiples of this
    bundled_weights: Resource | None = None  # weights shipped in a package instead of downloaded
    overrides: Mapping[str, Any] = field(default_factory=dict)  # sampling defaults changed (tests' tiny models)

    @property
    def file(self) -> str:
        return self.files[0]

    @property
    def defaults(self) -> Mapping[str, Any]:
        """The model's sampling defaults: its config's `sampling:` block (with `overrides`)."""
        sampling = OmegaConf.to_container(read_config(self.config).sampling, resolve=True)
        return MappingProxyType({**sampling, **self.overrides})

    @property
    def task(self) -> str:
        return self.defaults["task"]

    @property
    def is_video(self) -> bool:
        return self.task in VIDEO_TASKS


def read_config(resource: Resource) -> DictConfig:
    """A model config with its `sampling:` and `model:` blocks; `extends: FILE` takes FILE's `model:` block."""
    config = _parsed(resource)
    if "extends" not in config:
        return config
    base = _parsed(resource.sibling(config.extends))
    return OmegaConf.create({"sampling": config.sampling, "model": base.model})


@functools.lru_cache(maxsize=64)
def _parsed(resource: Resource) -> DictConfig:
    config = OmegaConf.create(resource.open_text())
    if "sampling" not in config or "model" not in config and "extends" not in config:
        raise SgmError(f"{resource.location()}: a model config needs a `sampling:` and a `model:` (or `extends:`)")
    return config


def _entry(package: str, spec: Mapping[str, Any]) -> ModelEntry:
    weights = spec.get("bundled_weights")
    return ModelEntry(
        name=spec["name"], files=tuple(spec["files"]), source=spec["source"],
        config=Resource(package, f"{MODEL_DIR}/{spec['config']}"), layout=spec["layout"],
        size_multiple=spec.get("size_multiple", 64),
        bundled_weights=Resource(package, f"{MODEL_DIR}/{weights}") if weights else None,
    )  # fmt: skip


def _registered_entries() -> dict[str, ModelEntry]:
    entries: dict[str, ModelEntry] = {}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        package = entry_point.value.rpartition(".")[0]  # "sgm.video.registry" -> "sgm.video"
        for spec in entry_point.load().MODELS:
            entries[spec["name"]] = _entry(package, spec)
    return entries


# Image models, then video models, then the embedded toy model; a dict, so tests can register tiny models.
CATALOG: dict[str, ModelEntry] = dict(
    sorted(_registered_entries().items(), key=lambda item: (item[1].bundled_weights is not None, item[1].is_video))
)


def get_entry(name: str) -> ModelEntry:
    """The catalog entry for a model name, spelt in any case and punctuation (`SDXL-Base`, `svd_xt`, `svdxt`); an
    unknown name is an SgmError suggesting the nearest known ones."""
    if name in CATALOG:
        return CATALOG[name]
    from sgm.pipelines.names import closest, normalized

    same = [entry for known, entry in CATALOG.items() if normalized(known) == normalized(str(name))]
    if len(same) == 1:
        return same[0]
    raise SgmError(f"unknown model {name!r}{closest(name, CATALOG)}; `sgm models` lists them all")


def checkpoint_dir() -> Path:
    """Where checkpoints are looked up: `$SGM_CHECKPOINT_DIR`, else `./checkpoints` in the working directory."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV) or DEFAULT_CHECKPOINT_DIR)


def local_checkpoint(name: str) -> Path | None:
    """The model's checkpoint on this machine, or None: bundled, or under an official name in `checkpoint_dir()`,
    else in the Hugging Face cache (its official repo's file, looked up offline)."""
    entry = get_entry(name)
    if entry.bundled_weights is not None:
        return entry.bundled_weights.local_path()
    folder = checkpoint_dir()
    found = next((folder / file for file in entry.files if (folder / file).is_file()), None)
    return found if found is not None else cached_file(entry.source, entry.files)


def find_checkpoint(name: str, path: str | Path | None = None) -> Path:
    """The checkpoint file for `name` (an explicit `path` wins); if absent, an SgmError naming the file, the folder
    searched and where to download it."""
    entry = get_entry(name)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SgmError(f"checkpoint file not found: {path}")
        return path
    found = local_checkpoint(name)
    if found is not None:
        return found
    if entry.bundled_weights is not None:
        raise SgmError(
            f"{name}: its weights {entry.file} are not in this install yet; train them with sgm-train "
            f"(uv run apps/train) and save them as {entry.bundled_weights.location()}"
        )
    raise SgmError(
        f"{name}: checkpoint {entry.file} not found in {checkpoint_dir().resolve()} "
        f"(put it there, or set {CHECKPOINT_DIR_ENV}) nor in the Hugging Face cache {describe_cache()}; "
        f"download it from {entry.source}"
    )


def model_config(name: str) -> DictConfig:
    """The model's `model:` block: a DiffusionEngine (video models' with their `sampler_config`)."""
    return read_config(get_entry(name).config).model


def build_model(name: str, *, device: str | None = "meta"):
    """The model built from its catalog config without initializing its parameters, and without a sampler.

    `device=None`: parameters on the meta device (nothing allocated) and buffers computed on the CPU, ready for
    `load_checkpoint_into` to assign a file's tensors without a second copy. `"meta"`: everything on meta (a
    layout only). Any other device: parameters allocated there with undefined values (fill them from a
    checkpoint) and the computed buffers moved there. Buffers are computed for real because some come from numpy.
    """
    import torch

    from sgm.core.checkpoint.empty import empty_parameters
    from sgm.core.config import instantiate

    config = OmegaConf.to_container(model_config(name), resolve=True)
    config["params"].pop("sampler_config", None)
    config["params"].pop("ckpt_path", None)
    with empty_parameters():
        model = instantiate(config, key_path=f"{name}.model")
    if device is None or device == "meta":
        return model if device is None else model.to("meta")
    buffers = dict(model.named_buffers())  # to_empty replaces them with new tensors
    model.to_empty(device=device)
    with torch.no_grad():
        for key, buffer in buffers.items():
            model.get_buffer(key).copy_(buffer)
    return model


def shipped_layout(name: str) -> dict | None:
    """The model's layout as computed from our meta-built model and shipped beside its config, or None."""
    entry = get_entry(name)
    resource = Resource(entry.config.package, f"{LAYOUT_DIR}/{entry.layout}.json.gz").local_path()
    if resource is None:
        return None
    with gzip.open(resource, "rt") as file:
        return json.load(file)


def expected_layout(name: str) -> dict:
    """`{key: [shape, dtype]}` of the model's checkpoint: the shipped layout, else computed on the meta device."""
    entry = get_entry(name)
    return _layout_cached(entry.layout, name, entry.config)


@functools.cache
def _layout_cached(layout: str, name: str, config: Resource) -> dict:
    """Cached by config too: a test's tiny entry under a catalog name has a layout of its own."""
    from sgm.core.checkpoint.layouts import layout_of

    shipped = shipped_layout(name)
    return shipped if shipped is not None else layout_of(build_model(name, device="meta"))


def catalog_layouts(names=None) -> tuple[dict[str, dict], dict[str, str]]:
    """Layouts of catalog models, and for models whose layout cannot be computed here, why not."""
    layouts, unavailable = {}, {}
    for name in CATALOG if names is None else names:
        try:
            layouts[name] = expected_layout(name)
        except (SgmError, ValueError, ImportError, TypeError, KeyError) as error:  # a model package not installed
            unavailable[name] = str(error).splitlines()[0] if str(error) else type(error).__name__
    return layouts, unavailable


def official_file_names() -> dict[str, tuple[str, ...]]:
    return {name: entry.files for name, entry in CATALOG.items()}


def matching_models(path: str | Path, *, allow_pickle: bool = False) -> list[str]:
    """The catalog models whose layout the checkpoint file fits, those with the file's official name first."""
    from sgm.core.checkpoint import match_models

    layouts, _ = catalog_layouts()
    return match_models(path, layouts, file_names=official_file_names(), allow_pickle=allow_pickle)
