"""Optional background removal through rembg (an optional extra: `pip install rembg onnxruntime`).

rembg downloads its model on first use; offline, the model file must already be in `U2NET_HOME`
(default `~/.u2net`), and its absence is an error that says so instead of a failed download.
"""

import importlib.util
import os
from pathlib import Path

from PIL import Image

from sgm.core.errors import SgmError

MODEL_NAME = "u2net"


def rembg_model_path(model_name: str = MODEL_NAME) -> Path:
    """Where rembg looks for `<model_name>.onnx`: `$U2NET_HOME`, else `~/.u2net`."""
    home = os.environ.get("U2NET_HOME", os.path.join(os.path.expanduser("~"), ".u2net"))
    return Path(home) / f"{model_name}.onnx"


def rembg_available() -> bool:
    return importlib.util.find_spec("rembg") is not None


def remove_background(frames: list[Image.Image], model_name: str = MODEL_NAME) -> list[Image.Image]:
    """RGBA frames with the background made transparent by rembg (frames that already have alpha are kept)."""
    if all(frame.mode == "RGBA" for frame in frames):
        return frames
    if not rembg_available():
        raise SgmError(
            "--remove-bg needs the optional rembg package (pip install rembg onnxruntime); or give frames that "
            "already have alpha, or on a white background"
        )
    model_file = rembg_model_path(model_name)
    if not model_file.is_file():
        raise SgmError(
            f"--remove-bg needs rembg's model file {model_file} (set U2NET_HOME to the folder holding "
            f"{model_name}.onnx); it cannot be downloaded offline"
        )
    import rembg

    session = rembg.new_session(model_name)
    return [
        frame if frame.mode == "RGBA" else rembg.remove(frame.convert("RGBA"), session=session, alpha_matting=True)
        for frame in frames
    ]
