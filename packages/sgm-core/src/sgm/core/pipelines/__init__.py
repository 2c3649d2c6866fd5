"""Image pipelines: text to image, image to image, SDXL base-to-refiner, Turbo and class-conditional sampling.

`load_pipeline(name)` builds a catalog model; `ImagePipeline(engine)` wraps any DiffusionEngine. Video pipelines
live in sgm.video.
"""

from sgm.core.pipelines.conditioning import Prompt
from sgm.core.pipelines.image import ImagePipeline, Samples
from sgm.core.pipelines.loading import load_pipeline
from sgm.core.pipelines.refiner import txt2img_with_refiner
from sgm.core.pipelines.sampler_settings import DISCRETIZATIONS, SAMPLERS, SamplerSettings, build_sampler

__all__ = [
    "DISCRETIZATIONS",
    "SAMPLERS",
    "ImagePipeline",
    "Prompt",
    "SamplerSettings",
    "Samples",
    "build_sampler",
    "load_pipeline",
    "txt2img_with_refiner",
]
