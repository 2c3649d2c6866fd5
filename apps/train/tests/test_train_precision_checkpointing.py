"""Mixed precision from `lightning.trainer.precision` (bf16 autocast on the CPU) and gradient checkpointing from the
UNet's `use_checkpoint`, on the tiny class-conditional model."""

import csv
import math
from pathlib import Path

import torch

from sgm.core.config import instantiate, load_config
from sgm.train.diffusion_module import DiffusionTrainer
from sgm.train.launch import TrainOptions, fit

TINY = Path(__file__).parent / "configs" / "tiny_cond.yaml"
QUIET = ["lightning.callbacks.image_logger.params.disabled=true", "lightning.trainer.log_every_n_steps=1"]


def test_bf16_mixed_trains_with_fp32_weights_and_bf16_activations(tmp_path):
    overrides = [*QUIET, "lightning.trainer.precision=bf16-mixed"]
    run = fit(TrainOptions(base=[TINY], overrides=overrides, logdir=tmp_path, max_steps=3))
    assert run.trainer.global_step == 3
    with open(run.run_dir.root / "metrics" / "version_0" / "metrics.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f) if row.get("loss")]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)

    network = run.module.engine.model.diffusion_model
    assert all(p.dtype == torch.float32 for p in network.parameters())  # the optimizer keeps fp32 master weights
    conv_dtypes = set()
    for conv in (m for m in network.modules() if isinstance(m, torch.nn.Conv2d)):
        conv.register_forward_hook(lambda module, inputs, output: conv_dtypes.add(output.dtype))
    with run.trainer.precision_plugin.forward_context():
        out = network(torch.randn(2, 1, 8, 8), torch.ones(2), y=torch.randn(2, 16))
    assert conv_dtypes == {torch.bfloat16}  # the plugin's autocast reaches the network's convolutions
    assert out.dtype == torch.float32 and torch.isfinite(out).all()  # returned in the input's dtype


def _trainer(use_checkpoint: bool) -> DiffusionTrainer:
    config = load_config(TINY, overrides=[f"model.params.network_config.params.use_checkpoint={use_checkpoint}"])
    return DiffusionTrainer(instantiate(config.model), learning_rate=1e-3)


def _gradients(module: DiffusionTrainer, batch: dict) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)  # the same noise levels, noise and label dropout for both
    loss, _ = module.shared_step(dict(batch))
    loss.backward()
    return {name: p.grad for name, p in module.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_recomputes_and_gives_the_same_gradients():
    plain, checkpointed = _trainer(False), _trainer(True)
    checkpointed.load_state_dict(plain.state_dict())
    first_block = checkpointed.engine.model.diffusion_model.input_blocks[1][0]
    calls = []
    first_block.in_layers.register_forward_hook(lambda *args: calls.append(1))

    batch = {"jpg": torch.rand(4, 1, 8, 8) * 2 - 1, "cls": torch.tensor([0, 3, 5, 9])}
    expected, actual = _gradients(plain, batch), _gradients(checkpointed, batch)
    assert len(calls) == 2  # once forward, once again during backward: activations were not kept
    assert expected.keys() == actual.keys() and len(expected) == len(list(plain.parameters()))
    for name, grad in expected.items():
        torch.testing.assert_close(actual[name], grad, rtol=1e-5, atol=1e-7, msg=name)
