"""diffusers' module path of every layer of an official-layout UNet, derived from the UNet's own keys.

LoRA files made with diffusers or kohya's SD 1/2 scripts name UNet layers as diffusers nests them
(`down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q`); the official checkpoints, and our networks, keep
the flat block lists of the original code (`input_blocks.4.1.transformer_blocks.0.attn1.to_q`). The two group the
same layers differently: diffusers per resolution level, the original as one list in which a downsampler closes
each level. So where the downsamplers are in `input_blocks` gives each level's ResBlock count, and with it the
whole regrouping, for any `num_res_blocks` and `channel_mult` (SD 2.1, SDXL base and refiner; SVD's VideoUNet,
whose ResBlocks and transformers carry a temporal twin under `time_stack`, maps to diffusers' spatio-temporal UNet).
"""

from collections import defaultdict
from collections.abc import Iterable

# Layers outside the block lists.
_OUTER = {
    "time_embed.0": "time_embedding.linear_1",
    "time_embed.2": "time_embedding.linear_2",
    "label_emb.0.0": "add_embedding.linear_1",
    "label_emb.0.2": "add_embedding.linear_2",
    "input_blocks.0.0": "conv_in",
    "out.0": "conv_norm_out",
    "out.2": "conv_out",
}
# Inside a ResBlock (diffusers' ResnetBlock2D; the temporal twin uses the same names).
_RESBLOCK = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}


def unet_roots(paths: Iterable[str]) -> list[str]:
    """The prefixes (`model.diffusion_model.`, or `` for a bare UNet) under which `paths` hold an official UNet."""
    suffix = "input_blocks.0.0"
    return sorted({path[: -len(suffix)] for path in paths if path.endswith(suffix) and "middle_block" not in path})


def diffusers_unet_paths(paths: Iterable[str]) -> dict[str, str]:
    """`{official module path: diffusers module path}` for the module paths of one UNet (relative to its root),
    e.g. `input_blocks.4.1.proj_in` -> `down_blocks.1.attentions.0.proj_in`."""
    paths = set(paths)
    names = {path: diffusers for path, diffusers in _OUTER.items() if path in paths}
    level_sizes = _down_levels(_blocks(paths, "input_blocks"), names)
    _middle(_blocks(paths, "middle_block").get(None, {}), names)
    _up_levels(_blocks(paths, "output_blocks"), level_sizes, names)
    return names


def _down_levels(inputs: dict, names: dict[str, str]) -> list[int]:
    """Names the input blocks (`down_blocks`); returns each level's ResBlock count."""
    level_sizes = [0]
    for index in range(1, max(inputs, default=0) + 1):
        parts, level = inputs.get(index, {}), len(level_sizes) - 1
        if not _is_resblock(parts.get("0", set())):  # a downsampler (a conv, or average pooling) closes the level
            if "op" in parts.get("0", set()):
                names[f"input_blocks.{index}.0.op"] = f"down_blocks.{level}.downsamplers.0.conv"
            level_sizes.append(0)
            continue
        j = level_sizes[-1]
        names.update(_resblock(f"input_blocks.{index}.0", f"down_blocks.{level}.resnets.{j}", parts["0"]))
        if "1" in parts:
            names.update(_transformer(f"input_blocks.{index}.1", f"down_blocks.{level}.attentions.{j}", parts["1"]))
        level_sizes[-1] += 1
    return level_sizes


def _middle(parts: dict, names: dict[str, str]) -> None:
    """Names the middle block's ResBlocks and transformer (`mid_block`), numbered by kind."""
    counts = {"resnets": 0, "attentions": 0}
    for part, inner in sorted(parts.items()):
        kind = "resnets" if _is_resblock(inner) else "attentions"
        rename = _resblock if kind == "resnets" else _transformer
        names.update(rename(f"middle_block.{part}", f"mid_block.{kind}.{counts[kind]}", inner))
        counts[kind] += 1


def _up_levels(outputs: dict, level_sizes: list[int], names: dict[str, str]) -> None:
    """Names the output blocks (`up_blocks`): the levels in reverse, each one block longer than going down (the
    extra block takes the downsampler's skip); an upsampler ends each level but the last."""
    index = 0
    for up_level, size in enumerate(reversed(level_sizes)):
        for j in range(size + 1):
            for part, inner in sorted(outputs.get(index, {}).items()):
                block = f"output_blocks.{index}.{part}"
                if part == "0":
                    names.update(_resblock(block, f"up_blocks.{up_level}.resnets.{j}", inner))
                elif all(path.split(".")[0] == "conv" for path in inner):  # an upsampler's only layer
                    names[f"{block}.conv"] = f"up_blocks.{up_level}.upsamplers.0.conv"
                else:
                    names.update(_transformer(block, f"up_blocks.{up_level}.attentions.{j}", inner))
            index += 1


def _blocks(paths: set[str], name: str) -> dict:
    """`{block index: {part: {inner paths}}}` of `input_blocks` / `output_blocks`, or of the single `middle_block`
    (under index None)."""
    blocks: dict = defaultdict(lambda: defaultdict(set))
    for path in paths:
        if not path.startswith(name + "."):
            continue
        rest = path[len(name) + 1 :]
        fields = [None, *rest.split(".", 1)] if name == "middle_block" else rest.split(".", 2)
        if len(fields) == 3:
            blocks[None if fields[0] is None else int(fields[0])][fields[1]].add(fields[2])
    return blocks


def _is_resblock(inner: set[str]) -> bool:
    return any(path.startswith("in_layers.") for path in inner)


def _resblock(old: str, new: str, inner: set[str]) -> dict[str, str]:
    """A ResBlock; a video one (with a `time_stack` twin) is diffusers' `spatial_res_block` + `temporal_res_block`."""
    video = any(path.startswith("time_stack.") for path in inner)
    names = {}
    for path in inner:
        if path.startswith("time_mixer."):
            names[f"{old}.{path}"] = f"{new}.{path}"
            continue
        twin, local = path.startswith("time_stack."), path.removeprefix("time_stack.")
        where = "temporal_res_block." if twin else "spatial_res_block." if video else ""
        if local in _RESBLOCK:
            names[f"{old}.{path}"] = f"{new}.{where}{_RESBLOCK[local]}"
    return names


def _transformer(old: str, new: str, inner: set[str]) -> dict[str, str]:
    """A SpatialTransformer keeps its inner names; a video one's `time_stack` is `temporal_transformer_blocks`."""
    renames = (("time_stack.", "temporal_transformer_blocks."), ("time_pos_embed.0", "time_pos_embed.linear_1"),
               ("time_pos_embed.2", "time_pos_embed.linear_2"))  # fmt: skip
    names = {}
    for path in inner:
        local = path
        for before, after in renames:
            if local.startswith(before):
                local = after + local[len(before) :]
        names[f"{old}.{path}"] = f"{new}.{local}"
    return names
