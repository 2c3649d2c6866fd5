"""Video to novel-view videos (SV4D, SV4D 2.0, SV4D 2.0 8-view) as the reference's
`scripts/sampling/simple_video_sample_4d.py` / `_4d2.py` sample them, over the plans of sgm.video.schedules."""

from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.video import camera
from sgm.video.io import frame_objects_on_white, load_frames, remove_background, take_frames
from sgm.video.pipelines.base import StepCallback, VideoPipeline, check_positive_int, check_seed, pixels, to_images
from sgm.video.schedules import SamplingPass, autoregressive_plan, sv4d_plan

# Neither the input frames nor the reference views reach the unconditional branch.
ZEROED_FOR_UNCOND = ["cond_frames", "cond_frames_without_noise", "cond_view", "cond_motion"]

# reference_views(frame, callback) -> the 21-view SV3D orbit of frame 0, `[21, 3, H, W]` in [-1, 1], input last.
ReferenceViews = Callable[[Image.Image, StepCallback | None], torch.Tensor]


class VideoTo4DPipeline(VideoPipeline):
    """`T` frames x `V` novel views per pass (the config's `frames_per_pass`, `views`), scheduled by
    `schedule`: "anchor_dense" (SV4D) or "autoregressive" (SV4D 2.0)."""

    def video_to_4d(
        self,
        video: str | Sequence[Image.Image],
        *,
        elevations_deg: float | Sequence[float] | None = None,
        azimuths_deg: Sequence[float] | None = None,
        n_frames: int | None = None,
        steps: int | None = None,
        encoding_t: int | None = None,
        decoding_t: int | None = None,
        seed: int = 23,
        image_frame_ratio: float | None = None,
        remove_bg: bool = False,
        img_size: int | None = None,
        reference_views: ReferenceViews | None = None,
        callback: StepCallback | None = None,
    ) -> list[list[Image.Image]]:
        """One video of `n_frames` frames per novel view, from `video` (a path or frames; the object is centred
        on white). SV4D takes frame 0's views from SV3D (`reference_views`, default: the config's
        `reference_views_model` loaded on this device)."""
        n_frames = check_positive_int(self.option(n_frames, "n_frames"), "n_frames")
        self.steps = check_positive_int(self.option(steps, "num_steps"), "steps")
        self.encoding_t = check_positive_int(self.option(encoding_t, "encoding_t"), "encoding_t")
        self.decoding_t = check_positive_int(self.option(decoding_t, "decoding_t"), "decoding_t")
        self.callback = callback
        size = self.option(img_size, "img_size")
        frames = load_frames(video, max_frames=n_frames) if isinstance(video, str) else list(video)
        frames = take_frames(frames, n_frames, "the input video")
        if remove_bg:
            frames = remove_background(frames)
        frames = frame_objects_on_white(frames, size, self.option(image_frame_ratio, "image_frame_ratio"))
        torch.manual_seed(check_seed(seed))

        views = check_positive_int(self.sampling["views"], "views")
        grid = torch.zeros(n_frames, views + 1, 3, size, size)  # [-1, 1]; view 0 is the input
        grid[:, 0] = pixels(frames, torch.device("cpu"))
        elevations_deg = self.option(elevations_deg, "elevations_deg")
        azimuths_deg = self.option(azimuths_deg, "azimuths_deg")
        if self.sampling["schedule"] == "anchor_dense":
            if views != len(camera.SV4D_SUBSAMPLED_VIEWS) - 1:
                raise SgmError(f"SV4D's schedule takes its reference views from SV3D's orbit: views must be 8, got {views}")
            polars, azims = camera.sv3d_cameras(elevations_deg, azimuths_deg)
            picked = list(camera.SV4D_SUBSAMPLED_VIEWS[1:])
            self.cameras = camera.novel_view_cameras(polars, azims, picked, self.frames_per_pass, False)
            orbit = (reference_views or self._sv3d_reference_views)(frames[0], callback)
            grid[0, 1:] = torch.roll(orbit.cpu(), 1, 0)[picked]  # the orbit's input view (last) moves first
            self._anchor_then_dense(grid)
        else:
            count = views + 1
            polars = camera.polar_radians(camera.elevations(elevations_deg, count))
            azims = camera.relative_azimuth_radians(camera.azimuths(azimuths_deg, count))
            self.cameras = camera.novel_view_cameras(polars, azims, range(1, count), self.frames_per_pass, True)
            for sampling_pass in autoregressive_plan(n_frames, self.frames_per_pass):
                self._write(grid, sampling_pass.frames, self._sample_pass(grid, sampling_pass))
        return [to_images((grid[:, v] + 1.0) / 2.0) for v in range(1, views + 1)]

    @property
    def frames_per_pass(self) -> int:
        return int(self.sampling["frames_per_pass"])

    def _sv3d_reference_views(self, frame: Image.Image, callback: StepCallback | None) -> torch.Tensor:
        from sgm.video.pipelines.loading import load_pipeline

        dtype = next(self.engine.model.parameters()).dtype  # the SV3D network runs in this model's dtype
        sv3d = load_pipeline(self.sampling["reference_views_model"], device=self.device, dtype=dtype)
        orbit = sv3d.image_to_orbit(
            frame,
            num_frames=camera.SV3D_ORBIT_VIEWS,  # SV4D_SUBSAMPLED_VIEWS index the full orbit
            size=frame.width,  # the frame is already framed at img_size
            steps=self.steps,
            cond_aug=self.sampling["reference_views_cond_aug"],
            decoding_t=self.decoding_t,
            callback=callback,
        )
        return pixels(orbit, torch.device("cpu"))

    def _conditioning(self, grid: torch.Tensor, sampling_pass: SamplingPass, generated_views: bool):
        """`(cond, uncond, model inputs)` of one pass: its input frames, the reference frame's views, cameras."""
        frames = list(sampling_pass.frames)
        views = grid.shape[1] - 1
        count = len(frames) * views
        motion = grid[frames, 0].to(self.device)
        reference = grid[sampling_pass.reference_frame, 1:].to(self.device)
        polars, azims = self.cameras
        batch: dict[str, Any] = {
            "cond_frames_without_noise": motion,
            "cond_frames": motion[:, None].expand(-1, views, -1, -1, -1).flatten(0, 1),
            "cond_motion": motion,
            "cond_view": reference,
            "polar_rad": torch.tensor(polars, device=self.device),
            "azimuth_rad": torch.tensor(azims, device=self.device),
            "num_video_frames": count,
        }
        batch_uc = {k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}
        for embedder in self.engine.conditioner.embedders:
            if hasattr(embedder, "en_and_decode_n_samples_a_time"):
                embedder.en_and_decode_n_samples_a_time = self.encoding_t
        cond, uncond = self.conditionings(batch, batch_uc, ZEROED_FOR_UNCOND)
        cond = {k: v if k == "crossattn" else v[:count] for k, v in cond.items()}
        uncond = {k: v if k == "crossattn" else v[:count] for k, v in uncond.items()}
        if not generated_views:  # no views to condition on yet: the reference zeroes their latents
            cond["cond_view"], uncond["cond_view"] = cond["cond_view"] * 0, uncond["cond_view"] * 0
        indicator = torch.full((2, count), 1.0 if generated_views else 0.0, device=self.device)
        return cond, uncond, {"image_only_indicator": indicator, "num_video_frames": count}

    def _latent_shape(self, grid: torch.Tensor) -> tuple[int, ...]:
        return self.latent_shape(1, grid.shape[-2], grid.shape[-1])[1:]

    @torch.no_grad()
    def _sample_pass(self, grid: torch.Tensor, sampling_pass: SamplingPass) -> torch.Tensor:
        """Images `[T, V, 3, H, W]` in [-1, 1] of one whole pass (all steps with one conditioning)."""
        generated = sampling_pass.generated_reference or self.sampling["schedule"] == "anchor_dense"
        cond, uncond, inputs = self._conditioning(grid, sampling_pass, generated)
        views = grid.shape[1] - 1
        noise = torch.randn(len(sampling_pass.frames) * views, *self._latent_shape(grid)).to(self.device)
        sampler, _ = self.sampler(self.steps, noise.shape[0], self.callback)
        latents = sampler(self.denoiser(**inputs), noise, cond=cond, uc=uncond)
        images = self.decode(latents, self.decoding_t, self.callback) * 2.0 - 1.0
        return images.view(len(sampling_pass.frames), views, *images.shape[1:])

    @staticmethod
    def _write(grid: torch.Tensor, frames: Sequence[int], images: torch.Tensor) -> None:
        for i, t in enumerate(frames):
            grid[t, 1:] = images[i]

    @torch.no_grad()
    def _anchor_then_dense(self, grid: torch.Tensor) -> None:
        plan = sv4d_plan(grid.shape[0], self.frames_per_pass)
        self._write(grid, plan.anchors.frames, self._sample_pass(grid, plan.anchors))
        views = grid.shape[1] - 1
        for window in plan.dense:
            latents = torch.randn(grid.shape[0], views + 1, *self._latent_shape(grid)).to(self.device)
            passes = (window.forward, window.backward)
            prepared = {p.frames: self._conditioning(grid, p, True) for p in passes}
            sampler, _ = self.sampler(self.steps, len(window.forward.frames) * views, self.callback, "sample (dense)")
            steps = sampler.get_sigma_gen(self.steps + 1)
            for step in steps:
                sampling_pass = window.pass_for_step(step)
                cond, uncond, inputs = prepared[sampling_pass.frames]
                frames = list(sampling_pass.frames)
                noisy = latents[frames][:, 1:].flatten(0, 1)
                scaled, s_in, sigmas, num_sigmas, _, _ = sampler.prepare_sampling_loop(
                    noisy.clone(), cond, uncond, self.steps
                )
                x = scaled if step == 0 else noisy
                gamma = sampler.churn_gamma(sigmas[step], num_sigmas)
                x = sampler.sampler_step(
                    s_in * sigmas[step], s_in * sigmas[step + 1], self.denoiser(**inputs), x, cond, uncond, gamma
                )
                latents[frames, 1:] = x.view(len(frames), views, *x.shape[1:])
            frames = list(window.forward.frames)
            images = self.decode(latents[frames, 1:].flatten(0, 1), self.decoding_t, self.callback) * 2.0 - 1.0
            self._write(grid, frames, images.view(len(frames), views, *images.shape[1:]))

