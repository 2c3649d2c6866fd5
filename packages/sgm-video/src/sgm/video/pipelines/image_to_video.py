"""Image to video (SVD, SVD-XT, SVD-XT 1.1) and image to orbit (SV3D_u, SV3D_p), as the reference's
`scripts/sampling/simple_video_sample.py` samples them: the same conditioning batch, order of random draws
(seed, conditioning-frame noise, starting noise, sampler), per-frame guidance and decoding."""

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.video.camera import sv3d_cameras
from sgm.video.errors import VideoInputError
from sgm.video.io import cover_resize, frame_objects_on_white, remove_background
from sgm.video.pipelines.base import (
    StepCallback,
    VideoPipeline,
    as_batch_value,
    check_positive_int,
    check_seed,
    pixels,
    to_images,
)

# The conditioning image is never given to the unconditional branch (the scripts' force_uc_zero_embeddings).
IMAGE_KEYS = ["cond_frames", "cond_frames_without_noise"]


class ImageToVideoPipeline(VideoPipeline):
    """SVD-family and SV3D pipelines: one conditioning image, `num_frames` output frames."""

    def image_to_video(
        self,
        image: Image.Image,
        *,
        num_frames: int | None = None,
        steps: int | None = None,
        fps: int | None = None,
        fps_id: int | None = None,
        motion_bucket_id: int | None = None,
        cond_aug: float | None = None,
        decoding_t: int | None = None,
        seed: int = 23,
        height: int | None = None,
        width: int | None = None,
        callback: StepCallback | None = None,
    ) -> list[Image.Image]:
        """SVD: a video of `num_frames` frames starting from `image` (cover-resized to the model's size).

        fps: the frame rate the video is conditioned on (`fps_id = fps - 1`; or give fps_id). motion_bucket_id:
        more motion with higher values (0-255). cond_aug: noise added to the conditioning image.
        """
        if fps_id is None:
            fps_id = check_positive_int(self.option(fps, "fps"), "fps") - 1
        height, width = self.option(height, "height"), self.option(width, "width")
        frame = cover_resize(image, width, height)
        values = {"fps_id": fps_id, "motion_bucket_id": self.option(motion_bucket_id, "motion_bucket_id")}
        if not 0 <= int(values["motion_bucket_id"]) <= 1023:
            raise SgmError(f"motion_bucket_id must be in [0, 1023], got {values['motion_bucket_id']}")
        return self._sample(frame, values, num_frames, steps, cond_aug, decoding_t, seed, callback, orbit=False)

    def image_to_orbit(
        self,
        image: Image.Image,
        *,
        elevations_deg: float | Sequence[float] | None = None,
        azimuths_deg: Sequence[float] | None = None,
        num_frames: int | None = None,
        steps: int | None = None,
        cond_aug: float | None = None,
        decoding_t: int | None = None,
        seed: int = 23,
        image_frame_ratio: float | None = None,
        remove_bg: bool = False,
        size: int | None = None,
        callback: StepCallback | None = None,
    ) -> list[Image.Image]:
        """SV3D: `num_frames` (21) views around the object in `image`, the input view last.

        The object is centred on white (`image_frame_ratio`: the fraction of the frame it spans; `remove_bg`:
        cut it out with rembg first). SV3D_p follows `elevations_deg` (one value or one per view) and
        `azimuths_deg` (one per view, increasing around the orbit relative to the last, the input view).
        """
        num_frames = check_positive_int(self.option(num_frames, "num_frames"), "num_frames")
        frames = remove_background([image]) if remove_bg else [image]
        size = self.option(size, "height")
        frame = frame_objects_on_white(frames, size, self.option(image_frame_ratio, "image_frame_ratio"))[0]
        values: dict[str, Any] = {}
        if self._needs_cameras():
            polars, azimuths = sv3d_cameras(
                self.option(elevations_deg, "elevations_deg"), self.option(azimuths_deg, "azimuths_deg"), num_frames
            )
            values = {"polars_rad": polars, "azimuths_rad": azimuths}
        elif elevations_deg is not None or azimuths_deg is not None:
            raise VideoInputError(f"{self.name} makes a fixed orbit; use sv3d-p to choose elevations and azimuths")
        return self._sample(frame, values, num_frames, steps, cond_aug, decoding_t, seed, callback, orbit=True)

    def _needs_cameras(self) -> bool:
        return any(e.input_key == "polars_rad" for e in self.engine.conditioner.embedders)

    @torch.no_grad()
    def _sample(
        self, frame: Image.Image, values: dict, num_frames, steps, cond_aug, decoding_t, seed, callback, orbit: bool
    ) -> list[Image.Image]:
        num_frames = check_positive_int(self.option(num_frames, "num_frames"), "num_frames")
        steps = check_positive_int(self.option(steps, "num_steps"), "steps")
        decoding_t = self.option(decoding_t, "decoding_t")
        cond_aug = float(self.option(cond_aug, "cond_aug"))
        if cond_aug < 0:
            raise SgmError(f"cond_aug must be >= 0, got {cond_aug}")
        torch.manual_seed(check_seed(seed))
        device = self.device

        image = pixels([frame], device)
        batch: dict[str, Any] = {
            "cond_frames_without_noise": image,
            "cond_frames": image + cond_aug * torch.randn_like(image),
            "cond_aug": as_batch_value(cond_aug, num_frames, device),
            "num_video_frames": num_frames,
        }
        for key, value in values.items():
            count = len(value) if key.endswith("_rad") else num_frames
            batch[key] = as_batch_value(value, count, device)
        keys = {e.input_key for e in self.engine.conditioner.embedders}
        batch = {k: v for k, v in batch.items() if k in keys or k == "num_video_frames"}
        batch_uc = {k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}

        cond, uncond = self.conditionings(batch, batch_uc, IMAGE_KEYS)
        cond, uncond = self.repeat_per_frame(cond, num_frames), self.repeat_per_frame(uncond, num_frames)
        height, width = frame.height, frame.width
        noise = torch.randn(self.latent_shape(num_frames, height, width)).to(device)
        sampler, _ = self.sampler(steps, num_frames, callback)
        denoiser = self.denoiser(
            image_only_indicator=torch.zeros(2, num_frames, device=device), num_video_frames=num_frames
        )
        latents = sampler(denoiser, noise, cond=cond, uc=uncond)
        samples = self.decode(latents, decoding_t, callback)
        if orbit:
            samples[-1:] = (image.cpu() + 1.0) / 2.0  # the last orbit view is the input view itself
        return to_images(samples)
