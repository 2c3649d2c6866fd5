"""Image to image: init image loading and sizing, the reference's noising and draw order, strength semantics."""

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.core.diffusion.tensor_shapes import append_dims
from sgm.core.errors import SgmError
from sgm.pipelines import SamplerSettings, build_sampler
from sgm.pipelines.conditioning import Prompt, conditioning_batch
from sgm.pipelines.images import image_to_tensor, load_image


def blocky_image(seed: int, width: int = 16, height: int = 16) -> Image.Image:
    """Random colours constant on 2 x 2 blocks, so the test first stage (2 x 2 pooling) encodes it exactly."""
    blocks = np.random.default_rng(seed).integers(0, 256, (height // 2, width // 2, 3), dtype=np.uint8)
    return Image.fromarray(blocks.repeat(2, axis=0).repeat(2, axis=1))


def as_array(samples) -> np.ndarray:
    return np.stack([np.asarray(image) for image in samples]).astype(np.float64)


def test_init_image_sets_the_size_rounded_down_to_the_model_multiple(text_pipeline):
    samples = text_pipeline.img2img(np.zeros((18, 22, 3), np.uint8), "a fox", strength=0.5)
    assert samples[0].size == (20, 16) and samples.parameters["strength"] == 0.5
    resized = text_pipeline.img2img(blocky_image(0), "a fox", strength=0.5, width=24, height=8, num_samples=2)
    assert [image.size for image in resized] == [(24, 8)] * 2


def test_init_image_from_a_file_and_a_list_of_images(text_pipeline, tmp_path):
    blocky_image(1).save(tmp_path / "init.png")
    from_file = text_pipeline.img2img(tmp_path / "init.png", "a fox", strength=0.5, seed=3)
    from_pil = text_pipeline.img2img(blocky_image(1), "a fox", strength=0.5, seed=3)
    assert np.array_equal(as_array(from_file), as_array(from_pil))
    several = text_pipeline.img2img([blocky_image(1), blocky_image(2)], "a fox", strength=0.5)
    assert len(several) == 2


def test_image_tensor_is_rgb_in_minus_one_to_one():
    tensor = image_to_tensor(Image.new("L", (4, 2), 255), 4, 2)
    assert tensor.shape == (1, 3, 2, 4) and torch.all(tensor == 1.0)
    assert torch.all(image_to_tensor(Image.new("RGB", (2, 2)), 2, 2) == -1.0)


@torch.no_grad()
def test_noising_and_draws_follow_the_reference(text_pipeline):
    """do_img2img: seed, conditioner, encode, eps = randn_like(z), x = (z + sigma_0 eps) / sqrt(1 + sigma_0^2)
    with sigma_0 the first sigma the strength keeps, then the sampler."""
    engine, image = text_pipeline.engine, blocky_image(4)
    samples = text_pipeline.img2img(image, "a fox", negative_prompt="dull", strength=0.5, seed=9)

    torch.manual_seed(9)
    keys = ["txt", "original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple"]
    batch, batch_uc = conditioning_batch(keys, Prompt("a fox", "dull"), 1, (16, 16))
    cond, uncond = engine.conditioner.get_unconditional_conditioning(batch, batch_uc)
    z = engine.encode_first_stage(image_to_tensor(image, 16, 16))
    eps = torch.randn_like(z)
    sampler = build_sampler(SamplerSettings(steps=4, guidance=5.0, progress=False), discrete_model=True)
    sigmas = sampler.discretization(4)
    sigma = sigmas[3]  # strength 0.5 keeps int(0.5 * 5) = 2 of the 5 sigmas (zero included): sigma_3 and 0
    start = (z + eps * append_dims(sigma, z.ndim)) / torch.sqrt(1.0 + sigma**2)

    from sgm.core.diffusion.discretization import Img2ImgDiscretizationWrapper

    sampler.discretization = Img2ImgDiscretizationWrapper(sampler.discretization, strength=0.5)
    assert torch.equal(sampler.discretization(4)[0], sigma)
    expected = sampler(lambda x, s, c: engine.denoiser(engine.model, x, s, c), start, cond=cond, uc=uncond)
    assert torch.equal(samples.latents, expected)


def test_small_strength_stays_close_and_full_strength_moves_away(text_pipeline):
    image = blocky_image(5)
    init = np.asarray(image).astype(np.float64)
    distance = {
        strength: np.abs(as_array(text_pipeline.img2img(image, "a fox", strength=strength, steps=20))[0] - init).mean()
        for strength in (0.05, 1.0)
    }
    assert distance[0.05] < 2.0  # one step at the smallest sigma: under 2 levels of 255 on average
    assert distance[1.0] > 10 * distance[0.05]


def test_full_strength_starts_from_noise_that_still_carries_the_image(text_pipeline):
    """At strength 1 the start is (z + sigma_max eps) / sqrt(1 + sigma_max^2): the image is a small term, so two
    init images give different samples, as in the reference."""
    first = as_array(text_pipeline.img2img(blocky_image(6), "a fox", strength=1.0, seed=2))
    second = as_array(text_pipeline.img2img(blocky_image(7), "a fox", strength=1.0, seed=2))
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("strength", [0.0, -0.5, 1.5, "half", True])
def test_strength_outside_zero_to_one_is_refused(text_pipeline, strength):
    with pytest.raises(SgmError, match="strength must be more than 0 and at most 1"):
        text_pipeline.img2img(blocky_image(0), "a fox", strength=strength)


def test_unreadable_init_images_are_one_line_errors(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(SgmError, match="notes.png is not a readable init image"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(SgmError, match="init image not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(SgmError, match="uint8"):
        load_image(np.zeros((4, 4, 3), np.float32))


def test_too_small_init_image_is_refused(text_pipeline):
    with pytest.raises(SgmError, match="needs at least 4x4"):
        text_pipeline.img2img(np.zeros((3, 8, 3), np.uint8), "a fox")
