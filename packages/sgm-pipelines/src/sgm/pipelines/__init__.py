"""One pipeline layer for every sgm model: the catalog, `load_pipeline`, `run(request)` and the outputs.

- `catalog`: every installed package's models (`sgm models`), their files, configs, layouts and defaults;
- `load_pipeline(name)`: an `ImagePipeline` (txt2img, img2img, refiner hand-off, class2img) or a video pipeline
  (image to video, image to orbit, video to novel views), checked, loaded and optimized for inference the same way;
- `plan(Request(...))`: the memory each stage needs, planned on the meta device, and the runtime options that fit;
- `run(Request(...))`: one generation start to end, as the CLI and the web app run it; `check_request` alone
  checks a request without loading anything.
"""

from sgm.pipelines.checks import check_request
from sgm.pipelines.conditioning import Prompt
from sgm.pipelines.image import ImagePipeline, Samples
from sgm.pipelines.image_to_video import ImageToVideoPipeline
from sgm.pipelines.loading import build_pipeline, load_pipeline
from sgm.pipelines.planning import Plan, RuntimeSettings, plan
from sgm.pipelines.refiner import txt2img_with_refiner
from sgm.pipelines.request import TASK_FIELDS, Request
from sgm.pipelines.running import PipelineCache, run
from sgm.pipelines.sampler_settings import DISCRETIZATIONS, SAMPLERS, SamplerSettings, build_sampler
from sgm.pipelines.video import VideoPipeline
from sgm.pipelines.video_to_4d import VideoTo4DPipeline

__all__ = [
    "DISCRETIZATIONS",
    "SAMPLERS",
    "TASK_FIELDS",
    "ImagePipeline",
    "ImageToVideoPipeline",
    "PipelineCache",
    "Plan",
    "Prompt",
    "Request",
    "RuntimeSettings",
    "SamplerSettings",
    "Samples",
    "VideoPipeline",
    "VideoTo4DPipeline",
    "build_pipeline",
    "build_sampler",
    "check_request",
    "load_pipeline",
    "plan",
    "run",
    "txt2img_with_refiner",
]
