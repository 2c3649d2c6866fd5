"""Tiny random-weight versions of the catalog's image models, for tests that run the real code paths in seconds.

`tiny_image_config(name)` is the model's shipped config (same targets, same wiring: real text encoders, real
autoencoder, real UNet) with small widths. It is data only, so sgm.core imports no encoder package; building it
needs sgm-conditioners and sgm-autoencoders installed, as the full model does. `install_tiny_model` writes such
a model's config and a random-weight checkpoint under the official file name, for end-to-end tests through the
catalog.
"""

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sgm.pipelines import catalog
from sgm.core.errors import SgmError

# An open_clip CLIP config that builds in well under a second (the 49,408-token vocabulary and 77 tokens stay).
TINY_OPEN_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
# transformers CLIPTextConfig fields of a 2-layer CLIP text model (the rest as in ViT-L/14).
TINY_CLIP_TEXT = {"hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2}
FULL_CLIP_TEXT_LAYERS = 12  # ViT-L/14's
# Four autoencoder levels, as the real one: images are 8 times the latents' size.
TINY_VAE = {"ch": 32, "ch_mult": [1, 1, 2, 2], "num_res_blocks": 1}
# Two UNet levels; attention only at the second, as SDXL leaves its first level without it.
TINY_UNET = {"model_channels": 32, "channel_mult": [1, 2], "num_res_blocks": 1, "attention_resolutions": [2],
             "num_head_channels": 16}  # fmt: skip
TINY_TIMESTEP_WIDTH = 8  # ConcatTimestepEmbedderND's outdim (256 in the official configs)
# How many numbers each micro-conditioning input holds (ConcatTimestepEmbedderND embeds each one).
TIMESTEP_INPUT_SIZES = {"original_size_as_tuple": 2, "crop_coords_top_left": 2, "target_size_as_tuple": 2,
                        "aesthetic_score": 1}  # fmt: skip


def _tiny_embedder(embedder: dict) -> tuple[int, int]:
    """Shrinks one conditioner entry in place; returns its `(crossattn, vector)` widths in the tiny model."""
    target, params = embedder["target"], embedder.setdefault("params", {})
    name = target.rsplit(".", 1)[-1]
    if name == "FrozenCLIPEmbedder":
        params["version"] = dict(TINY_CLIP_TEXT)
        layer_idx = params.get("layer_idx")
        if layer_idx is not None and layer_idx > 0:  # a layer counted from the first: keep its distance to the last
            params["layer_idx"] = max(1, layer_idx - FULL_CLIP_TEXT_LAYERS + TINY_CLIP_TEXT["num_hidden_layers"])
        pooled = TINY_CLIP_TEXT["hidden_size"] if params.get("always_return_pooled") else 0
        return TINY_CLIP_TEXT["hidden_size"], pooled
    if name in ("FrozenOpenCLIPEmbedder", "FrozenOpenCLIPEmbedder2"):
        params["arch"] = copy.deepcopy(TINY_OPEN_CLIP)
        pooled = TINY_OPEN_CLIP["embed_dim"] if params.get("always_return_pooled") else 0
        return TINY_OPEN_CLIP["text_cfg"]["width"], pooled
    if name == "ConcatTimestepEmbedderND":
        params["outdim"] = TINY_TIMESTEP_WIDTH
        return 0, TINY_TIMESTEP_WIDTH * TIMESTEP_INPUT_SIZES[embedder["input_key"]]
    raise SgmError(f"no tiny version of embedder {target}")


def _tiny_model(model: dict) -> None:
    """Shrinks the `model:` block (a DiffusionEngine) in place; the UNet's widths follow the tiny encoders."""
    params = model["params"]
    embedders = params["conditioner_config"]["params"]["emb_models"]
    widths = [_tiny_embedder(embedder) for embedder in embedders]
    context_dim, vector_dim = sum(width for width, _ in widths), sum(width for _, width in widths)
    params["first_stage_config"]["params"]["ddconfig"].update(TINY_VAE)
    unet = params["network_config"]["params"]
    levels = len(TINY_UNET["channel_mult"])
    unet.update(TINY_UNET, context_dim=[context_dim] * levels if isinstance(unet["context_dim"], list) else context_dim)
    if isinstance(unet.get("transformer_depth"), list):
        unet["transformer_depth"] = [1] * levels
    if unet.get("adm_in_channels") is not None:
        unet["adm_in_channels"] = vector_dim


def tiny_image_config(name: str) -> DictConfig:
    """Image model `name`'s shipped config (`model:` block, as the catalog's config file holds it) with tiny
    widths: 2-layer text encoders, a 4-level 32-channel autoencoder, a 2-level 32-channel UNet."""
    entry = catalog.get_entry(name)
    if entry.is_video or entry.bundled_weights is not None:
        image_models = [e.name for e in catalog.CATALOG.values() if not e.is_video and e.bundled_weights is None]
        raise SgmError(f"no tiny config for {name}: choose one of the downloadable image models {image_models}")
    config: Any = OmegaConf.to_container(catalog.read_config(entry.config), resolve=True)
    _tiny_model(config["model"])
    return OmegaConf.create(config)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FileResource(catalog.Resource):
    """A config file anywhere on disk, for catalog entries in tests (`Resource` reads package data)."""

    package: str = "file"

    def open_text(self) -> str:
        return Path(self.path).read_text()

    def location(self) -> str:
        return self.path

    def local_path(self) -> Path | None:
        return Path(self.path) if Path(self.path).is_file() else None


def install_tiny_model(
    name: str, checkpoints: Path, configs: Path, *, seed: int = 0, defaults: Mapping[str, Any] | None = None
) -> catalog.ModelEntry:
    """Image model `name` made tiny: its config saved in folder `configs`, random weights (torch seed `seed`)
    saved as `checkpoints/<official file name>`. Returns the catalog entry to put in `catalog.CATALOG`, its
    sampling defaults updated with `defaults` (e.g. a smaller width and height)."""
    import torch
    from safetensors.torch import save_file

    from sgm.core.config import instantiate

    entry = catalog.get_entry(name)
    config = tiny_image_config(name)
    Path(configs).mkdir(parents=True, exist_ok=True)
    Path(checkpoints).mkdir(parents=True, exist_ok=True)
    config_path = Path(configs) / f"{name}.yaml"
    OmegaConf.save(config, config_path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        engine = instantiate(config.model)
        with torch.no_grad():  # the UNet's output layer starts at zero; random values make its prediction matter
            for parameter in engine.model.parameters():
                parameter.copy_(torch.randn_like(parameter) * 0.05)
    state = {key: tensor.detach().clone().contiguous() for key, tensor in engine.state_dict().items()}
    save_file(state, Path(checkpoints) / entry.file)
    return dataclasses.replace(entry, config=FileResource(str(config_path)), overrides=dict(defaults or {}))


def put_in_hf_cache(cache: Path, repo: str, file: str, content: bytes | Path, commit: str = "0" * 40) -> Path:
    """`file` of model repo `repo` placed in a Hugging Face cache folder as `huggingface_hub` lays it out
    (`models--owner--name/blobs/<hash>`, `snapshots/<commit>/<file>` linking to the blob, `refs/main` naming the
    commit); `content` is the bytes or a file to copy. Returns the snapshot path."""
    import hashlib

    data = content.read_bytes() if isinstance(content, Path) else content
    repo_folder = Path(cache) / f"models--{repo.replace('/', '--')}"
    blob = repo_folder / "blobs" / hashlib.sha256(data).hexdigest()
    snapshot = repo_folder / "snapshots" / commit / file
    for folder in (blob.parent, snapshot.parent, repo_folder / "refs"):
        folder.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    snapshot.symlink_to(Path("../..") / "blobs" / blob.name)  # relative, as huggingface_hub links them
    (repo_folder / "refs" / "main").write_text(commit)
    return snapshot


def random_lora(
    shapes: Mapping[str, list[int]], *, seed: int = 0, rank: int = 2, scale: float = 0.3, only: str = ""
) -> dict:
    """A kohya-format LoRA (`lora_unet_*`, `lora_te*_*` with `lora_down`, `lora_up`, `alpha`) with a random layer
    for every matrix and 2-D kernel of the model of `shapes` (`{key: shape}`, official layout) whose key contains
    `only`, as tensors to save (sgm.core.lora reads no 3-D convolution layers)."""
    import torch

    from sgm.core.lora import lora_slots

    generator = torch.Generator().manual_seed(seed)
    layers = {}
    for name, slot in lora_slots(shapes).items():
        if name.startswith("lora_") and only in slot.key and len(shapes[slot.key]) <= 4:  # kohya's names; the first for each weight (and row block)
            layers.setdefault((slot.key, None if slot.rows is None else slot.rows.start), (name, slot))
    tensors = {}
    for name, slot in layers.values():
        out, *rest = shapes[slot.key]
        rows = out if slot.rows is None else slot.rows.stop - slot.rows.start
        tensors[f"{name}.lora_down.weight"] = torch.randn((rank, *rest), generator=generator) * scale
        tensors[f"{name}.lora_up.weight"] = torch.randn((rows, rank, *[1] * len(rest[1:])), generator=generator) * scale
        tensors[f"{name}.alpha"] = torch.tensor(float(rank))
    return tensors
