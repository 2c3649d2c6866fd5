"""One pipeline layer for every sgm model: the catalog, `load_pipeline`, `run(request)` and the outputs.

- `catalog`: every installed package's models (`sgm models`), their files, configs, layouts and defaults;
- `load_pipeline(name)`: an `ImagePipeline` (txt2img, img2img, refiner hand-off, class2img) or a video pipeline
  (image to video, image to orbit, video to novel views), checked, loaded and optimized for inference the same way;
- `run(Request(...))`: one generation start to end, as the CLI and the web app run it; `check_request` alone
  checks a request without loading anything.
"""

import importlib
from typing import Any

# Each public name and the module that holds it; imported on first use (PEP 562), so `import sgm.pipelines.catalog`
# or `sgm.pipelines.compiled` does not pull in the video readers, the watermark or every pipeline.
_EXPORTS = {
    "check_request": "checks",
    "Prompt": "conditioning",
    "ImagePipeline": "image",
    "Samples": "image",
    "ImageToVideoPipeline": "image_to_video",
    "build_pipeline": "loading",
    "load_pipeline": "loading",
    "txt2img_with_refiner": "refiner",
    "TASK_FIELDS": "request",
    "Request": "request",
    "PipelineCache": "running",
    "run": "running",
    "DISCRETIZATIONS": "sampler_settings",
    "SAMPLERS": "sampler_settings",
    "SamplerSettings": "sampler_settings",
    "build_sampler": "sampler_settings",
    "VideoPipeline": "video",
    "VideoTo4DPipeline": "video_to_4d",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
