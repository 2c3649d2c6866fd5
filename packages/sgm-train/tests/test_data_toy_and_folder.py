"""The map-style datasets: digits, CIFAR-10 batches (never allowed to run code), image folders, and the
missing-file messages of MNIST / CIFAR-10."""

import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.core.config import instantiate
from sgm.core.errors import SgmError
from sgm.train.data import DictDataModule
from sgm.train.data.folder import ImageFolderDataset, ImageFolderLoader
from sgm.train.data.toy import CIFAR10Dataset, CIFAR10Loader, DigitsDataset, DigitsLoader, MNISTLoader


def test_digits_shape_range_labels():
    data = DigitsDataset(size=16)
    assert len(data) == 1797
    sample = data[0]
    assert sample["jpg"].shape == (1, 16, 16) and sample["jpg"].dtype == torch.float32
    assert data.images.min() == -1.0 and data.images.max() <= 1.0 and data.images.max() > 0.9
    assert set(data.labels.tolist()) == set(range(10))
    assert sample["cls"] == 0  # load_digits starts with a zero


def test_digits_splits_partition_the_set():
    train, val = DigitsDataset(8, "train"), DigitsDataset(8, "val")
    assert len(train) + len(val) == 1797
    everything = DigitsDataset(8, "all")
    torch.testing.assert_close(val.images, everything.images[::10])


def test_digits_loader_batches():
    loader = DigitsLoader(batch_size=32, size=32)
    batch = next(iter(loader.train_dataloader()))
    assert batch["jpg"].shape == (32, 1, 32, 32)
    assert batch["cls"].dtype == torch.int64 and batch["cls"].shape == (32,)


def test_bad_digits_arguments():
    with pytest.raises(ValueError, match="size"):
        DigitsDataset(size=4)
    with pytest.raises(ValueError, match="split"):
        DigitsDataset(split="test")


@pytest.mark.parametrize(
    ("target", "folder"),
    [("sgm.data.mnist.MNISTLoader", "MNIST/raw"), ("sgm.data.cifar10.CIFAR10Loader", "cifar-10-batches-py")],
)
def test_missing_torchvision_sets_say_where_to_get_them(tmp_path, target, folder):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)) as error:
        instantiate({"target": target, "params": {"batch_size": 4, "root": str(tmp_path)}})
    assert folder in str(error.value)
    assert MNISTLoader and CIFAR10Loader


CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.mark.parametrize("protocol", [2, 4, 5])  # 2: as the official batches (Python 2 cPickle), 4-5: Python 3
def test_cifar10_batches_read_channel_major_rows(tmp_path, protocol):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072) % 256
    for name in CIFAR10_BATCHES:
        batch = {"batch_label": "training batch", "labels": [7, 2], "data": data.astype(np.uint8)}
        batch["filenames"] = [b"a.png", b"b.png"]
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    train, test = CIFAR10Dataset(tmp_path, train=True), CIFAR10Dataset(tmp_path, train=False)
    assert len(train) == 10 and len(test) == 2
    sample = test[1]
    assert sample["cls"] == 2 and sample["jpg"].shape == (3, 32, 32)
    channel, row, column = 2, 5, 7
    expected = data[1, channel * 1024 + row * 32 + column] / 255.0 * 2.0 - 1.0
    assert sample["jpg"][channel, row, column].item() == pytest.approx(expected, abs=1e-6)


class _RunsCommand:
    """Unpickling this runs a shell command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_cifar10_batch_that_would_run_code_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "ran"
    for name in CIFAR10_BATCHES:
        batch = {"data": np.zeros((1, 3072), dtype=np.uint8), "labels": [_RunsCommand(marker)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(SgmError, match="data_batch_1 is not a CIFAR-10 batch: refused: .*system"):
        CIFAR10Dataset(tmp_path, train=True)
    assert not marker.exists()
    (folder / "test_batch").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(SgmError, match="expected a dict with `data` and `labels`"):
        CIFAR10Dataset(tmp_path, train=False)


def _write_folder(root, sizes, captions=True):
    for i, (w, h) in enumerate(sizes):
        Image.new("RGB", (w, h), color=(255, 0, 0) if i % 2 else (0, 0, 255)).save(root / f"img{i}.png")
        if captions:
            (root / f"img{i}.txt").write_text(f"caption {i}\n")


def test_image_folder_samples(tmp_path):
    _write_folder(tmp_path, [(40, 20), (20, 30)])
    data = ImageFolderDataset(tmp_path, size=16)
    assert len(data) == 2
    first = data[0]
    assert first["jpg"].shape == (3, 16, 16)
    assert first["txt"] == "caption 0"
    assert first["original_size_as_tuple"].tolist() == [20, 40]
    assert first["crop_coords_top_left"].tolist() == [0, 8]  # 40x20 -> 32x16, centred crop
    assert first["target_size_as_tuple"].tolist() == [16, 16]
    torch.testing.assert_close(first["jpg"][2], torch.ones(16, 16))  # blue, in [-1, 1]
    torch.testing.assert_close(first["jpg"][0], -torch.ones(16, 16))


def test_image_folder_loader_and_caption_check(tmp_path):
    _write_folder(tmp_path, [(16, 16)] * 3, captions=False)
    with pytest.raises(ValueError, match="no caption file"):
        ImageFolderDataset(tmp_path)
    loader = ImageFolderLoader(str(tmp_path), batch_size=3, size=8, require_captions=False)
    batch = next(iter(loader.train_dataloader()))
    assert batch["jpg"].shape == (3, 3, 8, 8) and batch["txt"] == ["", "", ""]
    with pytest.raises(FileNotFoundError, match="not found"):
        ImageFolderDataset(tmp_path / "nope")


def test_an_empty_dataset_is_refused():
    with pytest.raises(SgmError, match="the training set \\(list\\) is empty"):
        DictDataModule([])
    with pytest.raises(SgmError, match="the validation set \\(list\\) is empty"):
        DictDataModule([{"jpg": torch.zeros(1)}], validation=[])
