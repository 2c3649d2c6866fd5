"""Reading, framing and writing frames."""

import os

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from sgm.core.files import current_umask
from sgm.core.errors import SgmError
from sgm.video.io import (
    composite_on_white,
    cover_resize,
    frame_objects_on_white,
    load_frames,
    object_box,
    remove_background,
    take_frames,
    write_frames,
)


def _rgba_square(size=40, box=(10, 5, 20, 25)) -> Image.Image:
    array = np.zeros((size, size, 4), dtype=np.uint8)
    left, top, right, bottom = box
    array[top:bottom, left:right] = (200, 30, 30, 255)
    return Image.fromarray(array)


def test_shared_inputs_read_as_frames(shared_input):
    assert len(load_frames(shared_input("test_image.png"))) == 1
    for name in ("test_video1.mp4", "gear.gif", "bee.gif"):
        frames = load_frames(shared_input(name), max_frames=5)
        assert len(frames) == 5 and frames[0].size == frames[-1].size


def test_folder_and_pattern_read_in_name_order(tmp_path):
    for index in (2, 0, 1):
        Image.new("RGB", (8, 8), (index * 50, 0, 0)).save(tmp_path / f"f{index}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    reds = [f.getpixel((0, 0))[0] for f in load_frames(tmp_path)]
    assert reds == [0, 50, 100]
    assert [f.getpixel((0, 0))[0] for f in load_frames(tmp_path / "f*.png", max_frames=2)] == [0, 50]


@pytest.mark.parametrize("name", ["missing.png", "empty_dir", "bad.png", "clip.txt"])
def test_unreadable_inputs_are_one_clear_error(tmp_path, name):
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "clip.txt").write_text("hello")
    with pytest.raises(SgmError):
        load_frames(tmp_path / name)


def test_take_frames_needs_enough_frames():
    frames = [Image.new("RGB", (8, 8))] * 3
    assert len(take_frames(frames, 2)) == 2
    with pytest.raises(SgmError, match="needs at least 5"):
        take_frames(frames, 5)


def test_cover_resize_keeps_aspect_by_cropping():
    image = Image.new("RGB", (100, 50))
    assert cover_resize(image, 64, 64).size == (64, 64)
    with pytest.raises(SgmError):
        cover_resize(image, 60, 64)


def test_object_is_centred_and_spans_the_frame_ratio():
    framed = frame_objects_on_white([_rgba_square()], size=64, image_frame_ratio=0.5)[0]
    array = np.asarray(framed)
    assert framed.mode == "RGB" and framed.size == (64, 64)
    assert (array[0, 0] == 255).all()  # transparent padding becomes white
    left, top, right, bottom = object_box([framed])
    # the 10 x 20 box is centred on a 40 x 40 canvas (20 / 0.5), i.e. spans half the height, centred
    assert abs((top + bottom) / 2 - 32) <= 1 and abs((left + right) / 2 - 32) <= 1
    assert abs((bottom - top) - 32) <= 2 and abs((right - left) - 16) <= 2


def test_video_frames_share_one_box_so_motion_is_kept():
    frames = [_rgba_square(box=(5, 5, 15, 15)), _rgba_square(box=(25, 5, 35, 15))]
    first, second = (object_box([f]) for f in frame_objects_on_white(frames, size=32, image_frame_ratio=1.0))
    assert first[0] < second[0]  # the object still moves right


def test_frames_without_alpha_use_the_white_background():
    array = np.full((32, 32, 3), 255, dtype=np.uint8)
    array[8:16, 8:24] = 0
    assert object_box([Image.fromarray(array)]) == (8, 8, 24, 16)


def test_composite_on_white_is_alpha_blend():
    pixel = np.array([[[100, 0, 200, 128]]], dtype=np.uint8)
    out = np.asarray(composite_on_white(Image.fromarray(pixel)))[0, 0]
    alpha = 128 / 255
    expected = (np.array([100, 0, 200]) / 255 * alpha + 1 - alpha) * 255
    assert np.abs(out - expected).max() <= 1


def test_bad_frame_ratio_is_an_error():
    with pytest.raises(SgmError, match="image_frame_ratio"):
        frame_objects_on_white([_rgba_square()], size=32, image_frame_ratio=1.5)


def test_remove_background_keeps_rgba_and_explains_missing_model(tmp_path, monkeypatch):
    rgba = [_rgba_square()]
    assert remove_background(rgba) is rgba
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    with pytest.raises(SgmError, match="rembg"):
        remove_background([Image.new("RGB", (8, 8))])


@pytest.mark.parametrize("fmt", ["mp4", "gif", "frames"])
def test_writing_never_overwrites(tmp_path, fmt):
    frames = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    first = write_frames(frames, tmp_path, "clip", fmt=fmt, fps=5)
    second = write_frames(frames, tmp_path, "clip", fmt=fmt, fps=5)
    assert first != second and first.exists() and second.exists()
    assert second.name.startswith("clip-1")
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary files left
    if fmt == "frames":
        assert len(list(first.iterdir())) == 4
    else:
        assert len(load_frames(first)) == 4
    umask = current_umask()  # the temporary name's private mode is not kept: modes are as open()/mkdir() give
    expected = 0o777 & ~umask if fmt == "frames" else 0o666 & ~umask
    assert first.stat().st_mode & 0o777 == expected
    if fmt == "frames":
        assert all(frame.stat().st_mode & 0o777 == 0o666 & ~umask for frame in first.iterdir())


def test_written_mp4_round_trips_approximately(tmp_path):
    frames = np.zeros((3, 32, 32, 3), dtype=np.uint8)
    frames[:, :, :16] = 255
    path = write_frames(frames, tmp_path, "halves", fmt="mp4")
    read = np.stack([np.asarray(f) for f in load_frames(path)])
    assert read.shape == frames.shape
    assert np.abs(read.astype(int) - frames).mean() < 10
    assert imageio.get_reader(str(path), format="FFMPEG").get_meta_data()["fps"] == 7
