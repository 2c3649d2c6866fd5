"""`sgm sample` and `sgm.pipelines.run` end to end: the catalog's svd / sv3d-p / sv4d2 entries pointed at
tiny versions of their configs, with tiny checkpoints in ./checkpoints under the official file names."""

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from safetensors.torch import save_file

from sgm.pipelines import catalog
from sgm.core.checkpoint import read_layout
from sgm.core.errors import SgmError
from sgm.pipelines import Request, VideoPipeline, build_pipeline, run
from sgm.pipelines.testing import random_lora

cli = pytest.importorskip("sgm_cli.main", reason="the CLI app is not installed")


@dataclasses.dataclass(frozen=True)
class FileResource(catalog.Resource):
    """A config file outside any package (the catalog's Resource reads package data)."""

    def open_text(self) -> str:
        return Path(self.path).read_text()


def install_tiny_models(folder: Path, monkeypatch, tiny_config, names: tuple[str, ...]) -> dict:
    """Catalog entries `names` pointed at tiny configs with checkpoints in `folder`/checkpoints; cwd `folder`."""
    monkeypatch.chdir(folder)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    (folder / "checkpoints").mkdir()
    entries = dict(catalog.CATALOG)
    for name in names:
        config = tiny_config(name)
        path = folder / f"{name}.yaml"
        OmegaConf.save(config, path)
        entries[name] = dataclasses.replace(entries[name], config=FileResource("tests", str(path)))
        torch.manual_seed(0)
        engine = build_pipeline(config, device="cpu").engine
        state = {key: tensor.detach().clone().contiguous() for key, tensor in engine.state_dict().items()}
        save_file(state, folder / "checkpoints" / entries[name].file)
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(entries))
    return entries


@pytest.fixture
def tiny_catalog(tmp_path, monkeypatch, tiny_config):
    """The catalog with tiny configs for svd, sv3d-p and sv4d2, their checkpoints in ./checkpoints; cwd tmp_path."""
    entries = install_tiny_models(tmp_path, monkeypatch, tiny_config, ("svd", "sv3d-p", "sv4d2"))
    (tmp_path / "checkpoints" / entries["sv3d-u"].file).write_bytes(b"never loaded: its options fail first")
    return tmp_path


@pytest.fixture
def spy(monkeypatch):
    """What reached the pipeline: each conditioning batch, sampler step count and guider params, decoding_t."""
    seen = {"batches": [], "steps": [], "guiders": [], "decoding_t": []}
    conditionings, sampler, decode = VideoPipeline.conditionings, VideoPipeline.sampler, VideoPipeline.decode

    def spy_conditionings(self, batch, batch_uc, force_zero):
        seen["batches"].append(batch)
        return conditionings(self, batch, batch_uc, force_zero)

    def spy_sampler(self, *args, **kwargs):
        built = sampler(self, *args, **kwargs)
        seen["steps"].append(built.num_steps)
        seen["guiders"].append({"max_scale": built.guider.max_scale, "min_scale": built.guider.min_scale})
        return built

    def spy_decode(self, latents, decoding_t, progress):
        seen["decoding_t"].append(decoding_t)
        return decode(self, latents, decoding_t, progress)

    monkeypatch.setattr(VideoPipeline, "conditionings", spy_conditionings)
    monkeypatch.setattr(VideoPipeline, "sampler", spy_sampler)
    monkeypatch.setattr(VideoPipeline, "decode", spy_decode)
    return seen


def sample(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main(["sample", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_sample_svd_writes_an_mp4_and_never_overwrites(capsys, tiny_catalog, shared_input):
    image = str(shared_input("test_image.png"))
    status, out, _ = sample(capsys, "--model", "svd", "--input", image, "--device", "cpu")
    assert status == 0
    first = Path(out.strip())
    assert first.suffix == ".mp4" and first.parent == Path("outputs/svd") and first.stat().st_size > 0
    content = first.read_bytes()
    status, out, _ = sample(capsys, "--model", "svd", "--input", image, "--device", "cpu")
    second = Path(out.strip())
    assert status == 0 and second != first and second.is_file() and first.read_bytes() == content


def test_svd_flags_reach_the_pipeline(capsys, tiny_catalog, shared_input, spy):
    image = str(shared_input("test_image.png"))
    flags = ["--num-frames", "3", "--fps", "5", "--motion-bucket-id", "10", "--cond-aug", "0.1", "--steps", "2",
             "--cfg", "3.5", "--min-cfg", "1.5", "--decoding-t", "1", "--width", "128", "--height", "64",
             "--seed", "7", "--format", "frames", "--dtype", "fp32"]  # fmt: skip
    status, out, _ = sample(capsys, "--model", "svd", "--input", image, "--device", "cpu", *flags)
    assert status == 0
    folder = Path(out.strip())
    assert folder == Path("outputs/svd/svd-7") and folder.is_dir()
    frames = sorted(folder.glob("*.png"))
    assert len(frames) == 3 and all(Image.open(f).size == (128, 64) for f in frames)
    (batch,) = spy["batches"]
    assert batch["fps_id"].tolist() == [4] * 3 and batch["motion_bucket_id"].tolist() == [10] * 3
    assert batch["cond_aug"].tolist() == pytest.approx([0.1] * 3) and batch["num_video_frames"] == 3
    assert spy["steps"] == [2] and spy["decoding_t"] == [1]
    assert spy["guiders"][0]["max_scale"] == 3.5 and spy["guiders"][0]["min_scale"] == 1.5


def test_sv3d_p_takes_21_cameras_and_writes_a_gif(capsys, tiny_catalog, shared_input, spy):
    azimuths = [str(a) for a in range(17, 360, 17)]  # 21 values going round, the last the input view
    flags = ["--num-frames", "21", "--elevations-deg", *[str(e) for e in range(-10, 11)],
             "--azimuths-deg", *azimuths, "--img-size", "16", "--image-frame-ratio", "0.8",
             "--format", "gif"]  # fmt: skip
    status, out, _ = sample(capsys, "--model", "sv3d-p", "--input", str(shared_input("test_image.png")),
                            "--device", "cpu", *flags)  # fmt: skip
    assert status == 0
    gif = Image.open(out.strip())
    assert gif.n_frames == 21 and gif.size == (16, 16)
    (batch,) = spy["batches"]
    polars = torch.deg2rad(90.0 - torch.arange(-10.0, 11.0, dtype=torch.float64))
    assert batch["polars_rad"].double().allclose(polars.to(batch["polars_rad"].dtype).double(), atol=1e-6)
    assert spy["steps"] == [1]


def test_sv4d2_flags_reach_the_pipeline(capsys, tiny_catalog, shared_input, spy):
    flags = ["--num-frames", "3", "--encoding-t", "1", "--decoding-t", "2", "--img-size", "16", "--steps", "2",
             "--elevations-deg", "5", "--azimuths-deg", "0", "120", "240", "--cfg", "2.5"]  # fmt: skip
    status, out, _ = sample(capsys, "--model", "sv4d2", "--input", str(shared_input("bee.gif")),
                            "--device", "cpu", *flags)  # fmt: skip
    assert status == 0
    paths = [Path(line) for line in out.split()]
    assert [p.name for p in paths] == ["sv4d2-23-view01.mp4", "sv4d2-23-view02.mp4"]
    assert spy["steps"] == [2, 2] and set(spy["decoding_t"]) == {2}  # two windows of 2 frames cover 3 frames
    assert all(g["max_scale"] == 2.5 for g in spy["guiders"])


def test_sample_sv4d_uses_sv3d_reference_views_and_writes_every_view(capsys, tmp_path, monkeypatch, tiny_config,
                                                                      shared_input):  # fmt: skip
    """SV4D from the CLI: its SV3D_u reference-views model is found through the catalog like SV4D itself."""
    install_tiny_models(tmp_path, monkeypatch, tiny_config, ("sv3d-u", "sv4d"))
    video = str(shared_input("test_video1.mp4"))
    status, out, _ = sample(capsys, "--model", "sv4d", "--input", video, "--device", "cpu", "--format", "frames")
    assert status == 0
    folders = [Path(line) for line in out.split()]
    assert [f.name for f in folders] == [f"sv4d-23-view{v:02d}" for v in range(1, 9)]  # 8 novel views
    for folder in folders:
        frames = sorted(folder.glob("*.png"))
        assert len(frames) == 3 and all(Image.open(f).size == (16, 16) for f in frames)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "svd", "--elevations-deg", "10"], "svd is a img2video model and takes no elevations_deg"),
        (["--model", "svd", "--prompt", "a cat"], "takes no prompt"),
        (["--model", "digits", "--num-frames", "3"], "digits is a class2img model and takes no input, num_frames"),
        (["--model", "sv3d-u", "--elevations-deg", "10"], "sv3d-u makes a fixed orbit"),
        (["--model", "sv3d-p", "--elevations-deg", "1", "2", "3"], "give 1 elevation or a list of 2"),
        (["--model", "sv3d-p", "--num-frames", "3", "--azimuths-deg", "200", "100", "0"], "increasing order"),
        (["--model", "sv3d-p", "--remove-bg"], "U2NET_HOME"),
        (["--model", "sv3d-p", "--width", "64"], "takes no width"),
        (["--model", "svd", "--steps", "0"], "steps must be a positive whole number"),
        (["--model", "svd", "--motion-bucket-id", "2000"], "motion_bucket_id must be in [0, 1023]"),
        (["--model", "svd", "--num-frames", "0"], "num_frames must be a positive whole number"),
        (["--model", "sv4d2", "--num-frames", "1"], "give at least that many"),
    ],
)
def test_bad_flags_are_one_line_before_loading(capsys, tiny_catalog, shared_input, monkeypatch, argv, message):
    monkeypatch.setenv("U2NET_HOME", str(tiny_catalog / "no-rembg-models"))
    monkeypatch.setattr(VideoPipeline, "__init__", lambda *a, **k: pytest.fail("a model was built"))
    image = str(shared_input("test_image.png"))
    status, out, err = sample(capsys, *argv, "--input", image, "--device", "cpu")
    assert status == 2 and out == "" and message in err
    assert err.startswith("sgm: error: ") and err.count("\n") == 1
    assert not (tiny_catalog / "outputs").exists()


@pytest.mark.parametrize(
    ("model", "input_name", "message"),
    [
        ("sv4d2", "test_image.png", "at least 3"),  # one frame, the model samples 3
        ("sv4d2", "broken.mp4", "cannot read"),
        ("svd", "broken.png", "is not a readable image"),
    ],
)
def test_bad_input_is_exit_2_and_one_line(capsys, tiny_catalog, shared_input, model, input_name, message):
    source = tiny_catalog / input_name
    if input_name.startswith("broken"):
        source.write_bytes(b"not a picture")
    else:
        source = shared_input(input_name)
    status, out, err = sample(capsys, "--model", model, "--input", str(source), "--device", "cpu")
    assert status == 2 and out == "" and message in err
    assert err.startswith("sgm: error: ") and err.count("\n") == 1
    assert not (tiny_catalog / "outputs").exists()


def test_run_takes_the_requests_options(tiny_catalog, shared_input):
    image = shared_input("test_image.png")
    request = Request(model="sv3d-p", output=Path("orbits"), input=image, seed=4, device="cpu",
                      elevations_deg=(5.0, 10.0), azimuths_deg=(90.0, 0.0))  # fmt: skip
    (path,) = run(request)
    assert path == Path("orbits/sv3d-p-4.mp4") and path.is_file()
    wrong = request.replace(elevations_deg=(5.0, 10.0, 15.0))
    with pytest.raises(SgmError, match="elevations_deg"):
        run(wrong)


def textured_frames(count: int, size: int) -> torch.Tensor:
    """Colour gradients with texture and grain, `[T, 3, size, size]` in [0, 1]: the chroma detail the reference's
    DWT-DCT watermark needs (on flat colours it embeds too weakly to detect, in the reference as here)."""
    y, x = torch.meshgrid(torch.arange(size) / 255.0, torch.arange(size) / 255.0, indexing="ij")
    texture = 0.5 + 0.25 * torch.sin(x * 23) * torch.cos(y * 17)
    grain = torch.randn(count, 3, size, size, generator=torch.Generator().manual_seed(0)) * 6 / 255
    return (torch.stack([texture, x, y])[None] + grain).clamp(0, 1)


def test_video_frames_carry_the_watermark_unless_turned_off(capsys, tiny_catalog, shared_input, monkeypatch):
    """Every video frame is watermarked as the reference's video scripts do (`sgm detect` finds it), unless the user
    turns it off. The decoder is replaced by one with textured colour output (random tiny weights decode to nearly
    flat frames, on which the mark is too weak to detect); everything after it is the real path."""
    monkeypatch.setattr(VideoPipeline, "decode", lambda self, latents, decoding_t, progress: textured_frames(
        latents.shape[0], 256))  # fmt: skip
    image = str(shared_input("test_image.png"))
    flags = ["--model", "svd", "--input", image, "--device", "cpu", "--num-frames", "2", "--format", "frames"]
    status, out, _ = sample(capsys, *flags)
    assert status == 0
    frames = sorted(Path(out.strip()).glob("*.png"))
    assert len(frames) == 2
    status, out, _ = sample_detect(capsys, *map(str, frames))
    assert status == 0 and out.count("watermark present") == 2
    status, out, _ = sample(capsys, *flags, "--no-watermark")
    unmarked = sorted(Path(out.strip()).glob("*.png"))
    status, out, _ = sample_detect(capsys, *map(str, unmarked))
    assert out.count("no watermark") == 2


def sample_detect(capsys, *files) -> tuple[int, str, str]:
    status = cli.main(["detect", *files])
    out, err = capsys.readouterr()
    return status, out, err


def test_svd_takes_a_lora_for_its_unet(capsys, tiny_catalog, shared_input):
    unet = {key: shape for key, (shape, _) in read_layout(Path("checkpoints/svd.safetensors")).items()
            if key.startswith("model.diffusion_model.")}  # fmt: skip
    save_file(random_lora(unet, seed=1), "motion.safetensors")
    flags = ["--model", "svd", "--input", str(shared_input("test_image.png")), "--device", "cpu", "--num-frames", "2",
             "--format", "frames", "--seed", "3"]  # fmt: skip
    outputs = []
    for extra in ([], ["--lora", "motion.safetensors:0.5"]):
        status, out, err = sample(capsys, *flags, *extra)
        assert status == 0, err
        outputs.append(Path(out.strip()))
    plain, styled = ([np.asarray(Image.open(frame)) for frame in sorted(folder.glob("*.png"))] for folder in outputs)
    assert not all(np.array_equal(a, b) for a, b in zip(plain, styled, strict=True))
    recorded = json.loads(outputs[1].parent.joinpath(f"{outputs[1].name}.json").read_text())
    assert recorded["loras"] == ["motion.safetensors:0.5"]
    status, _, err = sample(capsys, "--model", "sv3d-p", "--input", flags[3], "--lora", "motion.safetensors")
    assert status == 2 and "sv3d-p is a img2orbit model and takes no loras" in err
