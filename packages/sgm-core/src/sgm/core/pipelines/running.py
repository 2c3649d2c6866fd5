"""One `sgm sample` request for an image model, start to end: load, sample, save PNGs with their parameters.

`SampleRequest` fields left None take the model's catalog defaults; `request.options` may set further
`SamplerSettings` fields (e.g. `progress`, `eta`, `s_churn`, `sigma_max`).
"""

import dataclasses
from pathlib import Path

from sgm.core.pipelines.conditioning import embedder_keys
from sgm.core.pipelines.image import ImagePipeline, Samples
from sgm.core.pipelines.loading import load_pipeline
from sgm.core.pipelines.refiner import txt2img_with_refiner
from sgm.core.pipelines.request import SampleRequest
from sgm.core.pipelines.sampler_settings import SamplerSettings
from sgm.core.watermark import save_png, unique_output_path

_SETTING_NAMES = {field.name for field in dataclasses.fields(SamplerSettings)}


def _sampling(request: SampleRequest) -> dict:
    extra = {key: value for key, value in request.options.items() if key in _SETTING_NAMES}
    return {**extra, **request.sampling()}


def _load(model: str, ckpt: Path | None, request: SampleRequest) -> ImagePipeline:
    return load_pipeline(
        model, ckpt=ckpt, device=request.device, dtype=request.dtype, watermark=request.watermark,
        allow_pickle=request.allow_pickle,
    )  # fmt: skip


def sample(pipeline: ImagePipeline, request: SampleRequest) -> Samples:
    """The images `request` asks of `pipeline`: class labels for a class model, else img2img with an init image,
    else text to image (handed to `request.refiner` when one is named)."""
    common = {"seed": request.seed, **_sampling(request)}
    if "cls" in embedder_keys(pipeline.engine.conditioner):
        label = pipeline.defaults.get("class_label", 0) if request.class_label is None else request.class_label
        return pipeline.sample_classes([label] * request.num, **common)
    text = {"negative_prompt": request.negative_prompt, "num_samples": request.num, **common}
    size = {"width": request.width, "height": request.height}
    if request.init_image is not None:
        return pipeline.img2img(request.init_image, request.prompt, strength=request.strength, **size, **text)
    if request.refiner is not None:
        refiner = _load(request.refiner, request.refiner_ckpt, request)
        return txt2img_with_refiner(
            pipeline, refiner, request.prompt, refiner_strength=request.refiner_strength, **size, **text
        )
    return pipeline.txt2img(request.prompt, **size, **text)


def save(samples: Samples, output: str | Path) -> list[Path]:
    """Each image as `output/NNNNNN.png` (next free number, never overwriting), with its parameters as PNG text."""
    paths = []
    for index, image in enumerate(samples):
        path = unique_output_path(output)  # reserved as an empty file, replaced whole by save_png
        try:
            paths.append(save_png(image, path, {**samples.parameters, "index": index}))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return paths


def run_request(request: SampleRequest) -> list[Path]:
    """Load `request.model`, sample what the request asks, save the PNGs; returns their paths."""
    return save(sample(_load(request.model, request.ckpt, request), request), request.output)
