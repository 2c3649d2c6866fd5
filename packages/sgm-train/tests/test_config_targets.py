"""sgm-train's registry lets configs build its data modules, schedules and callbacks, and nothing else in it."""

import pytest

from sgm.core.config import ConfigError, instantiate, resolve
from sgm.train import registry


@pytest.mark.parametrize(
    "target",
    ["sgm.train.checkpoint_io.atomic_torch_save", "sgm.train.data.restricted_pickle.DataUnpickler",
     "sgm.train.launch.TrainRun", "lightning.pytorch.callbacks.LambdaCallback"],
)  # fmt: skip
def test_helpers_in_allowed_modules_are_refused_naming_the_key_path(tmp_path, target):
    written = tmp_path / "written.pt"
    config = {"target": target, "params": {"obj": {"x": 1}, "path": str(written)}}
    with pytest.raises(ConfigError, match=r"^data\.params\.train\.target: .* is not allowed in a config"):
        instantiate(config, key_path="data.params.train")
    assert not written.exists()


def test_every_registered_target_exists():
    for module, names in registry.CONFIG_TARGETS.items():
        for name in names:
            assert callable(resolve(f"{module}.{name}"))
