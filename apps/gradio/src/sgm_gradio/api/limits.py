"""How much one API request may ask, from the model's own options: sides at most `side_factor` times the model's
default size (SDXL's 1024: 2048), at most `frames_factor` times its default frame count, and `max_images` images."""

from dataclasses import dataclass

from sgm.pipelines import Request
from sgm.pipelines.catalog import get_entry

from sgm_gradio.api.errors import FieldError


@dataclass(frozen=True)
class RequestLimits:
    max_images: int = 8
    side_factor: float = 2.0
    frames_factor: float = 2.0

    def check(self, request: Request, names: dict[str, str] | None = None) -> None:
        """FieldError for the first field of `request` past a limit, named by its API name (`names`)."""
        names = names or {}
        defaults = get_entry(request.model).defaults
        if request.num is not None and request.num > self.max_images:
            raise FieldError(names.get("num", "num"), f"at most {self.max_images} images per request, got "
                             f"{request.num}")  # fmt: skip
        for side in ("width", "height", "img_size"):
            if side not in defaults or getattr(request, side) is None:
                continue
            largest = int(defaults[side] * self.side_factor)
            if getattr(request, side) > largest:
                raise FieldError(names.get(side, side), f"{side} may be at most {largest} for {request.model}, got "
                                 f"{getattr(request, side)}")  # fmt: skip
        if request.num_frames is not None and "num_frames" in defaults:
            most = int(defaults["num_frames"] * self.frames_factor)
            if request.num_frames > most:
                raise FieldError("num_frames", f"num_frames may be at most {most} for {request.model}, got "
                                 f"{request.num_frames}")  # fmt: skip
