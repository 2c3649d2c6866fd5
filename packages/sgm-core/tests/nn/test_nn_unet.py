"""UNetModel: tiny configurations that take the code paths of the reference's configs."""

import pytest
import torch
import torch.nn as nn

from sgm.core.nn.unet import UNetModel
from sgm.kernels import use_backend

CONTEXT = 16
ADM = 24

BASE = dict(in_channels=4, out_channels=4, model_channels=32, num_res_blocks=1, channel_mult=[1, 2])

TINY_CONFIGS = {
    # SD 2.1: linear projections, heads of fixed width, one context
    "sd21": dict(
        BASE, attention_resolutions=[4, 2, 1], num_head_channels=8, use_linear_in_transformer=True,
        transformer_depth=1, context_dim=CONTEXT, use_checkpoint=True,
    ),
    # SDXL base: pooled vector through label_emb, no attention at level 0, deeper transformers below
    "sdxl": dict(
        BASE, attention_resolutions=[4, 2], num_head_channels=8, use_linear_in_transformer=True,
        transformer_depth=[0, 2], context_dim=CONTEXT, adm_in_channels=ADM, num_classes="sequential",
        spatial_transformer_attn_type="softmax-xformers", use_checkpoint=True,
    ),
    # SDXL refiner: context_dim given per transformer block
    "refiner": dict(
        BASE, attention_resolutions=[4, 2], num_head_channels=8, use_linear_in_transformer=True,
        transformer_depth=2, context_dim=[CONTEXT, CONTEXT], adm_in_channels=ADM, num_classes="sequential",
        spatial_transformer_attn_type="softmax-xformers",
    ),
    # toy class-conditional model without attention
    "toy_classes": dict(BASE, attention_resolutions=[], num_head_channels=32, num_classes=10),
    # the less used options: conv projections, num_heads, FiLM, ResBlock up/down, per-level switches
    "options": dict(
        BASE, num_res_blocks=[2, 1], attention_resolutions=[1, 2], num_heads=2, context_dim=CONTEXT,
        use_scale_shift_norm=True, resblock_updown=True, disable_self_attentions=[True, False],
        num_attention_blocks=[1, 1], transformer_depth_middle=3, num_classes="timestep", legacy=False,
    ),
    "continuous": dict(BASE, attention_resolutions=[2], num_heads=4, num_classes="continuous", context_dim=CONTEXT),
}  # fmt: skip


def _inputs(name, batch=2, size=16, dtype=None, seed=0):
    """(x, timesteps, context, y) for a config, on CPU."""
    gen = torch.Generator().manual_seed(seed)
    config = TINY_CONFIGS[name]
    x = torch.randn(batch, config["in_channels"], size, size, generator=gen)
    t = torch.randint(0, 1000, (batch,), generator=gen)
    context = torch.randn(batch, 5, CONTEXT, generator=gen) if config.get("context_dim") else None
    y = {
        None: None,
        "sequential": torch.randn(batch, ADM, generator=gen),
        "timestep": torch.rand(batch, generator=gen) * 1000,
        "continuous": torch.rand(batch, 1, generator=gen),
    }.get(config.get("num_classes"))
    if isinstance(config.get("num_classes"), int):
        y = torch.randint(0, config["num_classes"], (batch,), generator=gen)
    if dtype is not None:
        x = x.to(dtype)
        context = None if context is None else context.to(dtype)
        y = y.to(dtype) if y is not None and y.is_floating_point() else y
    return x, t, context, y


def _model(name, seed=0, **overrides):
    """A tiny UNet with random (not zero-initialised) weights, so every layer changes the output."""
    torch.manual_seed(seed)
    model = UNetModel(**{**TINY_CONFIGS[name], **overrides})
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    return model


@pytest.mark.parametrize("name", list(TINY_CONFIGS))
def test_forward_shape(name):
    model = _model(name)
    x, t, context, y = _inputs(name)
    with torch.no_grad():
        out = model(x, timesteps=t, context=context, y=y)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_output_layer_starts_at_zero():
    x, t, context, y = _inputs("sdxl")
    assert torch.all(UNetModel(**TINY_CONFIGS["sdxl"])(x, t, context, y) == 0)


def test_structure_follows_the_options():
    sdxl = UNetModel(**TINY_CONFIGS["sdxl"])
    names = [type(m).__name__ for m in sdxl.input_blocks[1]]
    assert names == ["ResBlock"]  # level 0 (ds 1) is not in attention_resolutions
    assert len(sdxl.input_blocks[3][1].transformer_blocks) == 2
    assert len(sdxl.middle_block[1].transformer_blocks) == 2  # the middle takes the last level's depth
    options = UNetModel(**TINY_CONFIGS["options"])
    assert len(options.middle_block[1].transformer_blocks) == 3
    assert [len(b) for b in options.input_blocks] == [1, 2, 1, 1, 2]  # num_attention_blocks=[1, 1]
    assert options.input_blocks[1][1].transformer_blocks[0].disable_self_attn
    assert type(options.input_blocks[3][0]).__name__ == "ResBlock"  # resblock_updown
    both = UNetModel(**{**TINY_CONFIGS["sd21"], "num_heads": 1})  # as txt2img-clipl: head width wins
    assert both.input_blocks[1][1].transformer_blocks[0].attn1.heads == 32 // 8
    refiner = UNetModel(**TINY_CONFIGS["refiner"])
    assert refiner.input_blocks[3][1].transformer_blocks[1].attn2.to_k.in_features == CONTEXT


def test_label_embedding_keys():
    assert {k for k in UNetModel(**TINY_CONFIGS["sdxl"]).state_dict() if k.startswith("label_emb")} == {
        "label_emb.0.0.weight", "label_emb.0.0.bias", "label_emb.0.2.weight", "label_emb.0.2.bias"
    }
    assert UNetModel(**TINY_CONFIGS["toy_classes"]).label_emb.weight.shape == (10, 128)


def test_y_is_required_exactly_for_class_conditional_models():
    x, t, context, y = _inputs("sdxl")
    with pytest.raises(ValueError, match="class-conditional"):
        _model("sdxl")(x, t, context)
    with pytest.raises(ValueError, match="class-conditional"):
        _model("sd21")(x, t, context, y)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="num_heads or num_head_channels"):
        UNetModel(**{**TINY_CONFIGS["sd21"], "num_head_channels": -1})
    with pytest.raises(ValueError, match="gets 0 heads of 1024 channels"):  # wider heads than channels
        UNetModel(**{**TINY_CONFIGS["sd21"], "num_head_channels": 1024})
    with pytest.raises(ValueError, match="num_classes"):
        UNetModel(**{**TINY_CONFIGS["sd21"], "num_classes": "labels"})
    with pytest.raises(ValueError, match="adm_in_channels"):
        UNetModel(**{**TINY_CONFIGS["sdxl"], "adm_in_channels": None})
    with pytest.raises(ValueError, match="transformer_depth"):
        UNetModel(**{**TINY_CONFIGS["sd21"], "transformer_depth": [1, 1, 1]})


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_runs_in_every_dtype(dtype):
    model = _model("sdxl").to(dtype)
    x, t, context, y = _inputs("sdxl", dtype=dtype)
    out = model(x, t, context, y)
    assert out.dtype == dtype and torch.isfinite(out).all()


def test_fp32_agrees_with_fp64():
    model = _model("options", use_checkpoint=False)
    x, t, context, y = _inputs("options")
    out32 = model(x, t, context, y)
    out64 = model.double()(x.double(), t, context.double(), y.double())
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out32.double(), out64, atol=1e-4, rtol=1e-4)


def test_fp32_inputs_run_a_half_precision_model():
    model = _model("sdxl").to(torch.bfloat16)
    x, t, context, y = _inputs("sdxl")
    assert model(x, t, context, y).dtype == torch.float32


def test_gradient_checkpointing_gives_the_same_gradients():
    x, t, context, y = _inputs("sd21", dtype=torch.float64)
    grads = []
    for use_checkpoint in (False, True):
        model = _model("sd21", use_checkpoint=use_checkpoint).double()
        model(x, t, context, y).square().mean().backward()
        grads.append({k: p.grad for k, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for key in grads[0]:
        torch.testing.assert_close(grads[1][key], grads[0][key], msg=key)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_attention_backends_agree(dtype, tol):
    model = _model("sdxl").to(dtype)
    x, t, context, y = _inputs("sdxl", dtype=dtype)
    with torch.no_grad(), use_backend("math"):
        reference = model(x, t, context, y)
    with torch.no_grad(), use_backend("sdpa"):
        torch.testing.assert_close(model(x, t, context, y), reference, atol=tol, rtol=tol)


class _Shift(nn.Module):
    """A block with an input UNetModel does not know: it adds `shift` to its input."""

    sequential_inputs = ("shift",)

    def forward(self, x: torch.Tensor, shift: float) -> torch.Tensor:
        return x + shift


class _ShiftUNet(UNetModel):
    """A subclass that fills the attention positions through the hook and threads its own input."""

    def _make_transformer(self, channels, heads, head_dim, depth, disable_self_attn):
        return _Shift()

    def forward(self, x, timesteps, shift):
        return self._run_levels(x, self._embedding(x, timesteps, None), shift=shift)


def test_subclasses_fill_the_same_layout_through_the_hooks():
    image = UNetModel(**TINY_CONFIGS["sd21"])
    torch.manual_seed(0)
    shifted = _ShiftUNet(**TINY_CONFIGS["sd21"])
    kinds = [[type(m).__name__ for m in block] for block in [*image.input_blocks, image.middle_block]]
    swapped = [[type(m).__name__ for m in block] for block in [*shifted.input_blocks, shifted.middle_block]]
    assert swapped == [["_Shift" if k == "SpatialTransformer" else k for k in block] for block in kinds]
    transformers = tuple(f"{name}." for name, m in image.named_modules() if type(m).__name__ == "SpatialTransformer")
    assert {k for k in image.state_dict() if not k.startswith(transformers)} == set(shifted.state_dict())
    with torch.no_grad():
        for p in shifted.parameters():
            p.normal_(0, 0.1)
        x, t, _, _ = _inputs("sd21")
        assert (shifted(x, t, 0.0) - shifted(x, t, 1.0)).abs().max() > 1e-3
