"""Per-sample transforms for webdataset pipelines, with the parameters of the `sdata.mappers` the reference's
configs name. Each is a callable `sample dict -> sample dict`."""

import random
from collections.abc import Mapping, Sequence

import torch
from torchvision.transforms import Compose
from torchvision.transforms import functional as TF

from sgm.core.config import instantiate


def _missing(key: str, sample: Mapping, mapper: str) -> KeyError:
    return KeyError(f"{mapper}: sample has no {key!r} (it has {sorted(sample)}); set strict: false to skip it")


class TorchVisionImageTransforms:
    """Applies torchvision transforms, built from `{target, params}` blocks, to `sample[key]`."""

    def __init__(self, transforms: Mapping | Sequence[Mapping], key: str = "jpg", strict: bool = True, **kwargs):
        if isinstance(transforms, Mapping):
            transforms = [transforms]
        self.key = key
        self.strict = strict
        self.transform = Compose(
            [
                instantiate(block, key_path=f"TorchVisionImageTransforms.transforms[{i}]")
                for i, block in enumerate(transforms)
            ]
        )

    def __call__(self, sample: dict) -> dict:
        if self.key not in sample:
            if self.strict:
                raise _missing(self.key, sample, type(self).__name__)
            return sample
        sample[self.key] = self.transform(sample[self.key])
        return sample


class Rescaler:
    """Maps images from [0, 1] (or uint8 [0, 255] when `isfloat` is false) to [-1, 1], for each of `key`."""

    def __init__(self, key: str | Sequence[str] = "jpg", isfloat: bool = True, strict: bool = True, **kwargs):
        self.keys = [key] if isinstance(key, str) else list(key)
        self.isfloat = isfloat
        self.strict = strict

    def __call__(self, sample: dict) -> dict:
        for key in self.keys:
            if key not in sample:
                if self.strict:
                    raise _missing(key, sample, type(self).__name__)
                continue
            x = sample[key]
            if not self.isfloat:
                x = x.to(torch.float32) / 255.0
            sample[key] = x * 2.0 - 1.0
        return sample


class AddOriginalImageSizeAsTupleAndCropToSquare:
    """Records the original size as `original_size_as_tuple` (h, w), crops the `[C, H, W]` image to a square at a
    random offset and records that offset as `crop_coords_top_left` (top, left): SDXL's size and crop conditioning.

    The original size comes from `sample["json"][h_key / w_key]` (the shard's metadata) when `use_data_key`, else from
    the image itself.
    """

    def __init__(
        self,
        h_key: str = "original_height",
        w_key: str = "original_width",
        image_key: str = "jpg",
        use_data_key: bool = True,
        **kwargs,
    ):
        self.h_key = h_key
        self.w_key = w_key
        self.image_key = image_key
        self.use_data_key = use_data_key

    def _original_size(self, sample: Mapping, image: torch.Tensor) -> tuple[int, int]:
        if not self.use_data_key:
            return int(image.shape[1]), int(image.shape[2])
        meta = sample.get("json")
        if not isinstance(meta, Mapping) or self.h_key not in meta or self.w_key not in meta:
            raise KeyError(
                f"{type(self).__name__}: sample['json'] needs {self.h_key!r} and {self.w_key!r} "
                "(or set use_data_key: false to take the size from the image)"
            )
        return int(meta[self.h_key]), int(meta[self.w_key])

    def __call__(self, sample: dict) -> dict:
        image = sample.get(self.image_key)
        if not isinstance(image, torch.Tensor) or image.ndim != 3:
            raise ValueError(
                f"{type(self).__name__}: sample[{self.image_key!r}] must be a [C, H, W] tensor (put ToTensor before it)"
            )
        sample["original_size_as_tuple"] = torch.tensor(self._original_size(sample, image))
        height, width = image.shape[1:]
        size = min(height, width)
        top = random.randint(0, height - size)
        left = random.randint(0, width - size)
        sample[self.image_key] = TF.crop(image, top=top, left=left, height=size, width=size)
        sample["crop_coords_top_left"] = torch.tensor([top, left])
        return sample
