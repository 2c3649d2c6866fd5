import pickle

import pytest
import torch
from safetensors.torch import save_file

from sgm.core.checkpoint import load_state_dict, read_layout
from sgm.core.errors import SgmError


def _one_line_error(call) -> str:
    with pytest.raises(SgmError) as error:
        call()
    assert "\n" not in str(error.value)
    return str(error.value)


def test_safetensors_load_and_header_layout(tmp_path, tiny_state_dict):
    save_file(
        {k: v.half() if v.is_floating_point() else v for k, v in tiny_state_dict.items()}, tmp_path / "a.safetensors"
    )
    loaded = load_state_dict(tmp_path / "a.safetensors")
    assert loaded.keys() == tiny_state_dict.keys()
    assert torch.equal(loaded["denoiser.sigmas"], tiny_state_dict["denoiser.sigmas"].half())
    layout = read_layout(tmp_path / "a.safetensors")
    assert layout["model.diffusion_model.0.weight"] == [[8, 4], "float16"]


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth"])
def test_pickle_needs_the_explicit_flag(tmp_path, tiny_state_dict, suffix):
    path = tmp_path / f"model{suffix}"
    torch.save({"state_dict": tiny_state_dict, "global_step": 3}, path)
    assert "--allow-pickle" in _one_line_error(lambda: load_state_dict(path))
    assert "--allow-pickle" in _one_line_error(lambda: read_layout(path))
    loaded = load_state_dict(path, allow_pickle=True)
    assert loaded.keys() == tiny_state_dict.keys()
    assert torch.equal(loaded["model.diffusion_model.0.weight"], tiny_state_dict["model.diffusion_model.0.weight"])


class NotATensor:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickle_with_code_is_refused_even_when_allowed(tmp_path):
    path = tmp_path / "evil.ckpt"
    with path.open("wb") as file:
        pickle.dump({"state_dict": {"w": NotATensor()}}, file)
    assert "not a readable torch checkpoint" in _one_line_error(lambda: load_state_dict(path, allow_pickle=True))


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", b"\xff" * 64]
)
def test_damaged_or_foreign_safetensors_is_one_line(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    assert str(path) in _one_line_error(lambda: load_state_dict(path))
    assert str(path) in _one_line_error(lambda: read_layout(path))


def test_truncated_safetensors_is_one_line(tmp_path, tiny_state_dict):
    path = tmp_path / "cut.safetensors"
    save_file(tiny_state_dict, path)
    path.write_bytes(path.read_bytes()[:-16])
    assert "damaged" in _one_line_error(lambda: load_state_dict(path))


def test_missing_file_and_unknown_suffix(tmp_path):
    assert "not found" in _one_line_error(lambda: load_state_dict(tmp_path / "absent.safetensors"))
    (tmp_path / "model.onnx").write_bytes(b"x")
    assert "unknown checkpoint type" in _one_line_error(lambda: load_state_dict(tmp_path / "model.onnx"))
    assert "not a file" in _one_line_error(lambda: read_layout(tmp_path))


def _safetensors(path, header: bytes, data: bytes = b"\x00" * 16):
    path.write_bytes(len(header).to_bytes(8, "little") + header + data)
    return path


@pytest.mark.parametrize(
    "header",
    [
        b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]}}',  # string offsets
        b'{"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}}',  # a shape that is not a list
        b'{"w": {"dtype": "F32", "shape": "22", "data_offsets": [0, 8]}}',
        b'{"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}}',
        b'{"w": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}}',
        b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}',
        b'{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}',  # 8 bytes cannot hold 3 floats
        b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "__metadata__": ["not", "a", "map"]}',
        b'{"w": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # nesting deeper than the JSON parser's recursion
    ],
)
def test_malformed_safetensors_headers_are_one_line(tmp_path, header):
    path = _safetensors(tmp_path / "odd.safetensors", header)
    for read in (read_layout, load_state_dict):
        assert str(path) in _one_line_error(lambda: read(path))
