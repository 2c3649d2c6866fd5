"""Tar shards written here, read back through the reference-shaped config with two workers."""

import functools
import http.server
import io
import json
import shutil
import tarfile
import threading

import pytest
import torch
from PIL import Image

from sgm.core.config import instantiate
from sgm.train.data.mappers import AddOriginalImageSizeAsTupleAndCropToSquare, Rescaler

POSTPROCESSORS = [
    {
        "target": "sdata.mappers.TorchVisionImageTransforms",
        "params": {
            "key": "jpg",
            "transforms": [
                {"target": "torchvision.transforms.Resize", "params": {"size": 8, "interpolation": 3}},
                {"target": "torchvision.transforms.ToTensor"},
            ],
        },
    },
    {"target": "sdata.mappers.Rescaler"},
    {"target": "sdata.mappers.AddOriginalImageSizeAsTupleAndCropToSquare"},
]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _write_shards(folder, n_shards=2, per_shard=6):
    for shard in range(n_shards):
        with tarfile.open(folder / f"shard-{shard:03d}.tar", "w") as tar:
            for i in range(per_shard):
                key = f"{shard:03d}_{i:03d}"
                image = io.BytesIO()
                Image.new("RGB", (12 + i, 8), color=(255, 255, 255)).save(image, format="PNG")
                _add(tar, f"{key}.png", image.getvalue())
                _add(tar, f"{key}.txt", f"sample {key}".encode())
                _add(tar, f"{key}.json", json.dumps({"original_height": 80, "original_width": 120 + i}).encode())


def _config(urls, batch_size=4, num_workers=2, **pipeline):
    return {
        "target": "sgm.data.dataset.StableDataModuleFromConfig",
        "params": {
            "train": {
                "datapipeline": {
                    "urls": urls,
                    "pipeline_config": pipeline,
                    "decoders": ["pil"],
                    "postprocessors": POSTPROCESSORS,
                },
                "loader": {"batch_size": batch_size, "num_workers": num_workers, "partial": True},
            }
        },
    }


def test_round_trip_with_two_workers(tmp_path):
    _write_shards(tmp_path)
    data = instantiate(_config([str(tmp_path / "shard-{000..001}.tar")], shardshuffle=2, sample_shuffle=4))
    data.setup("fit")
    seen = []
    for batch in data.train_dataloader():
        assert batch["jpg"].shape[1:] == (3, 8, 8)
        torch.testing.assert_close(batch["jpg"], torch.ones_like(batch["jpg"]))  # white -> 1
        for key, txt, size, crop in zip(
            batch["__key__"], batch["txt"], batch["original_size_as_tuple"], batch["crop_coords_top_left"]
        ):
            assert txt == f"sample {key}"
            assert size.tolist() == [80, 120 + int(key[-3:])]
            assert crop[0] == 0 and 0 <= crop[1] <= 4 + int(key[-3:])  # (12 + i) x 8 cropped to 8 x 8
            seen.append(key)
    assert sorted(seen) == sorted(f"{s:03d}_{i:03d}" for s in range(2) for i in range(6))


def test_folder_url_resampling_and_epoch_length(tmp_path):
    _write_shards(tmp_path, n_shards=1, per_shard=3)
    data = instantiate(_config(str(tmp_path), batch_size=2, num_workers=0, resample=True, epoch_length=5))
    data.setup("fit")
    batches = list(data.train_dataloader())
    assert len(batches) == 5  # 5 batches drawn from 3 samples: resampled
    assert data.val_dataloader() is not None  # validation falls back to the training pipeline


def test_pipe_url_streams_a_shard_through_a_command(tmp_path):
    _write_shards(tmp_path, n_shards=1, per_shard=3)
    data = instantiate(_config(f"pipe:cat {tmp_path / 'shard-000.tar'}", batch_size=3, num_workers=0))
    data.setup("fit")
    (batch,) = list(data.train_dataloader())
    assert sorted(batch["__key__"]) == ["000_000", "000_001", "000_002"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="webdataset fetches http(s) shards with curl")
def test_http_url_streams_a_shard_from_a_server(tmp_path):
    _write_shards(tmp_path, n_shards=1, per_shard=3)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/shard-000.tar"
        data = instantiate(_config(url, batch_size=3, num_workers=0))
        data.setup("fit")
        (batch,) = list(data.train_dataloader())
        server.shutdown()
    assert sorted(batch["__key__"]) == ["000_000", "000_001", "000_002"]


def test_missing_shard_and_bad_config(tmp_path):
    data = instantiate(_config([str(tmp_path / "missing.tar")]))
    with pytest.raises(FileNotFoundError, match="missing.tar"):
        data.setup("fit")
    with pytest.raises(ValueError, match="datapipeline"):
        instantiate({"target": "sgm.data.dataset.StableDataModuleFromConfig", "params": {"train": {"loader": {}}}})
    bad = instantiate(_config([str(tmp_path)], shuffle_all=True))
    with pytest.raises(ValueError, match="unknown key"):
        bad.setup("fit")


def test_mappers_parameters():
    sample = {"jpg": torch.full((3, 4, 6), 255, dtype=torch.uint8), "json": {}}
    Rescaler(isfloat=False)(sample)
    torch.testing.assert_close(sample["jpg"], torch.ones(3, 4, 6))
    crop = AddOriginalImageSizeAsTupleAndCropToSquare(use_data_key=False)(sample)
    assert crop["jpg"].shape == (3, 4, 4) and crop["original_size_as_tuple"].tolist() == [4, 6]
    assert 0 <= int(crop["crop_coords_top_left"][1]) <= 2
    with pytest.raises(KeyError, match="original_height"):
        AddOriginalImageSizeAsTupleAndCropToSquare()({"jpg": torch.zeros(3, 4, 4), "json": {}})
    assert Rescaler(key="other", strict=False)({"jpg": 1}) == {"jpg": 1}
