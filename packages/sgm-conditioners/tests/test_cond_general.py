"""GeneralConditioner: output keys by dimension, concatenation dims, dropout (ucg), forced zeros, freezing."""

import pytest
import torch
from sgm.conditioners.general import GeneralConditioner
from sgm.conditioners.simple import ClassEmbedder
from sgm.core.nn.timestep import timestep_embedding

IDENTITY = "sgm.modules.encoders.modules.IdentityEncoder"  # the reference's name, mapped by the alias table


def _conditioner(**ucg) -> GeneralConditioner:
    return GeneralConditioner(
        [
            {"target": IDENTITY, "input_key": "ctx_a", **ucg.get("ctx_a", {})},
            {"target": IDENTITY, "input_key": "ctx_b"},
            {"target": IDENTITY, "input_key": "vec", **ucg.get("vec", {})},
            {
                "target": "sgm.modules.encoders.modules.ConcatTimestepEmbedderND",
                "params": {"outdim": 8},
                "input_key": "size",
            },
            {"target": IDENTITY, "input_key": "image"},
            {"target": IDENTITY, "input_key": "image2"},
        ]
    )


def _batch(n: int = 3) -> dict:
    return {
        "ctx_a": torch.randn(n, 5, 4),
        "ctx_b": torch.randn(n, 5, 6),
        "vec": torch.randn(n, 3),
        "size": torch.tensor([[64.0, 32.0]] * n),
        "image": torch.randn(n, 2, 4, 4),
        "image2": torch.randn(n, 3, 4, 4),
        "video": torch.randn(n, 2, 2, 4, 4),
        "video2": torch.randn(n, 1, 2, 4, 4),
    }


def test_outputs_are_joined_by_dimension():
    batch = _batch()
    out = _conditioner()(batch)
    assert set(out) == {"crossattn", "vector", "concat"}
    torch.testing.assert_close(out["crossattn"], torch.cat([batch["ctx_a"], batch["ctx_b"]], dim=2))
    size_emb = torch.cat([timestep_embedding(batch["size"][:, i], 8) for i in range(2)], dim=1)
    torch.testing.assert_close(out["vector"], torch.cat([batch["vec"], size_emb], dim=1))
    torch.testing.assert_close(out["concat"], torch.cat([batch["image"], batch["image2"]], dim=1))
    video = GeneralConditioner(
        [{"target": IDENTITY, "input_key": "video"}, {"target": IDENTITY, "input_key": "video2"}]
    )(batch)["concat"]
    torch.testing.assert_close(video, torch.cat([batch["video"], batch["video2"]], dim=1))


def test_cond_view_and_motion_keep_their_own_keys():
    batch = {"cond_view": torch.randn(2, 4, 3, 3), "cond_motion": torch.randn(2, 4, 3, 3)}
    out = GeneralConditioner(
        [{"target": IDENTITY, "input_key": "cond_view"}, {"target": IDENTITY, "input_key": "cond_motion"}]
    )(batch)
    assert set(out) == {"cond_view", "cond_motion"}
    torch.testing.assert_close(out["cond_motion"], batch["cond_motion"])


def test_ucg_rate_one_zeros_and_zero_keeps():
    batch = _batch()
    out = _conditioner(ctx_a={"ucg_rate": 1.0})(batch)
    assert torch.all(out["crossattn"][..., :4] == 0)
    torch.testing.assert_close(out["crossattn"][..., 4:], batch["ctx_b"])
    out = _conditioner(ctx_a={"ucg_rate": 0.0})(batch)
    torch.testing.assert_close(out["crossattn"][..., :4], batch["ctx_a"])


def test_ucg_draws_one_bernoulli_per_sample_in_embedder_order():
    conditioner = _conditioner(ctx_a={"ucg_rate": 0.5}, vec={"ucg_rate": 0.5})
    batch = _batch(8)
    torch.manual_seed(3)
    out = conditioner(batch)
    torch.manual_seed(3)
    keep_a = torch.bernoulli(0.5 * torch.ones(8))
    keep_vec = torch.bernoulli(0.5 * torch.ones(8))
    torch.testing.assert_close(out["crossattn"][..., :4], keep_a[:, None, None] * batch["ctx_a"])
    torch.testing.assert_close(out["vector"][:, :3], keep_vec[:, None] * batch["vec"])


def test_legacy_ucg_value_replaces_the_batch_value():
    conditioner = GeneralConditioner(
        [{"target": IDENTITY, "input_key": "txt", "ucg_rate": 1.0, "legacy_ucg_value": 0.0}]
    )
    batch = {"txt": torch.ones(4, 3, 2)}
    out = conditioner(batch)
    assert torch.all(out["crossattn"] == 0) and torch.all(batch["txt"] == 0)  # the reference edits the batch
    never = GeneralConditioner([{"target": IDENTITY, "input_key": "txt", "ucg_rate": 0.0, "legacy_ucg_value": 0.0}])
    assert torch.all(never({"txt": torch.ones(4, 3, 2)})["crossattn"] == 1)


def test_unconditional_conditioning_forces_zeros_and_restores_rates():
    conditioner = _conditioner(ctx_a={"ucg_rate": 1.0})
    batch_c, batch_uc = _batch(), _batch()
    c, uc = conditioner.get_unconditional_conditioning(
        batch_c, batch_uc, force_uc_zero_embeddings=["vec"], force_cond_zero_embeddings=["ctx_b"]
    )
    torch.testing.assert_close(c["crossattn"][..., :4], batch_c["ctx_a"])  # dropout off
    assert torch.all(c["crossattn"][..., 4:] == 0)
    torch.testing.assert_close(uc["crossattn"][..., 4:], batch_uc["ctx_b"])
    assert torch.all(uc["vector"][:, :3] == 0)
    assert conditioner.embedders[0].ucg_rate == 1.0
    c2, uc2 = conditioner.get_unconditional_conditioning(batch_c)
    torch.testing.assert_close(c2["vector"], uc2["vector"])


def test_frozen_embedders_stay_in_eval_and_trainable_ones_train():
    conditioner = GeneralConditioner(
        [
            {
                "target": "sgm.modules.encoders.modules.ClassEmbedder",
                "params": {"embed_dim": 4, "n_classes": 3},
                "input_key": "cls",
            },
            {
                "target": "sgm.modules.encoders.modules.ClassEmbedder",
                "params": {"embed_dim": 4, "n_classes": 3},
                "input_key": "cls2",
                "is_trainable": True,
            },
        ]
    )
    conditioner.train()
    frozen, trainable = conditioner.embedders
    assert not frozen.training and trainable.training
    assert not any(p.requires_grad for p in frozen.parameters())
    out = conditioner({"cls": torch.tensor([0, 2]), "cls2": torch.tensor([1, 1])})
    assert out["vector"].shape == (2, 8) and out["vector"].requires_grad
    assert set(conditioner.state_dict()) == {"embedders.0.embedding.weight", "embedders.1.embedding.weight"}


def test_class_embedder_unconditional_class_is_the_last():
    embedder = ClassEmbedder(embed_dim=4, n_classes=11, add_sequence_dim=True)
    embedder.input_key = "cls"
    uc = embedder.get_unconditional_conditioning(3)
    assert uc["cls"].tolist() == [10, 10, 10]
    assert embedder(uc["cls"]).shape == (3, 1, 4)


def test_config_errors_are_clear():
    with pytest.raises(KeyError, match="input_key"):
        GeneralConditioner([{"target": IDENTITY}])
    with pytest.raises(TypeError, match="AbstractEmbModel"):
        GeneralConditioner([{"target": "torch.nn.Identity", "input_key": "x"}])
