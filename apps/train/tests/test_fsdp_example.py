"""The SDXL FSDP example: its network is SDXL base's as sgm-pipelines ships it, its `lightning` block builds
Lightning's FSDPStrategy, and the two values it leaves open are named when missing. (It needs SDXL's weights and
GPUs to run; the DDP test trains on two CPU processes.)"""

from importlib import resources
from pathlib import Path

from lightning.pytorch.strategies import FSDPStrategy
from omegaconf import OmegaConf
from sgm.core.config import load_config
from sgm.train.trainer_config import trainer_arguments

from sgm_train_app.cli import main

EXAMPLE = str(Path(__file__).resolve().parents[1] / "configs" / "examples" / "sdxl_finetune_fsdp.yaml")


def test_the_network_is_sdxl_bases_and_the_strategy_is_fsdp(tmp_path):
    config = load_config(EXAMPLE)
    shipped = OmegaConf.load(resources.files("sgm.pipelines") / "configs/models/sd_xl_base.yaml")
    assert config.model.params.network_config == shipped.model.params.network_config
    assert config.model.params.first_stage_config == shipped.model.params.first_stage_config
    strategy = trainer_arguments(config.lightning, max_steps=None)["strategy"]
    assert isinstance(strategy, FSDPStrategy)
    assert strategy.sharding_strategy.name == "FULL_SHARD" and strategy._state_dict_type == "sharded"


def test_the_weights_and_the_images_are_left_to_the_command_line(tmp_path, capsys):
    assert main(["--base", EXAMPLE, "--logdir", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "model.params.ckpt_path: the config leaves this to you; give it as key=value" in line
    assert main(["--base", EXAMPLE, "model.params.ckpt_path=x.safetensors", "--logdir", str(tmp_path)]) == 2
    assert "data.params.root: the config leaves this to you" in capsys.readouterr().err
