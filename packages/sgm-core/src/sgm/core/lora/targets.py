"""Which weight of a model each LoRA layer name refers to, in every naming the formats use.

A model in the official layout is read from its keys and shapes alone (`{key: shape}`), so the same table serves
`apply_loras` on a built model and `describe_lora` on a catalog layout. Names are looked up whole: kohya flattens
module paths with `_`, which cannot be split back unambiguously (`attn1_to_q` vs `ff_net_0_proj`), so the table
holds every name flattened the same way instead.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sgm.core.lora.text_encoder_names import TextEncoder, hf_text_paths, text_encoders
from sgm.core.lora.unet_names import diffusers_unet_paths, unet_roots


@dataclass(frozen=True)
class Slot:
    key: str  # the official key of the weight a LoRA layer changes
    rows: slice | None = None  # the rows it changes, for q, k or v inside a fused `in_proj_weight`


def lora_slots(shapes: Mapping[str, list[int]]) -> dict[str, Slot]:
    """`{LoRA layer name: Slot}` for every name a LoRA file may give one of the model's matrices and kernels:
    kohya's `lora_unet_*` (official or diffusers paths), `lora_te*_*`, and diffusers' `unet.*`, `text_encoder*.*`."""
    slots: dict[str, Slot] = {}

    def add(names: Iterable[str], slot: Slot) -> None:
        for name in names:
            slots.setdefault(name, slot)

    weights = {
        key.removesuffix(".weight"): key for key, shape in shapes.items() if key.endswith(".weight") and len(shape) >= 2
    }
    roots = unet_roots(weights)
    for root in roots:
        local = {path[len(root) :]: key for path, key in weights.items() if path.startswith(root)}
        for path, key in local.items():  # kohya's SDXL scripts train the official UNet and keep its names
            add([f"lora_unet_{_flat(path)}"], Slot(key))
        for path, diffusers in diffusers_unet_paths(local).items():
            if path in local:
                add([f"lora_unet_{_flat(diffusers)}", f"unet.{diffusers}"], Slot(local[path]))
    sdxl_family = any(f"{root}label_emb.0.0" in weights for root in roots)
    encoders = text_encoders(shapes)
    # A third text encoder, were there one, has no name in any LoRA format.
    for encoder, (kohya_names, component) in zip(encoders, _encoder_names(encoders, sdxl_family), strict=False):
        for path, (key, rows) in hf_text_paths(encoder, shapes).items():
            add([*(f"lora_{name}_{_flat(path)}" for name in kohya_names), f"{component}.{path}"], Slot(key, rows))
    return slots


def _encoder_names(encoders: list[TextEncoder], sdxl_family: bool) -> list[tuple[tuple[str, ...], str]]:
    """Each encoder's kohya prefixes and diffusers component, as diffusers' pipelines number them: `text_encoder`
    (kohya `te` or `te1`) and `text_encoder_2` (`te2`). The SDXL refiner's only encoder is SDXL's second one
    (OpenCLIP ViT-bigG), so in a model with a vector-conditioned UNet (SDXL's `label_emb`) a sole encoder is `te2`."""
    first, second = (("te", "te1"), "text_encoder"), (("te2",), "text_encoder_2")
    if len(encoders) == 1 and sdxl_family:
        return [second]
    return [first, second]


def _flat(path: str) -> str:
    return path.replace(".", "_")
