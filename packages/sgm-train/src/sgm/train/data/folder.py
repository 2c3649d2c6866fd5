"""A folder of images with captions: `cat.jpg` + `cat.txt` (same stem) per sample, searched recursively."""

import random
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import functional as TF

from sgm.train.data.datamodule import DictDataModule

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class ImageFolderDataset(Dataset):
    """Images resized (shorter side) to `size` and cropped to `size`x`size` (at random when `random_crop`), as
    `{"jpg", "txt", "original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple"}`.

    require_captions: every image needs its `.txt`; otherwise a missing caption is the empty string.
    """

    def __init__(self, root: str | Path, size: int = 256, random_crop: bool = False, require_captions: bool = True):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"image folder not found: {root}")
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        self.paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.paths:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
        if require_captions:
            missing = [p for p in self.paths if not p.with_suffix(".txt").is_file()]
            if missing:
                raise ValueError(
                    f"{len(missing)} image(s) under {root} have no caption file, e.g. {missing[0].with_suffix('.txt')}; "
                    "add them or pass require_captions=False"
                )
        self.size = size
        self.random_crop = random_crop

    def __len__(self) -> int:
        return len(self.paths)

    def _caption(self, path: Path) -> str:
        caption = path.with_suffix(".txt")
        return caption.read_text(encoding="utf-8").strip() if caption.is_file() else ""

    def __getitem__(self, i: int) -> dict:
        path = self.paths[i]
        with Image.open(path) as image:
            image = image.convert("RGB")
        width, height = image.size
        image = TF.resize(image, self.size, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
        new_width, new_height = image.size
        pick = random.randint if self.random_crop else (lambda low, high: (low + high) // 2)
        top, left = pick(0, new_height - self.size), pick(0, new_width - self.size)
        image = TF.crop(image, top, left, self.size, self.size)
        return {
            "jpg": TF.to_tensor(image) * 2.0 - 1.0,
            "txt": self._caption(path),
            "original_size_as_tuple": torch.tensor([height, width]),
            "crop_coords_top_left": torch.tensor([top, left]),
            "target_size_as_tuple": torch.tensor([self.size, self.size]),
        }


class ImageFolderLoader(DictDataModule):
    """An image folder as a data module (validation on the same folder unless `val_root` is given)."""

    def __init__(
        self,
        root: str,
        batch_size: int,
        size: int = 256,
        num_workers: int = 0,
        shuffle: bool = True,
        random_crop: bool = True,
        val_root: str | None = None,
        require_captions: bool = True,
    ):
        train = ImageFolderDataset(root, size, random_crop, require_captions)
        val = ImageFolderDataset(val_root, size, False, require_captions) if val_root else None
        super().__init__(train, val, batch_size=batch_size, num_workers=num_workers, shuffle=shuffle)
