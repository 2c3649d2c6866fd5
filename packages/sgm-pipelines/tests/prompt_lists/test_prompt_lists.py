"""Prompt lists: plain and JSON Lines, each line's seed from its position, bad lines named by number before
anything loads (the checkpoint only has to exist: nothing reads it)."""

from pathlib import Path

import pytest

from sgm.core.errors import SgmError
from sgm.pipelines import Request, catalog
from sgm.pipelines.prompt_lists import line_requests, line_seed, parse_prompt_list, read_prompt_list
from sgm.pipelines.seeds import MAX_SEED


@pytest.fixture
def checkpoints(tmp_path, monkeypatch) -> Path:
    """An (unreadable) sdxl-base checkpoint under its official name: enough for every check before loading."""
    monkeypatch.setenv(catalog.CHECKPOINT_DIR_ENV, str(tmp_path))
    (tmp_path / catalog.get_entry("sdxl-base").file).write_bytes(b"")
    return tmp_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text(text)
    return path


def test_plain_and_json_lines_in_order_blank_lines_skipped(tmp_path):
    path = write(tmp_path, 'a red fox\n\n  {"prompt": "a lighthouse", "seed": 9, "width": 768, "negative_prompt": '
                 '"fog"}\n{"prompt": "a cat", "elevations_deg": [1, 2], "init_image": "in.png"}\n')
    lines = read_prompt_list(path)
    assert [(line.number, line.index) for line in lines] == [(1, 0), (3, 1), (4, 2)]
    assert lines[0].fields == {"prompt": "a red fox"}
    assert lines[1].fields == {"prompt": "a lighthouse", "seed": 9, "width": 768, "negative_prompt": "fog"}
    assert lines[2].fields == {"prompt": "a cat", "elevations_deg": (1, 2), "init_image": Path("in.png")}


def test_each_line_seed_is_the_base_seed_plus_its_position_unless_it_sets_one(tmp_path, checkpoints):
    lines = read_prompt_list(write(tmp_path, 'one\ntwo\n{"prompt": "three", "seed": 5}\nfour\n'))
    assert [r.seed for r in line_requests(lines, Request(model="sdxl-base", seed=100))] == [100, 101, 5, 103]
    default = catalog.get_entry("sdxl-base").defaults["seed"]
    assert [r.seed for r in line_requests(lines, Request(model="sdxl-base"))][:2] == [default, default + 1]
    assert line_seed(MAX_SEED, 2) == 1


def test_line_requests_keep_the_commands_options_and_fill_the_output(tmp_path, checkpoints):
    lines = read_prompt_list(write(tmp_path, '{"prompt": "a fox", "steps": 3}\n'))
    (request,) = line_requests(lines, Request(model="sdxl-base", steps=9, cfg=4.0, output=tmp_path / "out"))
    assert (request.prompt, request.steps, request.cfg, request.output) == ("a fox", 3, 4.0, tmp_path / "out")
    assert request.ckpt == checkpoints / "sd_xl_base_1.0.safetensors"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('ok\n{"prompt": "x", "seed": 1,}\n', r"line 2: not valid JSON"),
        ('ok\n\n["a", "b"]\n{"prompt": [1]}\n', r"line 4: prompt must be text"),
        ('{"prompt": "x", "sed": 3}\n', r"line 1: unknown option 'sed': did you mean seed"),
        ('{"prompt": "x", "model": "sd-2.1"}\n', r"line 1: unknown option 'model'"),
        ('{"prompt": "x", "init_image": 3}\n', r"line 1: init_image must be a file path"),
    ],
)
def test_a_malformed_line_is_named_by_its_number(tmp_path, text, message):
    with pytest.raises(SgmError, match=message):
        read_prompt_list(write(tmp_path, text))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "x", "width": 100}', r"line 3: width 100: sdxl-base needs a multiple of 64"),
        ('{"prompt": "x", "seed": -4}', r"line 3: seed must be a whole number"),
        ('{"prompt": "x", "sampler": "eulr"}', r"line 3: unknown sampler 'eulr'"),
        ('{"prompt": "x", "fps": 7}', r"line 3: sdxl-base is a txt2img model and takes no fps"),
        ('{"prompt": "x", "width": "wide"}', r"line 3: "),
    ],
)
def test_a_line_the_model_cannot_take_is_named_before_anything_loads(tmp_path, checkpoints, line, message):
    lines = read_prompt_list(write(tmp_path, f"fine\nfine too\n{line}\n"))
    with pytest.raises(SgmError, match=message):
        line_requests(lines, Request(model="sdxl-base"), "prompts.txt")


def test_an_empty_or_missing_list_is_one_line(tmp_path):
    with pytest.raises(SgmError, match="has no prompts"):
        read_prompt_list(write(tmp_path, "\n  \n"))
    with pytest.raises(SgmError, match="cannot read the prompt list"):
        read_prompt_list(tmp_path / "absent.txt")


def test_a_list_given_as_text_reads_as_its_file_does(tmp_path):
    """The web app's list box: the same lines as the file, nothing for blank text, errors named by its source."""
    text = 'a red fox\n\n{"prompt": "a lighthouse", "seed": 9}\n'
    assert parse_prompt_list(text, "prompt list") == read_prompt_list(write(tmp_path, text))
    assert parse_prompt_list(" \n\n") == []
    with pytest.raises(SgmError, match=r"^prompt list line 2: not valid JSON"):
        parse_prompt_list('ok\n{"prompt": "x",}\n')
