"""The example configs in configs/examples train for two steps on data the test writes: a webdataset shard and an
image folder, each given on the command line as the configs' comments say. A `pipe:` URL runs only with
`--allow-pipe`, and a shard stream that yields no batch stops the run with one line instead of looping."""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sgm_train_app.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "configs" / "examples"
SMALL_RUN = [
    "--max-steps",
    "2",
    "lightning.callbacks.image_logger.params.batch_frequency=2",
    "model.params.sampler_config.params.num_steps=2",
]
SIZES = [(40, 36), (36, 48), (33, 33)]  # (width, height) before resizing to 32 and cropping


def _png(size: tuple[int, int], seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    data = io.BytesIO()
    Image.fromarray(pixels).save(data, format="PNG")
    return data.getvalue()


def _write_shard(path: Path) -> None:
    with tarfile.open(path, "w") as tar:
        for i, (width, height) in enumerate(SIZES * 2):
            meta = json.dumps({"original_width": width * 10, "original_height": height * 10}).encode()
            for suffix, data in (("png", _png((width, height), i)), ("txt", b"noise"), ("json", meta)):
                info = tarfile.TarInfo(f"{i:06d}.{suffix}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def _trained_run(logdir: Path) -> Path:
    (run,) = logdir.iterdir()
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 2
    samples = list((run / "images" / "train").glob("samples_gs-000002_*.png"))
    assert len(samples) == 1 and Image.open(samples[0]).size == (2 * 32 + 3 * 2, 32 + 2 * 2)  # 2 images, 4 per row
    return run


def test_webdataset_example_trains_on_a_shard(tmp_path):
    _write_shard(tmp_path / "shard-000000.tar")
    urls = str(tmp_path / "shard-{000000..000000}.tar")
    loader = ["data.params.train.loader.batch_size=2", "data.params.train.loader.num_workers=0"]
    arguments = ["--base", str(EXAMPLES / "webdataset.yaml"), f"data.params.train.datapipeline.urls={urls}"]
    assert main([*arguments, *loader, *SMALL_RUN, "--logdir", str(tmp_path / "logs")]) == 0
    _trained_run(tmp_path / "logs")


def test_image_folder_example_trains_on_a_folder(tmp_path):
    images = tmp_path / "images" / "nested"
    images.mkdir(parents=True)
    for i, size in enumerate(SIZES + SIZES[:1]):
        (images / f"{i}.png").write_bytes(_png(size, i))
    (images / "0.txt").write_text("a caption")  # captions are optional in this config
    arguments = ["--base", str(EXAMPLES / "image_folder.yaml"), f"data.params.root={tmp_path / 'images'}"]
    loader = ["data.params.batch_size=2", "data.params.num_workers=0"]
    assert main([*arguments, *loader, *SMALL_RUN, "--logdir", str(tmp_path / "logs")]) == 0
    _trained_run(tmp_path / "logs")


def test_examples_say_which_value_is_missing(tmp_path, capsys):
    for name, key in (("webdataset", "data.params.train.datapipeline.urls"), ("image_folder", "data.params.root")):
        assert main(["--base", str(EXAMPLES / f"{name}.yaml"), "--logdir", str(tmp_path)]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"{key}: the config leaves this to you; give it as key=value" in line


def test_webdataset_pipe_urls_need_allow_pipe_on_the_command_line(tmp_path, capsys):
    _write_shard(tmp_path / "shard.tar")
    marker = tmp_path / "ran"
    base = ["--base", str(EXAMPLES / "webdataset.yaml"), "data.params.train.loader.num_workers=0"]
    hostile = f"data.params.train.datapipeline.urls=pipe:touch {marker}"
    assert main([*base, hostile, "--logdir", str(tmp_path / "refused")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "is a shell command, which a config may not run; if you trust it, add --allow-pipe" in line
    assert not marker.exists() and not (tmp_path / "refused").exists()

    piped = f"data.params.train.datapipeline.urls=pipe:cat {tmp_path / 'shard.tar'}"
    loader = ["data.params.train.loader.batch_size=2", *SMALL_RUN, "--logdir", str(tmp_path / "logs")]
    assert main([*base, piped, *loader, "--allow-pipe"]) == 0
    _trained_run(tmp_path / "logs")


def test_a_shard_stream_without_batches_stops_the_run(tmp_path, capsys):
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    finite = "data.params.train.datapipeline.pipeline_config.resample=false"
    for extra in ([], [finite]):  # resampled: refused at setup; finite: at the end of the first, empty pass
        arguments = [
            "--base",
            str(EXAMPLES / "webdataset.yaml"),
            f"data.params.train.datapipeline.urls={tmp_path / 'empty.tar'}",
        ]
        loader = ["data.params.train.loader.num_workers=0", "--max-steps", "2", "--logdir", str(tmp_path / "logs")]
        assert main([*arguments, *extra, *loader]) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("sgm-train: error: ") and "empty.tar" in last
