"""Numbers and sizes that would exhaust memory are refused by `check_request`, before anything loads, in one line;
model names are found in any case and punctuation."""

import pytest
from PIL import Image

from sgm.core.errors import SgmError
from sgm.pipelines import Request
from sgm.pipelines.checks import check_request
from sgm.pipelines.images import load_image


@pytest.fixture(autouse=True)
def empty_workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SGM_CHECKPOINT_DIR", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steps": 1_000_000_000_000}, "steps 1000000000000 is more than digits can take: at most 1000"),
        ({"num": 100_000_000}, "num 100000000 is more than digits can take: at most 100"),
        ({"model": "sdxl-base", "width": 8192}, "8192x1024 (from --width/--height) is more than sdxl-base can sample"),
        ({"model": "sdxl-base", "width": 2048, "height": 4096}, "at most 4096 a side and 4.2 MP"),
        ({"model": "svd", "input": "x.png", "num_frames": 1000}, "num_frames 1000 is more than svd can take: at most"),
        ({"model": "sv3d-u", "input": "x.png", "img_size": 4096}, "img_size 4096 is more than sv3d-u can take"),
    ],
)
def test_numbers_past_the_models_limits_are_one_line(empty_workdir, fields, message):
    Image.new("RGB", (8, 8)).save(empty_workdir / "x.png")
    with pytest.raises(SgmError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        check_request(Request(**fields))
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in empty_workdir.iterdir()) == ["x.png"]  # nothing written


def test_an_init_image_too_large_to_sample_at_its_own_size(empty_workdir):
    Image.new("1", (4096, 4096)).save(empty_workdir / "big.png")
    with pytest.raises(SgmError, match=r"4096x4096 \(from the init image big.png\) is more than sd-2.1 can sample"):
        check_request(Request(model="sd-2.1", init_image="big.png"))
    with pytest.raises(SgmError, match="checkpoint v2-1_512-ema-pruned.safetensors not found"):
        check_request(Request(model="sd-2.1", init_image="big.png", width=512, height=512))  # resized: fine


def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(empty_workdir):
    Image.new("1", (12000, 12000)).save(empty_workdir / "bomb.png")  # 144 MP in a few kilobytes
    for read in (lambda: load_image("bomb.png"), lambda: check_request(Request(model="sd-2.1", init_image="bomb.png"))):
        with pytest.raises(SgmError, match="bomb.png declares 12000x12000 pixels"):
            read()


@pytest.mark.parametrize(("spelling", "name"), [("SDXL-Base", "sdxl-base"), ("svdxt", "svd-xt"), ("SD_2.1", "sd-2.1"),
                                                ("Digits", "digits")])  # fmt: skip
def test_model_names_in_any_case_and_punctuation(empty_workdir, spelling, name):
    Image.new("RGB", (8, 8)).save(empty_workdir / "x.png")
    if name == "digits":
        assert check_request(Request(model=spelling)).model == "digits"
        return
    with pytest.raises(SgmError, match=f"^{name}: checkpoint"):
        check_request(Request(model=spelling, input="x.png") if name == "svd-xt" else Request(model=spelling))


def test_an_ambiguous_name_suggests_the_models_it_may_mean(empty_workdir):
    with pytest.raises(SgmError, match="unknown model 'sdxl': did you mean .*sdxl-base"):
        check_request(Request(model="sdxl"))
