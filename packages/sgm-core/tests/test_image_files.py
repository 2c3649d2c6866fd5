"""Image files are refused by their declared size before any pixel is decoded, each with one line."""

import struct
import zlib

import pytest
from PIL import Image

from sgm.core.errors import SgmError
from sgm.core.image_files import MAX_IMAGE_PIXELS, image_file_size, read_image_file
from sgm.core.watermark import detect_watermark, read_image


def declared_png(path, width: int, height: int):
    """A PNG of a few bytes whose header declares `width` x `height` RGB pixels (and holds none of them)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))  # fmt: skip
    return path


@pytest.mark.parametrize("side", [12000, 50000])  # 144 MP: Pillow only warns; 2500 MP: Pillow raises its own error
def test_a_huge_declared_size_is_one_line_before_decoding(tmp_path, side):
    path = declared_png(tmp_path / "bomb.png", side, side)
    for read in (read_image_file, read_image, image_file_size, detect_watermark):
        with pytest.raises(SgmError, match=r"bomb\.png declares .*give a smaller image") as error:
            read(path)
        assert "\n" not in str(error.value)


def test_pillows_bomb_warning_never_reaches_the_user(tmp_path, recwarn):
    with pytest.raises(SgmError):
        read_image(declared_png(tmp_path / "bomb.png", 10000, 10000))  # 100 MP: above Pillow's warning threshold
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_images_up_to_the_limit_read_and_their_size_comes_from_the_header(tmp_path):
    Image.new("RGB", (40, 30), (1, 2, 3)).save(tmp_path / "small.png")
    assert image_file_size(tmp_path / "small.png") == (40, 30)
    assert read_image(tmp_path / "small.png").getpixel((0, 0)) == (1, 2, 3)
    assert image_file_size(declared_png(tmp_path / "edge.png", MAX_IMAGE_PIXELS // 1000, 1000)) == (50000, 1000)


def test_damaged_pixel_data_is_one_line(tmp_path):
    with pytest.raises(SgmError, match="edge.png is not a readable image"):
        read_image_file(declared_png(tmp_path / "edge.png", 64, 64))
