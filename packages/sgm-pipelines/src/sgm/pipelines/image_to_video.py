"""Image to video (SVD, SVD-XT, SVD-XT 1.1) and image to orbit (SV3D_u, SV3D_p), as the reference's
`scripts/sampling/simple_video_sample.py` samples them: the same conditioning batch, order of random draws
(seed; `randn_like` of the contiguous conditioning image for its noise; `randn` of the latent shape for the start;
the sampler's draws), per-frame guidance and decoding."""

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.pipelines.compiled import sampling_scope
from sgm.pipelines.progress import ProgressCallback
from sgm.pipelines.seeds import check_seed
from sgm.pipelines.video import VideoPipeline, check_positive_int, pixels
from sgm.video.camera import sv3d_cameras
from sgm.video.io import cover_resize, frame_objects_on_white, remove_background

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
        cfg: float | None = None,
        min_cfg: float | None = None,
        fps: int | None = None,
        motion_bucket_id: int | None = None,
        cond_aug: float | None = None,
        decoding_t: int | None = None,
        seed: int | None = None,
        height: int | None = None,
        width: int | None = None,
        callback: ProgressCallback | None = None,
    ) -> list[Image.Image]:
        """SVD: a video of `num_frames` frames starting from `image` (cover-resized to the model's size).

        fps: the frame rate the video is conditioned on (the model sees `fps - 1`). motion_bucket_id: more motion with
        higher values (0-1023; trained on 0-255). cond_aug: noise added to the conditioning image.
        """
        fps_id = check_positive_int(self.option(fps, "fps"), "fps") - 1
        frame = cover_resize(image, self.option(width, "width"), self.option(height, "height"))
        values = {"fps_id": fps_id, "motion_bucket_id": self.option(motion_bucket_id, "motion_bucket_id")}
        if not 0 <= int(values["motion_bucket_id"]) <= 1023:
            raise SgmError(f"motion_bucket_id must be in [0, 1023], got {values['motion_bucket_id']}")
        return self._sample(frame, values, num_frames, steps, cfg, min_cfg, cond_aug, decoding_t, seed, callback,
                            orbit=False)  # fmt: skip

    def image_to_orbit(
        self,
        image: Image.Image,
        *,
        elevations_deg: float | Sequence[float] | None = None,
        azimuths_deg: Sequence[float] | None = None,
        num_frames: int | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        min_cfg: float | None = None,
        cond_aug: float | None = None,
        decoding_t: int | None = None,
        seed: int | None = None,
        image_frame_ratio: float | None = None,
        remove_bg: bool = False,
        img_size: int | None = None,
        callback: ProgressCallback | None = None,
    ) -> list[Image.Image]:
        """SV3D: `num_frames` (21) views around the object in `image`, the input view last.

        The object is centred on white (`image_frame_ratio`: the fraction of the frame it spans; `remove_bg`:
        cut it out with rembg first). SV3D_p follows `elevations_deg` (one value or one per view) and
        `azimuths_deg` (one per view, increasing around the orbit relative to the last, the input view).
        """
        num_frames = check_positive_int(self.option(num_frames, "num_frames"), "num_frames")
        frames = remove_background([image]) if remove_bg else [image]
        size = self.option(img_size, "img_size")
        frame = frame_objects_on_white(frames, size, self.option(image_frame_ratio, "image_frame_ratio"))[0]
        values: dict[str, Any] = {}
        if self.sampling.get("cameras") == "posed":
            polars, azimuths = sv3d_cameras(
                self.option(elevations_deg, "elevations_deg"), self.option(azimuths_deg, "azimuths_deg"), num_frames
            )
            values = {"polars_rad": polars, "azimuths_rad": azimuths}
        elif elevations_deg is not None or azimuths_deg is not None:
            raise SgmError(f"{self.name} makes a fixed orbit; use sv3d-p to choose elevations and azimuths")
        return self._sample(frame, values, num_frames, steps, cfg, min_cfg, cond_aug, decoding_t, seed, callback,
                            orbit=True)  # fmt: skip

    @torch.no_grad()
    def _sample(
        self, frame: Image.Image, values: dict, num_frames, steps, cfg, min_cfg, cond_aug, decoding_t, seed, callback,
        orbit: bool,
    ) -> list[Image.Image]:  # fmt: skip
        num_frames = check_positive_int(self.option(num_frames, "num_frames"), "num_frames")
        decoding_t = self.option(decoding_t, "decoding_t")
        cond_aug = float(self.option(cond_aug, "cond_aug"))
        if not 0 <= cond_aug < float("inf"):
            raise SgmError(f"cond_aug must be a finite number, 0 or more, got {cond_aug}")
        progress = self.progress(callback)
        sampler = self.sampler(steps, num_frames, cfg, min_cfg, progress)
        torch.manual_seed(check_seed(self.option(seed, "seed")))
        device = self.device

        image = pixels([frame], device).to(self.value_dtype)
        batch: dict[str, Any] = {
            "cond_frames_without_noise": image,
            "cond_frames": image + cond_aug * torch.randn_like(image),
            "cond_aug": self.batch_value(cond_aug, num_frames),
            "num_video_frames": num_frames,
        }
        for key, value in values.items():
            count = len(value) if key.endswith("_rad") else num_frames
            batch[key] = self.batch_value(value, count)
        keys = {e.input_key for e in self.engine.conditioner.embedders}
        batch = {k: v for k, v in batch.items() if k in keys or k == "num_video_frames"}
        batch_uc = {k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}

        cond, uncond = self.conditionings(batch, batch_uc, IMAGE_KEYS)
        cond, uncond = self.repeat_per_frame(cond, num_frames), self.repeat_per_frame(uncond, num_frames)
        noise = torch.randn(self.latent_shape(num_frames, frame.height, frame.width)).to(device)
        denoise = self.denoiser(num_frames, False, cfg, min_cfg)
        with sampling_scope(self.sampling_mode):
            latents = sampler(denoise, noise, cond=cond, uc=uncond)
        samples = self.decode(latents, decoding_t, progress)
        if orbit:
            samples[-1:] = (image.cpu() + 1.0) / 2.0  # the last orbit view is the input view itself
        return self.finish(samples)
