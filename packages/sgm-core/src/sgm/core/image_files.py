"""Image files opened with their declared size checked before any pixel is decoded.

A PNG of a few kilobytes can declare 50000 x 50000 pixels; decoding it takes gigabytes before anything else can look
at it. Every reader of user images goes through here, so the header's size is checked first and such a file is one
SgmError, never a `DecompressionBombError` traceback or a process the kernel kills.
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from sgm.core.errors import SgmError

# 50 megapixels: above 8K video frames (33 MP) and most cameras' photos, far below what exhausts a machine. Pillow's
# own bomb check (89 MP warns, 179 MP raises) is later and looser; this one is ours and names the file.
MAX_IMAGE_PIXELS = 50_000_000


def check_pixels(size: tuple[int, int], source: str | Path) -> None:
    """A `(width, height)` that a decoder may allocate; larger is an SgmError saying what to do."""
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise SgmError(
            f"{source} declares {width}x{height} pixels ({width * height / 1e6:.0f} MP); images may have at most "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} MP: give a smaller image"
        )


@contextmanager
def opened_image(path: str | Path, what: str = "image") -> Iterator[Image.Image]:
    """The image file at `path`, opened lazily (header read, no pixels decoded) and checked against
    `MAX_IMAGE_PIXELS`; a missing, unreadable or oversized file is an SgmError naming it."""
    path = Path(path)
    if not path.is_file():
        raise SgmError(f"{what} not found: {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # what it warns of is refused below
        try:
            image = Image.open(path)
        except Image.DecompressionBombError:
            raise SgmError(
                f"{path} declares more pixels than an image may have (at most {MAX_IMAGE_PIXELS / 1e6:.0f} MP): give "
                "a smaller image"
            ) from None
        except UnidentifiedImageError:
            raise SgmError(f"{path} is not a readable {what}: give a PNG, JPEG or WebP file") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise SgmError(f"{path} is not a readable {what} ({error}); give a PNG, JPEG or WebP file") from None
        with image:
            check_pixels(image.size, path)
            yield image


def read_image_file(path: str | Path, what: str = "image", mode: str | None = None) -> Image.Image:
    """The decoded image at `path` (converted to `mode` when given, else as stored), its size checked first."""
    with opened_image(path, what) as image:
        try:
            image.load()
            return image.convert(mode) if mode else image.copy()
        except (OSError, SyntaxError, ValueError) as error:  # truncated or damaged pixel data
            raise SgmError(f"{path} is not a readable {what} ({error}); give a PNG, JPEG or WebP file") from None


def image_file_size(path: str | Path, what: str = "image") -> tuple[int, int]:
    """`(width, height)` of the image at `path`, read from its header alone."""
    with opened_image(path, what) as image:
        return image.size
