"""The config loader: left-to-right merge, dotlist overrides, interpolation, and the import allowlist."""

import pytest
import torch

from sgm.core.config import ConfigError, instantiate, load_config, resolve
from sgm.core.config.registry import config_registry

REFERENCE_TARGETS = config_registry().reference_targets
CONFIG_TARGETS = config_registry().config_targets


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_later_files_and_overrides_win(tmp_path):
    a = _write(tmp_path, "a.yaml", "model:\n  lr: 1.0\n  depth: 2\ndata:\n  batch: 4\n")
    b = _write(tmp_path, "b.yaml", "model:\n  lr: 2.0\n")
    config = load_config(a, b, overrides=["data.batch=8", "extra.flag=true"])
    assert config.model.lr == 2.0 and config.model.depth == 2
    assert config.data.batch == 8 and config.extra.flag is True


def test_interpolation_resolves_like_the_reference(tmp_path):
    path = _write(tmp_path, "c.yaml", "N_FRAMES: 14\nmodel:\n  params:\n    num_frames: ${N_FRAMES}\n")
    assert load_config(path).model.params.num_frames == 14


def test_missing_file_and_bad_override_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        load_config(overrides=["just_a_key"])


def test_instantiate_passes_params_as_they_are():
    layer = instantiate({"target": "torch.nn.Linear", "params": {"in_features": 3, "out_features": 2, "bias": False}})
    assert isinstance(layer, torch.nn.Linear) and layer.bias is None
    assert instantiate(None) is None
    assert instantiate({"target": "__is_unconditional__"}) is None


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "subprocess.run", "torch.load", "sgm_evil.x"])
def test_targets_outside_the_allowlist_fail_naming_the_key_path(target):
    with pytest.raises(ConfigError, match=r"model\.params\.network_config\.target") as error:
        instantiate({"target": target, "params": {}}, key_path="model.params.network_config")
    assert "not allowed" in str(error.value)


def test_prefix_lookalikes_are_not_allowed():
    with pytest.raises(ConfigError, match="not allowed"):
        resolve("torch.nnx.Module")


def test_unknown_name_is_a_clear_error_with_the_nearest():
    with pytest.raises(ConfigError, match="'torch.nn.Linearr' is not allowed.*did you mean 'torch.nn.Linear'"):
        resolve("torch.nn.Linearr")


@pytest.mark.parametrize(
    "target",
    [
        "sgm.core.checkpoint.reading.load_state_dict",  # a reader in an allowed package, with a path parameter
        "sgm.core.watermark.save_png",  # a writer
        "sgm.core.config.load_config",
        "torch.nn.functional.relu",  # a function in an allowed module
        "torch.nn.modules.module.register_module_forward_hook",
        "torch.optim.lr_scheduler.LambdaLR",
        "sgm.core.engine.resolve",  # a name the module merely imports
    ],
)
def test_the_allowlist_is_per_class_not_per_module(target):
    with pytest.raises(ConfigError, match=r"model\.params\.ckpt_writer\.target: .* is not allowed"):
        instantiate({"target": target, "params": {"obj": {}, "f": "written.pt"}}, key_path="model.params.ckpt_writer")


def test_a_refused_target_is_never_imported(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "antigravity", raising=False)
    with pytest.raises(ConfigError, match="not allowed"):
        resolve("antigravity.geohash")
    assert "antigravity" not in sys.modules


def test_every_allowed_name_is_a_class_or_function_that_exists():
    for target in sorted(CONFIG_TARGETS):
        assert callable(resolve(target)), target


def test_every_alias_points_inside_the_allowlist():
    for reference, ours in REFERENCE_TARGETS.items():
        assert ours in CONFIG_TARGETS, reference
