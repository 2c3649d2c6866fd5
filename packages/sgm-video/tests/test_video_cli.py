"""`sgm sample` and `sgm.video.pipelines.run` end to end: the catalog's svd / sv3d-p / sv4d2 entries pointed at
tiny versions of their configs, with tiny checkpoints in ./checkpoints under the official file names."""

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import save_file

from sgm.core import catalog
from sgm.core.pipelines.request import SampleRequest
from sgm.video.errors import VideoInputError
from sgm.video.pipelines import build_pipeline, run

cli = pytest.importorskip("sgm_cli.main", reason="the CLI app is not installed")


@dataclasses.dataclass(frozen=True)
class FileResource(catalog.Resource):
    """A config file outside any package (the catalog's Resource reads package data)."""

    def open_text(self) -> str:
        return Path(self.path).read_text()


@pytest.fixture
def tiny_catalog(tmp_path, monkeypatch, tiny_config):
    """The catalog with tiny configs for svd, sv3d-p and sv4d2, their checkpoints in ./checkpoints; cwd tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    (tmp_path / "checkpoints").mkdir()
    entries = dict(catalog.CATALOG)
    for name in ("svd", "sv3d-p", "sv4d2"):
        config = tiny_config(name)
        path = tmp_path / f"{name}.yaml"
        OmegaConf.save(config, path)
        entries[name] = dataclasses.replace(entries[name], config=FileResource("tests", str(path)))
        torch.manual_seed(0)
        engine = build_pipeline(config, device="cpu", progress=False).engine
        state = {key: tensor.detach().clone().contiguous() for key, tensor in engine.state_dict().items()}
        save_file(state, tmp_path / "checkpoints" / entries[name].file)
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(entries))
    return tmp_path


def sample(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main(["sample", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_sample_svd_writes_an_mp4_and_never_overwrites(capsys, tiny_catalog, shared_input):
    image = str(shared_input("test_image.png"))
    status, out, _ = sample(capsys, "--model", "svd", "--init-image", image, "--device", "cpu")
    assert status == 0
    first = Path(out.strip())
    assert first.suffix == ".mp4" and first.parent == Path("outputs/svd") and first.stat().st_size > 0
    content = first.read_bytes()
    status, out, _ = sample(capsys, "--model", "svd", "--init-image", image, "--device", "cpu")
    second = Path(out.strip())
    assert status == 0 and second != first and second.is_file() and first.read_bytes() == content


@pytest.mark.parametrize(
    ("model", "input_name", "message"),
    [
        ("sv4d2", "test_image.png", "at least 3"),  # one frame, the model samples 3
        ("sv4d2", "broken.mp4", "cannot read"),
        ("svd", "broken.png", "cannot"),
    ],
)
def test_bad_input_is_exit_2_and_one_line(capsys, tiny_catalog, shared_input, model, input_name, message):
    source = tiny_catalog / input_name
    if input_name.startswith("broken"):
        source.write_bytes(b"not a picture")
    else:
        source = shared_input(input_name)
    status, out, err = sample(capsys, "--model", model, "--init-image", str(source), "--device", "cpu")
    assert status == 2 and out == "" and message in err
    assert err.startswith("sgm: error: ") and err.count("\n") == 1
    assert not (tiny_catalog / "outputs").exists()


def test_run_takes_the_requests_options(tiny_catalog, shared_input):
    image = shared_input("test_image.png")
    request = SampleRequest(model="sv3d-p", output=Path("orbits"), init_image=image, seed=4, device="cpu",
                            options={"elevations_deg": [5.0, 10.0], "azimuths_deg": [90.0, 0.0]})  # fmt: skip
    (path,) = run(request)
    assert path == Path("orbits/sv3d-p-4.mp4") and path.is_file()
    wrong = dataclasses.replace(request, options={"elevations_deg": [5.0, 10.0, 15.0]})
    with pytest.raises(VideoInputError, match="elevations_deg"):
        run(wrong)
