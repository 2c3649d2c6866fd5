"""Tar shards written here, read back through the reference-shaped config with two workers; shards and URLs that
would run code are refused."""

import functools
import http.server
import io
import json
import os
import pickle
import shutil
import tarfile
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.core.config import instantiate
from sgm.core.errors import SgmError
from sgm.train.data.mappers import AddOriginalImageSizeAsTupleAndCropToSquare, Rescaler
from sgm.train.data.member_decoders import decode_member
from sgm.train.data.webdataset import create_dataset, pipe_urls_allowed

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


def _config(urls, batch_size=4, num_workers=2, partial=True, **pipeline):
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
                "loader": {"batch_size": batch_size, "num_workers": num_workers, "partial": partial},
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


def test_pipe_url_streams_a_shard_through_a_command_when_allowed(tmp_path):
    _write_shards(tmp_path, n_shards=1, per_shard=3)
    with pipe_urls_allowed():
        data = instantiate(_config(f"pipe:cat {tmp_path / 'shard-000.tar'}", batch_size=3, num_workers=0))
        data.setup("fit")
        (batch,) = list(data.train_dataloader())
    assert sorted(batch["__key__"]) == ["000_000", "000_001", "000_002"]


def test_pipe_url_is_refused_unless_allowed_and_a_config_cannot_allow_it(tmp_path):
    marker = tmp_path / "ran"
    command = f"pipe:touch {marker}"
    with pytest.raises(SgmError, match="--allow-pipe"):
        instantiate(_config(command, num_workers=0))
    with pytest.raises(SgmError, match="shell command"):
        create_dataset(["PIPE:" + command[len("pipe:") :]])  # the scheme in any case
    inside_datapipeline = _config(command, num_workers=0)
    inside_datapipeline["params"]["train"]["datapipeline"]["allow_pipe"] = True
    with pytest.raises(ValueError, match="unknown key"):
        instantiate(inside_datapipeline)
    with pytest.raises(TypeError, match="allow_pipe"):
        instantiate({**_config(command), "params": {**_config(command)["params"], "allow_pipe": True}})
    with pipe_urls_allowed(False):
        with pytest.raises(SgmError):
            instantiate(_config(command, num_workers=0))
    assert not marker.exists()


class _RunsCommand:
    """Unpickling this runs a shell command: what a hostile shard member would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _write_shard(path, members: dict[str, bytes]):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            _add(tar, name, data)


def _npy(array: np.ndarray) -> bytes:
    data = io.BytesIO()
    np.save(data, array, allow_pickle=True)
    return data.getvalue()


def test_members_that_would_run_code_are_refused_and_the_sample_skipped(tmp_path, caplog):
    marker = tmp_path / "ran"
    hostile = pickle.dumps(_RunsCommand(marker))
    hostile_pth = io.BytesIO()
    torch.save({"x": _RunsCommand(marker)}, hostile_pth)
    image = io.BytesIO()
    Image.new("RGB", (8, 8), color=(255, 255, 255)).save(image, format="PNG")
    pth = io.BytesIO()
    torch.save(torch.ones(2), pth)
    good = {"png": image.getvalue(), "txt": b"fine", "npy": _npy(np.arange(3)), "pth": pth.getvalue()}
    bad = {  # each hostile member in a sample that is otherwise like the good one
        "pyd": {"pyd": hostile},
        "pkl": {"pkl": hostile},
        "pickle": {"pickle": hostile},
        "pth": {"pth": hostile_pth.getvalue()},
        "npy": {"npy": _npy(np.array([_RunsCommand(marker)], dtype=object))},
    }
    members = {f"good.{ext}": data for ext, data in good.items()}
    for name, replaced in bad.items():
        members |= {f"bad{name}.{ext}": data for ext, data in (good | replaced).items()}
    _write_shard(tmp_path / "shard.tar", members)
    config = _config(str(tmp_path / "shard.tar"), batch_size=8, num_workers=0)
    config["params"]["train"]["datapipeline"]["postprocessors"] = POSTPROCESSORS[:2]
    data = instantiate(config)
    data.setup("fit")
    with caplog.at_level("WARNING"):
        (batch,) = list(data.train_dataloader())
    assert batch["__key__"] == ["good"]  # the five others were skipped
    assert batch["txt"] == ["fine"] and batch["npy"][0].tolist() == [0, 1, 2]
    torch.testing.assert_close(batch["pth"][0], torch.ones(2))
    skipped = [record.getMessage() for record in caplog.records if "skipped a sample" in record.getMessage()]
    assert len(skipped) == 5
    assert sum("is a pickle, which can run code" in message for message in skipped) == 3
    assert not marker.exists()

    config["params"]["train"]["datapipeline"]["pipeline_config"] = {"handler": "raise"}
    data = instantiate(config)
    data.setup("fit")
    with pytest.raises(SgmError, match="unreadable sample"):
        list(data.train_dataloader())
    assert not marker.exists()


def test_member_decoders():
    assert decode_member(".json", b'{"a": 1}') == {"a": 1}
    assert decode_member(".cls", b"7") == 7 and decode_member(".txt", "é".encode()) == "é"
    assert decode_member(".mp4", b"raw") == b"raw"  # no decoder: passed on as bytes
    with pytest.raises(SgmError, match="pickle"):
        decode_member(".meta.pyd", pickle.dumps(1))


def _undecodable_shard(path):
    _write_shard(path, {"a.png": b"not a png", "a.txt": b"caption"})


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_stream_with_no_batch_is_an_error_naming_its_urls(tmp_path, num_workers):
    _write_shard(tmp_path / "empty.tar", {})
    _undecodable_shard(tmp_path / "broken.tar")
    _write_shards(tmp_path, n_shards=1, per_shard=3)  # shard-000.tar: 3 good samples
    for shard, partial in (("empty.tar", True), ("broken.tar", True), ("shard-000.tar", False)):
        data = instantiate(_config(str(tmp_path / shard), batch_size=4, num_workers=num_workers, partial=partial))
        data.setup("fit")
        with pytest.raises(SgmError, match=f"data.params.train \\({tmp_path / shard}\\) yielded no batch"):
            list(data.train_dataloader())


def test_a_resampled_stream_that_can_never_yield_is_an_error_at_setup(tmp_path):
    _undecodable_shard(tmp_path / "broken.tar")
    data = instantiate(_config(str(tmp_path / "broken.tar"), num_workers=0, resample=True))
    with pytest.raises(SgmError, match="no sample of .*broken.tar could be read"):
        data.setup("fit")


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
