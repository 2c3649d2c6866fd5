"""Reading, framing and writing images and videos for the video pipelines."""

from sgm.video.io.background import remove_background, rembg_available, rembg_model_path
from sgm.video.io.framing import composite_on_white, cover_resize, frame_objects_on_white, object_box, object_mask
from sgm.video.io.reading import load_frames, load_image, take_frames
from sgm.video.io.writing import FORMATS, to_uint8_frames, write_frames

__all__ = [
    "FORMATS",
    "composite_on_white",
    "cover_resize",
    "frame_objects_on_white",
    "load_frames",
    "load_image",
    "object_box",
    "object_mask",
    "rembg_available",
    "rembg_model_path",
    "remove_background",
    "take_frames",
    "to_uint8_frames",
    "write_frames",
]
