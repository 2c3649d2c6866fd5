"""Tiny random-weight versions of sgm.video's shipped model configs, for tests that run the real code paths in
seconds: same targets and wiring (real open_clip image embedder, VAE-encoder embedders, timestep embedders, video
UNets), small widths, 1 step and a few 16 px frames. Data only: building one needs the packages the full model does.
"""

from typing import Any

from omegaconf import DictConfig, OmegaConf

from sgm.video.registry import MODELS

# An open_clip CLIP config that builds in well under a second; its embed_dim is the UNet's context_dim.
TINY_OPEN_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_VAE = {"ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1}  # latents at 1/2 the image size
TINY_UNET = {"model_channels": 32, "attention_resolutions": [1], "num_res_blocks": 1, "channel_mult": [1],
             "num_head_channels": 16, "context_dim": 16}  # fmt: skip
SHRINK = 32  # timestep-embedding widths (outdim) and the UNet's adm_in_channels are divided by this

# Per task: the sampling defaults.
TINY_SAMPLING = {
    "img2video": {"num_frames": 2, "steps": 1, "decoding_t": 2, "height": 16, "width": 32},
    "img2orbit": {"num_frames": 2, "steps": 1, "decoding_t": 2, "img_size": 16},
    "video2views": {"num_frames": 3, "frames_per_pass": 2, "views": 2, "steps": 1, "img_size": 16,
                    "encoding_t": 2, "decoding_t": 4, "azimuths_deg": [0, 120, 240]},
}  # fmt: skip
# SV4D's anchor-then-dense schedule keeps its 8 views (picked from SV3D's 21-view orbit): 3 frames, 2 per pass.
TINY_ANCHOR_DENSE = {"num_frames": 3, "views": 8, "azimuths_deg": None}


def shipped_config(name: str) -> DictConfig:
    """The full config (`sampling` and `model`) of a model this package ships, by catalog name."""
    from importlib import resources

    files = {spec["name"]: spec["config"] for spec in MODELS}
    return OmegaConf.create(resources.files("sgm.video").joinpath(f"configs/models/{files[name]}").read_text())


def _sv4d_cond_frames(frames: int, views: int) -> dict[str, int]:
    """Each SV4D embedder's frames per pass: the input frames, each repeated per view, and one frame's views."""
    return {"cond_frames_without_noise": frames, "cond_frames": frames * views, "cond_view": views,
            "cond_motion": frames}  # fmt: skip


# SV4D's camera embedding needs adm_in_channels = 4 * model_channels: the vector's parts (noise level, polar,
# azimuth; 1:2:2 in the official config) made to add up to 128.
TINY_SV4D_VECTOR = {"cond_frames": 32, "polar_rad": 48, "azimuth_rad": 48}


def _shrink(node: Any, cond_frames: dict) -> None:
    """Every block of the config tree made tiny, in place; `cond_frames`: embedders' n_cond_frames by input key."""
    if isinstance(node, list):
        for item in node:
            _shrink(item, cond_frames)
        return
    if not isinstance(node, dict):
        return
    target, params = node.get("target", ""), node.get("params")
    if {"ch", "ch_mult"} <= node.keys():  # an autoencoder ddconfig
        node.update(TINY_VAE)
    if isinstance(params, dict):
        if target.endswith("FrozenOpenCLIPImageEmbedder"):
            params["arch"] = TINY_OPEN_CLIP
        if target.endswith("ConcatTimestepEmbedderND"):
            params["outdim"] //= SHRINK
        if "model_channels" in params:
            params.update(TINY_UNET, adm_in_channels=params["adm_in_channels"] // SHRINK)
        if node.get("input_key") in cond_frames:
            params["n_cond_frames"] = cond_frames[node["input_key"]]
    for value in node.values():
        _shrink(value, cond_frames)


def make_tiny_config(name: str) -> DictConfig:
    """Catalog model `name`'s shipped config with tiny widths and sampling defaults (1 step, a few 16 px frames)."""
    config: Any = OmegaConf.to_container(shipped_config(name), resolve=True)
    kind = config["sampling"]["task"]
    config["sampling"].update(TINY_SAMPLING[kind])
    if config["sampling"].get("schedule") == "anchor_dense":
        config["sampling"].update(TINY_ANCHOR_DENSE)
    sampling = config["sampling"]
    cond_frames = _sv4d_cond_frames(sampling["frames_per_pass"], sampling["views"]) if kind == "video2views" else {}
    _shrink(config["model"], cond_frames)
    if kind == "video2views":
        params = config["model"]["params"]
        params["network_config"]["params"]["adm_in_channels"] = sum(TINY_SV4D_VECTOR.values())
        for embedder in params["conditioner_config"]["params"]["emb_models"]:
            if embedder["input_key"] in TINY_SV4D_VECTOR:
                vector_part = embedder["params"].get("sigma_cond_config", embedder)
                vector_part["params"]["outdim"] = TINY_SV4D_VECTOR[embedder["input_key"]]
    guider = config["model"]["params"]["sampler_config"]["params"]["guider_config"]["params"]
    guider["num_frames"] = cond_frames.get("cond_frames", 2)  # frames x views per pass
    return OmegaConf.create(config)
