"""Files in JSON: base64 uploads (images, object videos) written to disk and checked as the page's uploads are,
and results read back as base64."""

import base64
import binascii
import re
import uuid
from pathlib import Path

from sgm_gradio.api.errors import FieldError
from sgm_gradio.uploads import UploadError, UploadLimits, load_image, load_video_frames

# Leading bytes of the formats the models read, for uploads sent without a data: URL's media type.
_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"))
_MEDIA_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif",
                "image/bmp": ".bmp", "video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov"}  # fmt: skip
_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(;[^,]*)?;base64,", re.IGNORECASE)


def _suffix(data: bytes, media_type: str | None) -> str | None:
    if media_type:
        return _MEDIA_TYPES.get(media_type.lower())
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[4:8] == b"ftyp":
        return ".mp4"
    return next((suffix for magic, suffix in _MAGIC if data.startswith(magic)), None)


def saved_upload(field: str, text: object, folder: Path, limits: UploadLimits, *, video: bool = False) -> Path:
    """The base64 file (optionally a data: URL) of request field `field` written under `folder` and checked as
    an image (or, with `video`, an image or a video); a FieldError names the field when it is not one."""
    if not isinstance(text, str):
        raise FieldError(field, f"{field} must be a base64 string")
    match = _DATA_URL.match(text)
    encoded = text[match.end() :] if match else text
    if len(encoded) * 3 / 4 > limits.max_megabytes * 2**20:
        raise FieldError(field, f"{field} is larger than the limit of {limits.max_megabytes:g} MB")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(field, f"{field} is not valid base64") from None
    suffix = _suffix(data, match.group("type") if match else None)
    if suffix is None:
        raise FieldError(field, f"{field} is not a PNG, JPEG, WebP, GIF or BMP image, nor an MP4, WebM or MOV video")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    try:
        still = suffix not in (".mp4", ".webm", ".mov", ".gif") or not video
        load_image(path, limits) if still else load_video_frames(path, limits)
    except UploadError as error:
        path.unlink()
        raise FieldError(field, f"{field}: {error}") from None
    return path


def encoded_file(path: Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")
