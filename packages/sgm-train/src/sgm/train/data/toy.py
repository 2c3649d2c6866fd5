"""Toy image sets: scikit-learn's bundled 8x8 digits (always available offline), MNIST and CIFAR-10 from local files.

Each sample is `{"jpg": [C, H, W] in [-1, 1], "cls": label}`, as the reference's `sgm.data.mnist` returns.
"""

import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from sgm.core.errors import SgmError
from sgm.train.data.datamodule import DictDataModule
from sgm.train.data.restricted_pickle import load_data_pickle

DIGITS_MAX_VALUE = 16.0  # load_digits pixels are counts 0..16 of a 4x4 block of the 32x32 scan
SPLITS = ("train", "val", "all")
VAL_EVERY = 10  # every 10th digit is held out for validation


class DigitsDataset(Dataset):
    """scikit-learn's 1,797 handwritten digits, 8x8 upscaled (bilinear) to `size`x`size`, one channel in [-1, 1].

    split: "train" (9 of every 10 digits), "val" (every 10th) or "all".
    """

    def __init__(self, size: int = 16, split: str = "all"):
        from sklearn.datasets import load_digits

        if not isinstance(size, int) or size < 8:
            raise ValueError(f"digits size must be an int >= 8 (the digits are 8x8), got {size!r}")
        if split not in SPLITS:
            raise ValueError(f"digits split must be one of {', '.join(SPLITS)}, got {split!r}")
        digits = load_digits()
        images = torch.from_numpy(digits.images).float()[:, None] / DIGITS_MAX_VALUE
        labels = torch.from_numpy(digits.target).long()
        index = torch.arange(len(labels))
        keep = {"train": index % VAL_EVERY != 0, "val": index % VAL_EVERY == 0, "all": index >= 0}[split]
        images = F.interpolate(images[keep], size=(size, size), mode="bilinear", align_corners=False)
        self.images = (images * 2.0 - 1.0).clamp(-1.0, 1.0)
        self.labels = labels[keep]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"jpg": self.images[i], "cls": int(self.labels[i])}


class DigitsLoader(DictDataModule):
    """The digits as a data module: train on `train_split`, validate on the held-out tenth."""

    def __init__(
        self,
        batch_size: int,
        size: int = 16,
        num_workers: int = 0,
        prefetch_factor: int = 2,
        shuffle: bool = True,
        train_split: str = "all",
    ):
        super().__init__(
            DigitsDataset(size, train_split),
            DigitsDataset(size, "val"),
            batch_size=batch_size,
            num_workers=num_workers,
            prefetch_factor=prefetch_factor,
            shuffle=shuffle,
        )


class ClassDictDataset(Dataset):
    """A torchvision `(image, label)` dataset as `{"jpg": image, "cls": label}`."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        image, label = self.dataset[i]
        return {"jpg": image, "cls": label}


def _to_signed_unit(x: torch.Tensor) -> torch.Tensor:
    return x * 2.0 - 1.0


def _local_torchvision_set(name: str, root: str | Path, train: bool, where: str) -> Dataset:
    """A torchvision dataset read from `root` (never downloaded); a clear error says where to get it."""
    import torchvision
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Lambda(_to_signed_unit)])
    try:
        dataset = getattr(torchvision.datasets, name)(root=str(root), train=train, download=False, transform=transform)
    except RuntimeError:
        raise FileNotFoundError(f"{name} not found under {Path(root).resolve()}: {where}") from None
    return ClassDictDataset(dataset)


MNIST_WHERE = (
    "put train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte "
    "(from https://ossci-datasets.s3.amazonaws.com/mnist/, gunzipped) in <root>/MNIST/raw/, or use the offline "
    "digits set (sgm.train.data.toy.DigitsLoader)"
)
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCHES = ("test_batch",)
CIFAR10_WHERE = (
    "extract https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz into <root>/ (giving "
    "<root>/cifar-10-batches-py/), or use the offline digits set (sgm.train.data.toy.DigitsLoader)"
)


class MNISTLoader(DictDataModule):
    """MNIST (1x28x28) from `root`/MNIST/raw, with the reference's parameters plus `root`."""

    def __init__(
        self, batch_size: int, num_workers: int = 0, prefetch_factor: int = 2, shuffle: bool = True, root: str = ".data"
    ):
        super().__init__(
            _local_torchvision_set("MNIST", root, True, MNIST_WHERE),
            _local_torchvision_set("MNIST", root, False, MNIST_WHERE),
            batch_size=batch_size,
            num_workers=num_workers,
            prefetch_factor=prefetch_factor,
            shuffle=shuffle,
        )


def read_cifar10_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """One CIFAR-10 python batch (a pickled dict, the official format) as uint8 images `[N, 3, 32, 32]` and labels;
    read with a restricted unpickler, so a file that would run code is refused instead."""
    try:
        batch = load_data_pickle(path.read_bytes(), encoding="latin1")
    except (pickle.UnpicklingError, ValueError, EOFError) as error:
        raise SgmError(f"{path} is not a CIFAR-10 batch: {error}") from None
    if not isinstance(batch, Mapping) or "data" not in batch or "labels" not in batch:
        raise SgmError(f"{path} is not a CIFAR-10 batch: expected a dict with `data` and `labels`")
    return np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32), list(batch["labels"])


class CIFAR10Dataset(Dataset):
    """CIFAR-10's python batches (`<root>/cifar-10-batches-py/data_batch_1` ... `_5` for training, `test_batch`
    otherwise) as `{"jpg": [3, 32, 32] in [-1, 1], "cls": label}`; the files are read as they are (no checksum)
    but never allowed to run code (`read_cifar10_batch`)."""

    def __init__(self, root: str | Path, train: bool = True):
        folder = Path(root) / CIFAR10_FOLDER
        names = CIFAR10_TRAIN_BATCHES if train else CIFAR10_TEST_BATCHES
        missing = [name for name in names if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"CIFAR10 not found under {folder.resolve()} (no {missing[0]}): {CIFAR10_WHERE}")
        images, labels = [], []
        for name in names:
            batch_images, batch_labels = read_cifar10_batch(folder / name)
            images.append(batch_images)
            labels.extend(batch_labels)
        self.images = torch.from_numpy(np.concatenate(images))
        self.labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"jpg": _to_signed_unit(self.images[i].float() / 255.0), "cls": int(self.labels[i])}


class CIFAR10Loader(DictDataModule):
    """CIFAR-10 (3x32x32) from `root`/cifar-10-batches-py, with the reference's parameters plus `root`."""

    def __init__(self, batch_size: int, num_workers: int = 0, shuffle: bool = True, root: str = ".data"):
        super().__init__(
            CIFAR10Dataset(root, train=True),
            CIFAR10Dataset(root, train=False),
            batch_size=batch_size,
            num_workers=num_workers,
            shuffle=shuffle,
        )
