"""Video pipelines: image to video (SVD family), image to orbit (SV3D), video to novel-view videos (SV4D, SV4D 2.0).

`load_pipeline(name)` builds one from the catalog and its checkpoint; `build_pipeline(config, checkpoint=...)` from a
config; `run(request)` is the CLI's entry.
"""

from sgm.video.pipelines.base import VideoPipeline
from sgm.video.pipelines.image_to_video import ImageToVideoPipeline
from sgm.video.pipelines.loading import ORBIT_FPS, build_pipeline, load_pipeline, model_config, run
from sgm.video.pipelines.video_to_4d import VideoTo4DPipeline

__all__ = [
    "ORBIT_FPS",
    "ImageToVideoPipeline",
    "VideoPipeline",
    "VideoTo4DPipeline",
    "build_pipeline",
    "load_pipeline",
    "model_config",
    "run",
]
