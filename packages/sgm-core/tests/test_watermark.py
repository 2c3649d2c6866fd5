import os
import threading
import numpy as np
import pytest
import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.core.files import current_umask
from sgm.core.watermark import (
    WATERMARK_BITS,
    detect_watermark,
    embed_watermark,
    read_image,
    save_png,
    unique_output_path,
)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 256x256 colour gradient with texture and film grain. The reference's DWT-DCT method hides bits in the
    largest chroma coefficient of each block, so it needs chroma detail: on flat-coloured images (e.g. the shared
    test photo) it embeds too weakly to detect, in the reference as here."""
    y, x = np.mgrid[0:256, 0:256] / 255.0
    texture = 0.5 + 0.25 * np.sin(x * 23) * np.cos(y * 17)
    grain = np.random.default_rng(0).normal(0, 6, (256, 256, 3))
    return np.clip(np.stack([x, y, texture], axis=-1) * 255 + grain, 0, 255).astype(np.uint8)


def test_message_bits_are_the_references():
    assert len(WATERMARK_BITS) == 48 and int("".join(map(str, WATERMARK_BITS)), 2) == 0xB3EC907BB19E


def test_embed_then_detect_through_a_png_file(tmp_path, photo):
    marked = embed_watermark(photo)
    assert marked.shape == photo.shape and marked.dtype == np.uint8
    assert np.abs(marked.astype(int) - photo).mean() < 3  # invisible: a few levels at most
    path = save_png(marked, tmp_path / "marked.png", {"model": "sdxl-base", "seed": 1})
    detection = detect_watermark(path)
    assert detection.present and detection.bit_accuracy > 0.8
    assert not detect_watermark(photo).present


def test_pil_batch_and_tensor_inputs(photo):
    assert detect_watermark(embed_watermark(Image.fromarray(photo))).present
    batch = embed_watermark(np.stack([photo, photo[::-1].copy()]))
    assert all(detect_watermark(image).present for image in batch)
    tensor = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255  # (B, C, H, W) in [0, 1]
    marked = embed_watermark(tensor)
    assert marked.shape == tensor.shape and 0 <= marked.min() and marked.max() <= 1
    quantized = (marked[0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert detect_watermark(quantized).present


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(SgmError, match="too small"):
        detect_watermark(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(SgmError, match="need uint8 RGB"):
        embed_watermark(np.zeros((64, 64), np.float32))
    (tmp_path / "not.png").write_text("text")
    with pytest.raises(SgmError, match="not a readable image"):
        read_image(tmp_path / "not.png")


def test_png_metadata_is_written_as_text_chunks(tmp_path, photo):
    metadata = {"model": "sd-2.1", "prompt": "a cat", "seed": 7, "sampler": "EulerEDMSampler", "steps": 3}
    path = save_png(photo, tmp_path / "out.png", metadata)
    with Image.open(path) as image:
        assert image.text == {key: str(value) for key, value in metadata.items()}
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary file left


def test_unique_output_path_never_reuses_a_name(tmp_path):
    first = unique_output_path(tmp_path / "outputs" / "sdxl-base")
    assert first.name == "000001.png" and first.exists()
    (tmp_path / "outputs" / "sdxl-base" / "000007.png").write_bytes(b"x")
    assert unique_output_path(tmp_path / "outputs" / "sdxl-base").name == "000008.png"
    paths, lock = [], threading.Lock()

    def reserve():
        path = unique_output_path(tmp_path / "race", "img-", ".png")
        with lock:
            paths.append(path)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == 8


def test_saved_png_has_the_mode_open_would_give(tmp_path):
    path = save_png(np.zeros((4, 4, 3), np.uint8), tmp_path / "image.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # not the temporary file's private 0600
    real = os.umask(0o022)  # os.umask reads only by setting; put it back at once
    os.umask(real)
    assert current_umask() == real
