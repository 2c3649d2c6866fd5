"""Inpainting on the tiny SDXL-shaped model: the kept region is the input's, the repainted one is sampled, all-black
and all-white masks are the input and plain image-to-image, and every bad mask is one clear line."""

import functools

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.pipelines import check_request, compiled
from sgm.pipelines.images import image_to_tensor
from sgm.pipelines.inpainting import MAX_MASK_SIDE, InpaintingDenoiser, latent_mask, load_mask
from sgm.pipelines.request import Request
from sgm.pipelines.running import sample_images

SIDE = 16  # the tiny model's images; its first stage halves each side (2 x 2 average pooling, nearest decoding)


def blocky_image(seed: int) -> Image.Image:
    """Random colours constant on 2 x 2 blocks, which the tiny first stage encodes and decodes exactly."""
    blocks = np.random.default_rng(seed).integers(0, 256, (SIDE // 2, SIDE // 2, 3), dtype=np.uint8)
    return Image.fromarray(blocks.repeat(2, axis=0).repeat(2, axis=1))


def mask_image(repaint_from_column: int, width: int = SIDE, height: int = SIDE) -> Image.Image:
    """Black (keep) left of `repaint_from_column`, white (repaint) from it on."""
    array = np.zeros((height, width), np.uint8)
    array[:, repaint_from_column:] = 255
    return Image.fromarray(array)


def pixels(samples) -> np.ndarray:
    return np.stack([np.asarray(image) for image in samples]).astype(np.float64)


def input_latents(pipeline, image: Image.Image) -> torch.Tensor:
    return pipeline.engine.encode_first_stage(image_to_tensor(image, SIDE, SIDE))


@pytest.mark.parametrize("sampler", ["DPMPP2MSampler", "euler_a", "heun", "dpm_2", "dpmpp_2m_sde", "lms"])
def test_the_kept_half_is_the_input_and_the_repainted_half_is_sampled(text_pipeline, sampler):
    image = blocky_image(1)
    samples = text_pipeline.img2img(image, "a fox", strength=0.8, mask=mask_image(8), sampler=sampler, seed=4)
    assert torch.equal(samples.latents[..., :4], input_latents(text_pipeline, image)[..., :4])
    difference = np.abs(pixels(samples)[0] - np.asarray(image))
    assert difference[:, :8].max() <= 1  # the decode-encode round trip, truncated to uint8
    assert difference[:, 8:].mean() > 10
    assert samples.parameters["inpainted"] is True


def test_an_all_black_mask_gives_the_input_back(text_pipeline):
    image = blocky_image(2)
    samples = text_pipeline.img2img(image, "a fox", strength=1.0, mask=mask_image(SIDE), seed=5)
    assert torch.equal(samples.latents, input_latents(text_pipeline, image))
    assert np.abs(pixels(samples)[0] - np.asarray(image)).max() <= 1


def test_an_all_white_mask_is_plain_img2img_with_the_same_seed(text_pipeline):
    image = blocky_image(3)
    plain = text_pipeline.img2img(image, "a fox", strength=0.6, seed=8, num_samples=2)
    masked = text_pipeline.img2img(image, "a fox", strength=0.6, seed=8, num_samples=2, mask=mask_image(0))
    assert torch.equal(masked.latents, plain.latents)
    assert np.array_equal(pixels(masked), pixels(plain))
    assert "inpainted" not in plain.parameters


def test_cuda_graph_sampling_inpaints_as_eager_sampling(text_pipeline, monkeypatch):
    """The blend happens outside the graphed denoiser: replaying it (an eager stand-in for the capture, no GPU here)
    gives the eager result."""
    image, mask = blocky_image(5), mask_image(6)
    eager = text_pipeline.img2img(image, "a fox", strength=0.7, mask=mask, seed=6)
    captures = []
    graphed = functools.partial(compiled.GraphedDenoiser, capture=lambda run: captures.append(run) or run)
    monkeypatch.setattr(compiled, "GraphedDenoiser", graphed)
    monkeypatch.setattr(text_pipeline, "sampling_mode", "graphs")
    assert torch.equal(text_pipeline.img2img(image, "a fox", strength=0.7, mask=mask, seed=6).latents, eager.latents)
    assert len(captures) == 1  # one batch shape: captured once, replayed every step


def test_the_network_sees_the_input_noised_to_each_sigma_in_every_guided_copy():
    latents, noise = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    repaint = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    repaint[..., 2:] = True
    seen = []
    denoiser = InpaintingDenoiser(lambda x, sigma, cond: seen.append(x) or x, latents, noise, repaint)
    x, sigma = torch.randn(4, 3, 4, 4), torch.tensor([0.5, 2.0, 0.5, 2.0])  # cond and uncond stacked, as CFG does
    denoiser(x, sigma, {})
    expected = torch.cat([latents, latents]) + torch.cat([noise, noise]) * sigma[:, None, None, None]
    assert torch.equal(seen[0][..., :2], expected[..., :2]) and torch.equal(seen[0][..., 2:], x[..., 2:])
    blended = denoiser.blend(x[:2])
    assert torch.equal(blended[..., :2], latents[..., :2]) and torch.equal(blended[..., 2:], x[:2, ..., 2:])


def test_a_latent_cell_is_repainted_when_any_of_its_pixels_is_white():
    array = np.zeros((8, 8), np.uint8)
    array[3, :] = 255  # a one-pixel line
    cells = latent_mask(load_mask(array), 8, 8, factor=4)
    assert cells.shape == (1, 1, 2, 2) and cells[0, 0, :, 0].tolist() == [True, False]
    half_size = latent_mask(load_mask(mask_image(2, 4, 4)), 8, 8, factor=2)  # resized (nearest) to the image
    assert half_size[0, 0].tolist() == [[False, False, True, True]] * 4


def test_grey_levels_and_transparency():
    grey = load_mask(np.array([[127, 128]], np.uint8))
    assert np.asarray(grey).ravel().tolist() == [0, 255]
    strokes = np.zeros((1, 2, 4), np.uint8)
    strokes[0, 1] = 255  # a white stroke; the other pixel is white but transparent
    strokes[0, 0, :3] = 255
    assert np.asarray(load_mask(strokes)).ravel().tolist() == [0, 255]


def test_the_refiner_keeps_the_mask(text_pipeline, refiner_pipeline, tmp_path):
    image = blocky_image(4)
    image.save(tmp_path / "init.png")
    mask_image(8).save(tmp_path / "mask.png")
    request = Request(model="tiny-text", output=tmp_path, prompt="a fox", init_image=tmp_path / "init.png",
                      mask=tmp_path / "mask.png", strength=0.7, refiner="tiny-refiner", refiner_strength=0.5,
                      seed=2)  # fmt: skip
    samples = sample_images([text_pipeline, refiner_pipeline], request)
    difference = np.abs(pixels(samples)[0] - np.asarray(image))
    assert difference[:, :8].max() <= 2  # two round trips (the refiner starts from the base's 8-bit images)
    assert difference[:, 8:].mean() > 10


def test_masks_the_pipeline_cannot_use_are_one_line_errors(text_pipeline, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("L", (MAX_MASK_SIDE + 1, 1)).save(tmp_path / "huge.png")
    cases = [
        (tmp_path / "missing.png", "mask file not found: .*missing.png"),
        (tmp_path / "notes.png", "cannot read mask .*notes.png .*white where to repaint"),
        (tmp_path / "huge.png", f"mask .*huge.png is 8193x1; a mask may be at most {MAX_MASK_SIDE} pixels a side"),
        (mask_image(4, 16, 8), "mask is 16x8 but the init image is 16x16: give a mask of the image's shape"),
        (np.zeros((4, 4), np.float32), "mask array must be uint8"),
    ]
    for mask, message in cases:
        with pytest.raises(SgmError, match=message) as error:
            text_pipeline.img2img(blocky_image(0), "a fox", mask=mask)
        assert "\n" not in str(error.value)


def test_requests_check_the_mask_before_anything_loads(tmp_path):
    blocky_image(0).save(tmp_path / "init.png")
    mask_image(4, 32, 16).save(tmp_path / "wide.png")
    mask_image(4, 32, 32).save(tmp_path / "twice.png")
    with pytest.raises(SgmError, match="a mask says what to repaint in an init image: give the image with --init"):
        check_request(Request(model="sd-2.1", mask=tmp_path / "twice.png"))
    with pytest.raises(SgmError, match="mask is 32x16 but the init image is 16x16"):
        check_request(Request(model="sd-2.1", init_image=tmp_path / "init.png", mask=tmp_path / "wide.png"))
    with pytest.raises(SgmError, match="digits is a class2img model and takes no init_image, mask"):
        check_request(Request(model="digits", init_image=tmp_path / "init.png", mask=tmp_path / "twice.png"))
    with pytest.raises(SgmError, match="svd is a img2video model and takes no mask"):
        check_request(Request(model="svd", input=tmp_path / "init.png", mask=tmp_path / "twice.png"))
    # a mask of the image's shape passes the mask checks (the missing checkpoint is what stops this one)
    with pytest.raises(SgmError, match="not found"):
        check_request(Request(model="sd-2.1", init_image=tmp_path / "init.png", mask=tmp_path / "twice.png",
                              output=tmp_path / "out"))  # fmt: skip
