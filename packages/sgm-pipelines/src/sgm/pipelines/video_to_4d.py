"""Video to novel-view videos (SV4D, SV4D 2.0, SV4D 2.0 8-view) as the reference's
`scripts/sampling/simple_video_sample_4d.py` / `_4d2.py` sample them, over the plans of sgm.video.schedules.

Order of random draws, as the scripts: the seed; SV4D: the SV3D_u orbit of frame 0 (its own draws: conditioning
noise, start); then per pass, `randn` of the pass's latents (SV4D's anchors; each dense window draws the latents of
every frame and view once; SV4D 2.0's autoregressive passes in order) and the sampler's draws.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.pipelines.image_to_video import ImageToVideoPipeline
from sgm.pipelines.compiled import sampling_scope
from sgm.pipelines.progress import Progress, ProgressCallback
from sgm.pipelines.seeds import check_seed
from sgm.pipelines.video import VideoPipeline, check_positive_int, pixels
from sgm.video import camera
from sgm.video.io import frame_objects_on_white, load_frames, remove_background, take_frames
from sgm.video.schedules import SamplingPass, autoregressive_plan, sv4d_plan

# Neither the input frames nor the reference views reach the unconditional branch.
ZEROED_FOR_UNCOND = ["cond_frames", "cond_frames_without_noise", "cond_view", "cond_motion"]


@dataclass(frozen=True)
class _Run:
    """The settings of one `video_to_4d` call, handed to each pass (the pipeline keeps no per-call state)."""

    steps: int
    cfg: float | None
    min_cfg: float | None
    encoding_t: int
    decoding_t: int
    cameras: tuple[Any, Any]  # (polars, azimuths) of each sampled view
    progress: Progress


class VideoTo4DPipeline(VideoPipeline):
    """`T` frames x `V` novel views per pass (the config's `frames_per_pass`, `views`), scheduled by
    `schedule`: "anchor_dense" (SV4D, its first frame's views from `reference_views`, an SV3D_u pipeline) or
    "autoregressive" (SV4D 2.0)."""

    def __init__(self, *args: Any, reference_views: ImageToVideoPipeline | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reference_views = reference_views

    def video_to_4d(
        self,
        video: str | Sequence[Image.Image],
        *,
        elevations_deg: float | Sequence[float] | None = None,
        azimuths_deg: Sequence[float] | None = None,
        num_frames: int | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        min_cfg: float | None = None,
        encoding_t: int | None = None,
        decoding_t: int | None = None,
        seed: int | None = None,
        image_frame_ratio: float | None = None,
        remove_bg: bool = False,
        img_size: int | None = None,
        callback: ProgressCallback | None = None,
    ) -> list[list[Image.Image]]:
        """One video of `num_frames` frames per novel view, from `video` (a path or frames; the object is centred
        on white)."""
        num_frames = check_positive_int(self.option(num_frames, "num_frames"), "num_frames")
        size = self.option(img_size, "img_size")
        frames = load_frames(video, max_frames=num_frames) if isinstance(video, str) else list(video)
        frames = take_frames(frames, num_frames, "the input video")
        if remove_bg:
            frames = remove_background(frames)
        frames = frame_objects_on_white(frames, size, self.option(image_frame_ratio, "image_frame_ratio"))
        views = check_positive_int(self.sampling["views"], "views")
        elevations_deg = self.option(elevations_deg, "elevations_deg")
        azimuths_deg = self.option(azimuths_deg, "azimuths_deg")
        anchored = self.sampling["schedule"] == "anchor_dense"
        if anchored:
            if views != len(camera.SV4D_SUBSAMPLED_VIEWS) - 1:
                raise SgmError(f"SV4D takes its reference views from SV3D's orbit: views must be 8, got {views}")
            if self.reference_views is None:
                raise SgmError(f"{self.name} needs its reference-views model {self.sampling['reference_views_model']}")
            polars, azims = camera.sv3d_cameras(elevations_deg, azimuths_deg)
            cameras = camera.novel_view_cameras(polars, azims, camera.SV4D_SUBSAMPLED_VIEWS[1:], self.frames_per_pass,
                                                False)  # fmt: skip
        else:
            count = views + 1
            polars = camera.polar_radians(camera.elevations(elevations_deg, count))
            azims = camera.relative_azimuth_radians(camera.azimuths(azimuths_deg, count))
            cameras = camera.novel_view_cameras(polars, azims, range(1, count), self.frames_per_pass, True)
        run = _Run(
            steps=check_positive_int(self.option(steps, "steps"), "steps"), cfg=cfg, min_cfg=min_cfg,
            encoding_t=check_positive_int(self.option(encoding_t, "encoding_t"), "encoding_t"),
            decoding_t=check_positive_int(self.option(decoding_t, "decoding_t"), "decoding_t"),
            cameras=cameras, progress=self.progress(callback),
        )  # fmt: skip
        torch.manual_seed(check_seed(self.option(seed, "seed")))

        grid = torch.zeros(num_frames, views + 1, 3, size, size, dtype=self.value_dtype)  # [-1, 1]; view 0: the input
        grid[:, 0] = pixels(frames, torch.device("cpu"))
        if anchored:
            orbit = self._sv3d_reference_views(frames[0], run)
            picked = list(camera.SV4D_SUBSAMPLED_VIEWS[1:])
            grid[0, 1:] = torch.roll(orbit.cpu(), 1, 0)[picked]  # the orbit's input view (last) moves first
            self._anchor_then_dense(grid, run)
        else:
            for sampling_pass in autoregressive_plan(num_frames, self.frames_per_pass):
                self._write(grid, sampling_pass.frames, self._sample_pass(grid, sampling_pass, run))
        return [self.finish((grid[:, v] + 1.0) / 2.0) for v in range(1, views + 1)]

    @property
    def frames_per_pass(self) -> int:
        return int(self.sampling["frames_per_pass"])

    def _sv3d_reference_views(self, frame: Image.Image, run: _Run) -> torch.Tensor:
        """The SV3D_u orbit of `frame` (already framed at img_size), `[21, 3, H, W]` in [-1, 1], input view last."""
        orbit = self.reference_views.image_to_orbit(
            frame,
            num_frames=camera.SV3D_ORBIT_VIEWS,  # SV4D_SUBSAMPLED_VIEWS index the full orbit
            img_size=frame.width,
            steps=run.steps,
            cond_aug=self.sampling["reference_views_cond_aug"],
            decoding_t=run.decoding_t,
            callback=run.progress.callback,
        )
        return pixels(orbit, torch.device("cpu"))

    def _conditioning(self, grid: torch.Tensor, sampling_pass: SamplingPass, generated_views: bool, run: _Run):
        """`(cond, uncond, model inputs)` of one pass: its input frames, the reference frame's views, cameras."""
        frames = list(sampling_pass.frames)
        views = grid.shape[1] - 1
        count = len(frames) * views
        motion = grid[frames, 0].to(self.device)
        reference = grid[sampling_pass.reference_frame, 1:].to(self.device)
        polars, azims = run.cameras
        batch: dict[str, Any] = {
            "cond_frames_without_noise": motion,
            "cond_frames": motion[:, None].expand(-1, views, -1, -1, -1).flatten(0, 1),
            "cond_motion": motion,
            "cond_view": reference,
            "polar_rad": self.batch_value(polars, len(polars)),
            "azimuth_rad": self.batch_value(azims, len(azims)),
            "num_video_frames": count,
        }
        batch_uc = {k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}
        for embedder in self.engine.conditioner.embedders:
            if hasattr(embedder, "en_and_decode_n_samples_a_time"):
                embedder.en_and_decode_n_samples_a_time = run.encoding_t
        cond, uncond = self.conditionings(batch, batch_uc, ZEROED_FOR_UNCOND)
        cond = {k: v if k == "crossattn" else v[:count] for k, v in cond.items()}
        uncond = {k: v if k == "crossattn" else v[:count] for k, v in uncond.items()}
        if not generated_views:  # no views to condition on yet: the reference zeroes their latents
            cond["cond_view"], uncond["cond_view"] = cond["cond_view"] * 0, uncond["cond_view"] * 0
        return cond, uncond, self.denoiser(count, generated_views, run.cfg, run.min_cfg)

    def _latent_shape(self, grid: torch.Tensor) -> tuple[int, ...]:
        return self.latent_shape(1, grid.shape[-2], grid.shape[-1])[1:]

    @torch.no_grad()
    def _sample_pass(self, grid: torch.Tensor, sampling_pass: SamplingPass, run: _Run) -> torch.Tensor:
        """Images `[T, V, 3, H, W]` in [-1, 1] of one whole pass (all steps with one conditioning)."""
        generated = sampling_pass.generated_reference or self.sampling["schedule"] == "anchor_dense"
        cond, uncond, denoise = self._conditioning(grid, sampling_pass, generated, run)
        views = grid.shape[1] - 1
        noise = torch.randn(len(sampling_pass.frames) * views, *self._latent_shape(grid)).to(self.device)
        sampler = self.sampler(run.steps, noise.shape[0], run.cfg, run.min_cfg, run.progress)
        with sampling_scope(self.sampling_mode):
            latents = sampler(denoise, noise, cond=cond, uc=uncond)
        images = self.decode(latents, run.decoding_t, run.progress) * 2.0 - 1.0
        return images.view(len(sampling_pass.frames), views, *images.shape[1:])

    @staticmethod
    def _write(grid: torch.Tensor, frames: Sequence[int], images: torch.Tensor) -> None:
        for i, t in enumerate(frames):
            grid[t, 1:] = images[i]

    @torch.no_grad()
    def _anchor_then_dense(self, grid: torch.Tensor, run: _Run) -> None:
        plan = sv4d_plan(grid.shape[0], self.frames_per_pass)
        self._write(grid, plan.anchors.frames, self._sample_pass(grid, plan.anchors, run))
        views = grid.shape[1] - 1
        for window in plan.dense:
            latents = torch.randn(grid.shape[0], views + 1, *self._latent_shape(grid)).to(self.device)
            passes = (window.forward, window.backward)
            prepared = {p.frames: self._conditioning(grid, p, True, run) for p in passes}
            count = len(window.forward.frames) * views
            sampler = self.sampler(run.steps, count, run.cfg, run.min_cfg, run.progress, "sample (dense)")
            for step in sampler.get_sigma_gen(run.steps + 1):
                sampling_pass = window.pass_for_step(step)
                cond, uncond, denoise = prepared[sampling_pass.frames]
                frames = list(sampling_pass.frames)
                noisy = latents[frames][:, 1:].flatten(0, 1)
                scaled, s_in, sigmas, num_sigmas, _, _ = sampler.prepare_sampling_loop(
                    noisy.clone(), cond, uncond, run.steps
                )
                x = scaled if step == 0 else noisy
                gamma = sampler.churn_gamma(sigmas[step], num_sigmas)
                x = sampler.sampler_step(s_in * sigmas[step], s_in * sigmas[step + 1], denoise, x, cond, uncond, gamma)
                latents[frames, 1:] = x.view(len(frames), views, *x.shape[1:])
            frames = list(window.forward.frames)
            images = self.decode(latents[frames, 1:].flatten(0, 1), run.decoding_t, run.progress) * 2.0 - 1.0
            self._write(grid, frames, images.view(len(frames), views, *images.shape[1:]))
