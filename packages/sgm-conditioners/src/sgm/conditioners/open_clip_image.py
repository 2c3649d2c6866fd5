"""OpenCLIP image encoders: the CLIP image embedding that conditions SVD, SV3D and SV4D."""

from collections.abc import Mapping

import torch
from einops import rearrange, repeat
from sgm.conditioners.autocast import reference_autocast
from sgm.conditioners.general import AbstractEmbModel
from sgm.conditioners.image_resize import antialiased_resize
from sgm.conditioners.open_clip_model import build_open_clip
from sgm.core.config import instantiate

# OpenAI CLIP's image normalisation (Radford et al. 2021)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _drop_rows(x: torch.Tensor, ucg_rate: float) -> torch.Tensor:
    """Zeroes each sample (first dimension) with probability `ucg_rate`."""
    keep = torch.bernoulli((1.0 - ucg_rate) * torch.ones(x.shape[0], device=x.device))
    return keep.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1))) * x


class FrozenOpenCLIPImageEmbedder(AbstractEmbModel):
    """Images in [-1, 1] -> CLIP image embeddings `[batch, embed_dim]`.

    Only `model.transformer` (the text transformer) is deleted, so the text-side leftovers stay in the state dict
    as in official files. `arch` is an open_clip name or config dict; `version` and `device` are unused (weights
    come from the sgm checkpoint; inputs stay where they are). `num_image_crops > 0` takes `[batch, crops, 3, H, W]`
    and drops crops independently; `repeat_to_max_len` / padding return `(tokens, embedding)` pairs.
    """

    def __init__(
        self,
        arch: str | Mapping = "ViT-H-14",
        version: str = "laion2b_s32b_b79k",
        device: str = "cuda",
        max_length: int = 77,
        freeze: bool = True,
        antialias: bool = True,
        ucg_rate: float = 0.0,
        unsqueeze_dim: bool = False,
        repeat_to_max_len: bool = False,
        num_image_crops: int = 0,
        output_tokens: bool = False,
        init_device: str | None = None,
    ):
        super().__init__()
        if init_device is None:
            model = build_open_clip(arch)
        else:
            with torch.device(init_device):
                model = build_open_clip(arch)
        del model.transformer
        self.model = model
        self.version = version
        self.max_crops = num_image_crops
        self.pad_to_max_len = self.max_crops > 0
        self.repeat_to_max_len = repeat_to_max_len and not self.pad_to_max_len
        if output_tokens and (self.repeat_to_max_len or self.pad_to_max_len):
            raise ValueError("output_tokens cannot be combined with repeat_to_max_len or num_image_crops")
        self.device = device
        self.max_length = max_length
        if freeze:
            self.freeze()
        self.antialias = antialias
        self.register_buffer("mean", torch.tensor(CLIP_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD), persistent=False)
        self.ucg_rate = ucg_rate
        self.unsqueeze_dim = unsqueeze_dim
        self.model.visual.output_tokens = output_tokens
        self.output_tokens = output_tokens

    def freeze(self):
        self.model = self.model.eval()
        for param in self.parameters():
            param.requires_grad = False

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images -> CLIP input: antialiased bicubic resize to the tower's size, then CLIP normalisation."""
        x = antialiased_resize(x, self.model.visual.image_size, "bicubic", align_corners=True, antialias=self.antialias)
        x = (x + 1.0) / 2.0
        mean, std = self.mean.to(x.dtype), self.std.to(x.dtype)
        return (x - mean[:, None, None]) / std[:, None, None]

    def forward(self, image: torch.Tensor, no_dropout: bool = False):
        if image.dim() not in (4, 5):
            raise ValueError(
                f"expected images [batch, 3, H, W] (or [batch, crops, 3, H, W]), got shape {tuple(image.shape)}"
            )
        with reference_autocast(image.device):
            z = self.encode_with_vision_transformer(image)
            tokens = None
            if self.output_tokens:
                z, tokens = z
            z = z.to(image.dtype)
            if self.ucg_rate > 0.0 and not no_dropout and not self.max_crops > 0:
                z = _drop_rows(z, self.ucg_rate)
                if tokens is not None:
                    tokens = _drop_rows(tokens, self.ucg_rate)
            if self.unsqueeze_dim:
                z = z[:, None, :]
            if self.output_tokens:
                return tokens, z
            if self.repeat_to_max_len:
                z_ = z[:, None, :] if z.dim() == 2 else z
                return repeat(z_, "b 1 d -> b n d", n=self.max_length), z
            if self.pad_to_max_len:
                padding = z.new_zeros(z.shape[0], self.max_length - z.shape[1], z.shape[2])
                z_pad = torch.cat((z, padding), 1)
                return z_pad, z_pad[:, 0, ...]
            return z

    def encode_with_vision_transformer(self, img: torch.Tensor):
        if img.dim() == 5:
            if img.shape[1] != self.max_crops:
                raise ValueError(f"expected {self.max_crops} crops per image, got {img.shape[1]}")
            img = rearrange(img, "b n c h w -> (b n) c h w")
        x = self.model.visual(self.preprocess(img))
        tokens = None
        if self.output_tokens:
            x, tokens = x
        if self.max_crops > 0:
            x = rearrange(x, "(b n) d -> b n d", n=self.max_crops)
            # drop each crop independently, anywhere from none to all of them
            keep = torch.bernoulli((1.0 - self.ucg_rate) * torch.ones(x.shape[0], x.shape[1], 1, device=x.device))
            x = keep.to(x.dtype) * x
            if tokens is not None:
                tokens = rearrange(tokens, "(b n) t d -> b t (n d)", n=self.max_crops)
        if self.output_tokens:
            return x, tokens
        return x

    def encode(self, image: torch.Tensor):
        return self(image)


class FrozenOpenCLIPImagePredictionEmbedder(AbstractEmbModel):
    """CLIP embeddings of `n_cond_frames` conditioning frames per sample, `[batch * n_copies, n_cond_frames, dim]`."""

    def __init__(self, open_clip_embedding_config: Mapping, n_cond_frames: int, n_copies: int):
        super().__init__()
        self.n_cond_frames = n_cond_frames
        self.n_copies = n_copies
        self.open_clip = instantiate(open_clip_embedding_config, key_path="open_clip_embedding_config")

    def forward(self, vid: torch.Tensor) -> torch.Tensor:
        if vid.shape[0] % self.n_cond_frames:
            raise ValueError(f"{vid.shape[0]} frames is not a multiple of n_cond_frames={self.n_cond_frames}")
        vid = self.open_clip(vid)
        vid = rearrange(vid, "(b t) d -> b t d", t=self.n_cond_frames)
        return repeat(vid, "b t d -> (b s) t d", s=self.n_copies)
