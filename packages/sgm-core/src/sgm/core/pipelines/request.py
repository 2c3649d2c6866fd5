"""What `sgm sample` asks a pipeline for: one plain record, the boundary between the CLI and the pipelines.

The catalog names each model's pipeline entry as "module:function" (`ModelEntry.pipeline`); the CLI builds a
`SampleRequest` from its options, checks it, and calls that function with it. The function samples, writes the
outputs under `output`, and returns the written paths. Fields left None mean "the catalog entry's default".
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SampleRequest:
    model: str
    output: Path  # folder the outputs go to (never overwritten: see sgm.core.watermark.unique_output_path)
    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    cfg: float | None = None  # guidance scale; <= 1 means no guidance
    sampler: str | None = None  # a name of sgm.core.pipelines.SAMPLERS
    discretization: str | None = None  # a name of sgm.core.pipelines.DISCRETIZATIONS
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    num: int = 1  # images per run
    init_image: Path | None = None  # img2img source (image models), or the conditioning image (video models)
    strength: float | None = None  # img2img strength, 0 < strength <= 1
    refiner: str | None = None  # catalog name of a refiner model (e.g. "sdxl-refiner")
    refiner_strength: float | None = None
    refiner_ckpt: Path | None = None
    ckpt: Path | None = None  # the checkpoint file, already found by the CLI
    device: str | None = None  # None: cuda when available, else cpu
    dtype: str | None = None  # "fp16", "bf16", "fp32", "fp64" or None (the model's)
    watermark: bool = True
    class_label: int | None = None  # class-conditional models (digits)
    allow_pickle: bool = False
    attention: str | None = None  # sgm.kernels backend for every attention call
    options: dict[str, Any] = field(default_factory=dict)  # model-specific extras (video: num_frames, fps, ...)

    @property
    def input(self) -> Path | None:
        """The conditioning image or video of image-to-video, orbit and 4D models."""
        return self.init_image

    def sampling(self) -> dict[str, Any]:
        """The sampler settings the user set (steps, guidance, sampler, discretization), for `SamplerSettings`."""
        chosen = {"steps": self.steps, "guidance": self.cfg, "sampler": self.sampler,
                  "discretization": self.discretization}  # fmt: skip
        return {key: value for key, value in chosen.items() if value is not None}
