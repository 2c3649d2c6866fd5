"""Video inputs are bounded before decoding: the frame size and count come from the container, an image's size from
its header, and a reader never decodes more frames than asked for or `MAX_FRAMES`."""

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from sgm.core.errors import SgmError
from sgm.video.io import load_frames, reading
from sgm.video.io.reading import video_info


def _mp4(path, frames: int, width: int = 32, height: int = 16):
    with imageio.get_writer(path, fps=10, format="FFMPEG", codec="libx264", macro_block_size=1) as writer:
        for i in range(frames):
            writer.append_data(np.full((height, width, 3), 8 * i % 255, np.uint8))
    return path


def test_video_info_counts_frames_without_decoding_them(tmp_path, monkeypatch):
    clip = _mp4(tmp_path / "clip.mp4", 12)
    gif = tmp_path / "clip.gif"
    frames = [Image.new("RGB", (24, 8), (30 * i, 0, 0)) for i in range(5)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=50)
    monkeypatch.setattr(reading, "_video_frames", lambda *a: pytest.fail("decoded frames to count them"))
    assert video_info(clip) == (12, 32, 16)
    assert video_info(gif) == (5, 24, 8)


def test_asking_for_every_frame_of_a_too_long_video_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "MAX_FRAMES", 10)
    clip = _mp4(tmp_path / "long.mp4", 11)
    with pytest.raises(SgmError, match=r"long.mp4 has 11 frames; at most 10 can be read"):
        load_frames(clip)
    assert len(load_frames(clip, max_frames=4)) == 4  # the first frames of a long video are fine
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(11):
        Image.new("RGB", (4, 4)).save(folder / f"{i:03d}.png")
    with pytest.raises(SgmError, match="has 11 frames"):
        load_frames(folder)
    with pytest.raises(SgmError, match="max_frames must be from 1 to 10"):
        load_frames(clip, max_frames=11)


def test_a_frame_declaring_too_many_pixels_is_refused_before_decoding(tmp_path):
    Image.new("1", (12000, 12000)).save(tmp_path / "bomb.png")
    with pytest.raises(SgmError, match="bomb.png declares 12000x12000 pixels"):
        load_frames(tmp_path / "bomb.png")


def test_an_unreadable_video_is_one_line_without_ffmpegs_banner(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 64)
    for read in (load_frames, video_info):
        with pytest.raises(SgmError, match="cannot read the video .*broken.mp4") as error:
            read(tmp_path / "broken.mp4")
        assert "\n" not in str(error.value) and "built with" not in str(error.value)
