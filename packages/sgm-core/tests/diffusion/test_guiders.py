"""Guiders: classifier-free guidance algebra, batching of conditioning, per-frame scale profiles."""

import pytest
import torch

from sgm.core.diffusion.guiders import (
    IdentityGuider,
    LinearPredictionGuider,
    SpatiotemporalPredictionGuider,
    TrapezoidPredictionGuider,
    TrianglePredictionGuider,
    VanillaCFG,
)


def uncond_cond_pair(batch=4):
    torch.manual_seed(0)
    x_u, x_c = torch.randn(batch, 3, 2, 2), torch.randn(batch, 3, 2, 2)
    return x_u, x_c, torch.cat([x_u, x_c])


def test_cfg_scale_one_is_the_conditional_prediction_and_zero_the_unconditional():
    x_u, x_c, both = uncond_cond_pair()
    assert torch.equal(VanillaCFG(1.0)(both, None), x_u + (x_c - x_u))
    assert torch.allclose(VanillaCFG(1.0)(both, None), x_c)
    assert torch.equal(VanillaCFG(0.0)(both, None), x_u)
    assert torch.allclose(VanillaCFG(7.5)(both, None), x_c + 6.5 * (x_c - x_u))


def test_cfg_prepare_inputs_batches_uncond_first_and_shares_other_keys():
    x, s = torch.randn(2, 4), torch.tensor([3.0, 3.0])
    c = {"crossattn": torch.ones(2, 5, 8), "vector": torch.ones(2, 6), "concat": torch.ones(2, 4), "mask": "m"}
    uc = {key: torch.zeros_like(value) for key, value in c.items() if key != "mask"} | {"mask": "m"}
    x_out, s_out, c_out = VanillaCFG(5.0).prepare_inputs(x, s, c, uc)
    assert torch.equal(x_out, torch.cat([x, x])) and torch.equal(s_out, torch.cat([s, s]))
    for key in ("crossattn", "vector", "concat"):
        assert torch.equal(c_out[key], torch.cat([uc[key], c[key]]))
    assert c_out["mask"] == "m"
    with pytest.raises(ValueError, match="'mask' differs"):
        VanillaCFG(5.0).prepare_inputs(x, s, c, uc | {"mask": "other"})


def test_identity_guider_passes_everything_through():
    x, s, c = torch.randn(2, 4), torch.ones(2), {"crossattn": torch.ones(2, 3)}
    x_out, s_out, c_out = IdentityGuider().prepare_inputs(x, s, c, {"crossattn": torch.zeros(2, 3)})
    assert x_out is x and s_out is s and c_out == c
    assert IdentityGuider()(x, s) is x


@pytest.mark.parametrize("guider", [VanillaCFG(5.0), LinearPredictionGuider(2.0, 2, additional_cond_keys="cond_view")])
def test_halves_give_back_the_uncond_and_cond_calls_the_batch_joins(guider):
    x, s = torch.randn(2, 4), torch.tensor([3.0, 3.0])
    c = {"crossattn": torch.randn(2, 5, 8), "cond_view": torch.randn(3, 4), "indicator": torch.ones(1, 2), "frames": 2}
    uc = {key: torch.randn_like(value) if isinstance(value, torch.Tensor) else value for key, value in c.items()}
    halves = guider.halves(*guider.prepare_inputs(x, s, c, uc))
    assert len(halves) == 2
    for (x_half, s_half, c_half), given in zip(halves, (uc, c)):
        assert torch.equal(x_half, x) and torch.equal(s_half, s) and c_half.keys() == c.keys()
        for key, value in c_half.items():  # a batched key's own half; a shared one is cond's, in both calls
            expected = given[key] if key in guider.batched_keys else c[key]
            assert value is expected or torch.equal(value, expected), key


def test_a_batch_without_guidance_is_its_own_only_half():
    x, s, c = torch.randn(2, 4), torch.ones(2), {"crossattn": torch.ones(2, 3)}
    assert IdentityGuider().halves(x, s, c) == [(x, s, c)]


def test_linear_guider_scale_rises_from_min_to_max_per_frame():
    guider = LinearPredictionGuider(max_scale=3.0, num_frames=5, min_scale=1.0)
    assert guider.scale.dtype == torch.float32 and guider.scale.shape == (1, 5)
    assert torch.allclose(guider.scale[0], torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0]))


def test_prediction_guider_applies_each_frames_scale_to_every_video():
    frames, videos = 5, 2
    guider = LinearPredictionGuider(max_scale=3.0, num_frames=frames)
    x_u, x_c, both = uncond_cond_pair(batch=frames * videos)
    guided = guider(both, None)
    for index in range(frames * videos):
        w = guider.scale[0, index % frames]
        assert torch.allclose(guided[index], x_u[index] + w * (x_c[index] - x_u[index]))
    with pytest.raises(ValueError, match="whole number of 5-frame videos"):
        guider(torch.cat([x_u[:3], x_c[:3]]), None)


def test_prediction_guider_batches_additional_cond_keys():
    guider = LinearPredictionGuider(max_scale=2.0, num_frames=2, additional_cond_keys="cond_view")
    c = {"crossattn": torch.ones(2, 1), "cond_view": torch.ones(2, 3), "image_only_indicator": torch.ones(1, 2)}
    uc = {key: torch.zeros_like(value) for key, value in c.items()}
    _, _, c_out = guider.prepare_inputs(torch.randn(2, 4), torch.ones(2), c, uc)
    assert torch.equal(c_out["cond_view"], torch.cat([uc["cond_view"], c["cond_view"]]))
    assert c_out["image_only_indicator"] is c["image_only_indicator"]


def test_triangle_guider_is_min_at_both_ends_and_max_in_the_middle():
    guider = TrianglePredictionGuider(max_scale=2.5, num_frames=21, min_scale=1.0)
    scale = guider.scale[0]
    assert guider.scale.shape == (1, 21)
    assert scale[0].item() == pytest.approx(1.0) and scale[-1].item() == pytest.approx(1.0)
    assert scale[10].item() == pytest.approx(2.5) and scale.max().item() == pytest.approx(2.5)
    assert torch.allclose(scale, torch.flip(scale, (0,)))
    two_periods = TrianglePredictionGuider(2.5, 21, period=[1.0, 0.5], period_fusing="max").scale
    assert torch.all(two_periods >= scale - 1e-6)


def test_trapezoid_guider_rises_holds_one_and_falls():
    guider = TrapezoidPredictionGuider(max_scale=3.0, num_frames=10, min_scale=1.0, edge_perc=0.3)
    expected = torch.tensor([1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0, 3.0, 2.0, 1.0])
    assert torch.allclose(guider.scale[0], expected)


def test_spatiotemporal_guider_combines_time_ramp_and_view_triangle():
    views, times = 4, 3
    guider = SpatiotemporalPredictionGuider(max_scale=3.0, num_frames=views * times, num_views=views, min_scale=1.0)
    scale = guider.scale.view(times, views)
    time_ramp = torch.linspace(0, 1, times)[:, None] * 0.5
    view_wave = 2 * (torch.linspace(0, 1, views) - torch.round(torch.linspace(0, 1, views))).abs()[None, :] * 0.5
    assert torch.allclose(scale, (time_ramp + view_wave) * 2.0 + 1.0)
    assert scale[0, 0].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="multiple of num_views"):
        SpatiotemporalPredictionGuider(3.0, num_frames=10, num_views=4)
