"""Uploads are checked from their headers before decoding: an image's size, a video's frame count and frame size;
each refusal is one line naming the upload by its file name, never by its path on the server."""

import tracemalloc

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from sgm_gradio.uploads import UploadError, UploadLimits, load_image, load_video_frames


def _peak_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _mp4(path, frames: int, side: int):
    with imageio.get_writer(path, fps=30, format="FFMPEG", codec="libx264", macro_block_size=1) as writer:
        for i in range(frames):
            writer.append_data(np.full((side, side, 3), i % 255, np.uint8))
    return path


def test_a_long_video_is_refused_from_its_frame_count_without_decoding_its_frames(tmp_path):
    clip = _mp4(tmp_path / "long.mp4", 900, 96)  # 25 MB of frames once decoded, 30 KB on disk

    def refused():
        with pytest.raises(UploadError, match="^long.mp4 has 900 frames; use a video with 1 to 300 frames"):
            load_video_frames(clip)

    assert _peak_bytes(refused) < 2 * 2**20


def test_a_video_within_the_limits_gives_its_frames(tmp_path):
    frames = load_video_frames(_mp4(tmp_path / "short.mp4", 5, 16))
    assert len(frames) == 5 and frames[0].size == (16, 16) and frames[0].mode == "RGB"
    with pytest.raises(UploadError, match="short.mp4 is 16x16; the largest side may be 8"):
        load_video_frames(tmp_path / "short.mp4", UploadLimits(max_pixels=8))


def test_an_image_too_large_is_refused_from_its_header(tmp_path):
    Image.new("L", (5000, 4000)).save(tmp_path / "large.png")  # 20 MB of pixels once decoded
    Image.new("1", (12000, 12000)).save(tmp_path / "bomb.png")  # 144 MP declared in a few kilobytes
    for name, message in (("large.png", "^large.png is 5000x4000; the largest side may be 4096"),
                          ("bomb.png", "^bomb.png declares 12000x12000 pixels")):  # fmt: skip

        def refused(name=name, message=message):
            with pytest.raises(UploadError, match=message):
                load_image(tmp_path / name)

        assert _peak_bytes(refused) < 2 * 2**20


@pytest.mark.parametrize(("name", "content"), [("broken.png", b"not an image"), ("broken.mp4", b"\x00" * 64)])
def test_unreadable_uploads_name_the_file_not_the_server_path(tmp_path, name, content):
    upload = tmp_path / name
    upload.write_bytes(content)
    read = load_video_frames if name.endswith(".mp4") else load_image
    with pytest.raises(UploadError) as error:
        read(upload)
    message = str(error.value)
    assert name in message and str(tmp_path) not in message and "\n" not in message
