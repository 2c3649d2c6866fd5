"""AUTOMATIC1111's HTTP API (`/sdapi/v1/...`) on our models, with its request and response JSON, so its clients
(the `webuiapi` package and the tools built on it) work unchanged.

Differences, by necessity: fields a client leaves out take the model's defaults (its config's `sampling:` block)
rather than AUTOMATIC1111's (an SDXL model would draw 512 x 512 images with 50 steps otherwise); the images of one
request share its seed, as `sgm sample --num` does; an interrupted request answers with no images; fields for
features we do not have (hires fix, face restoration, scripts, ...) are ignored, as AUTOMATIC1111 ignores unknown
fields."""

import json
import time
from typing import Any

from fastapi import APIRouter, HTTPException
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from sgm.core.diffusion.sampler_names import resolve_sampler, resolve_schedule, sampler_api_list, schedule_api_list
from sgm.core.errors import SgmError
from sgm.pipelines import Request, catalog, check_request
from sgm.pipelines.seeds import check_seed

from sgm_gradio.api.context import ApiContext, image_models, present_image_models
from sgm_gradio.api.errors import FieldError, named_field, queue_full
from sgm_gradio.api.payloads import encoded_file, saved_upload
from sgm_gradio.job_queue import CANCELLED, DONE, Job, QueueFull

# Our Request fields by AUTOMATIC1111's names for them.
API_NAMES = {"prompt": "prompt", "negative_prompt": "negative_prompt", "seed": "seed", "sampler": "sampler_name",
             "discretization": "scheduler", "num": "batch_size", "steps": "steps", "cfg": "cfg_scale",
             "width": "width", "height": "height", "strength": "denoising_strength", "init_image": "init_images",
             "model": "sd_model_checkpoint"}  # fmt: skip


class GenerationBody(BaseModel):
    """The fields of AUTOMATIC1111's `StableDiffusionProcessingAPI` that we use; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = ""
    negative_prompt: str = ""
    seed: int = -1  # -1: a fresh seed
    sampler_name: str | None = None
    sampler_index: str | None = None  # AUTOMATIC1111's older name for sampler_name
    scheduler: str | None = None  # "Automatic": the model's schedule
    batch_size: int = Field(1, ge=1)
    n_iter: int = Field(1, ge=1)
    steps: int | None = Field(None, ge=1)
    cfg_scale: float | None = Field(None, ge=0)
    width: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    override_settings: dict[str, Any] | None = None
    send_images: bool = True


class ImageToImageBody(GenerationBody):
    init_images: list[str] = Field(min_length=1)
    denoising_strength: float = Field(0.75, gt=0, le=1)
    mask: str | None = None


def model_title(value: Any) -> str:
    """The catalog model an `sd_model_checkpoint` value names: its name, its official file name, or a title
    "file [hash]" as AUTOMATIC1111 writes them."""
    if isinstance(value, str):
        text = value.split(" [")[0].strip()
        for name in image_models():
            if text == name or text in catalog.get_entry(name).files:
                return name
    raise FieldError("sd_model_checkpoint", f"sd_model_checkpoint {value!r} is not one of {', '.join(image_models())}")


def _schedule(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return name if resolve_schedule(name) is not None else None
    except SgmError as error:
        raise FieldError("scheduler", str(error)) from None


def _sampler(body: GenerationBody) -> str | None:
    name = body.sampler_name or body.sampler_index
    if name is None:
        return None
    try:
        resolve_sampler(name)
    except SgmError as error:
        raise FieldError("sampler_name" if body.sampler_name else "sampler_index", str(error)) from None
    return name


def _seed(seed: int) -> int:
    try:
        return check_seed(None if seed == -1 else seed)
    except SgmError as error:
        raise FieldError("seed", f"{error} (or -1 for a fresh one)") from None


def build_request(context: ApiContext, body: GenerationBody, **image: Any) -> Request:
    """The checked `Request` the body asks of the current model (or of `override_settings.sd_model_checkpoint`)."""
    override = body.override_settings or {}
    model = model_title(override["sd_model_checkpoint"]) if "sd_model_checkpoint" in override else context.model
    request = Request(
        model=model, output=context.output_dir / "sdapi", prompt=body.prompt, negative_prompt=body.negative_prompt,
        seed=_seed(body.seed), sampler=_sampler(body), discretization=_schedule(body.scheduler),
        num=body.batch_size * body.n_iter, steps=body.steps, cfg=body.cfg_scale, width=body.width,
        height=body.height, device=context.runtime.device, dtype=context.runtime.dtype,
        compile=context.runtime.compile, **image,
    )  # fmt: skip
    try:
        context.limits.check(request, API_NAMES)  # the server's limits, tighter than sgm.pipelines' own, first
        request = check_request(request)
    except SgmError as error:
        raise FieldError(named_field(str(error), request.given(), API_NAMES), str(error)) from None
    return request


def _generate(context: ApiContext, body: GenerationBody, request: Request) -> dict[str, Any]:
    try:
        job = context.queue.submit(request)
    except QueueFull as error:
        raise queue_full(error) from None
    job.wait()
    if job.state not in (DONE, CANCELLED):
        error = job.error
        status = 422 if isinstance(error, SgmError) else 500
        raise HTTPException(status_code=status, detail=f"{type(error).__name__}: {error}")
    images = [encoded_file(path) for path in job.files] if body.send_images else []
    return {"images": images, "parameters": body.model_dump(), "info": json.dumps(_info(job, request))}


def _info(job: Job, request: Request) -> dict[str, Any]:
    """AUTOMATIC1111's `info` (a JSON string in the answer): what the images were made with, read back from them."""
    recorded = {}
    if job.files:
        with Image.open(job.files[0]) as image:
            recorded = dict(image.text)
    count = request.num or 1
    return {
        "prompt": request.prompt, "all_prompts": [request.prompt] * count, "negative_prompt": request.negative_prompt,
        "all_negative_prompts": [request.negative_prompt] * count, "seed": request.seed,
        "all_seeds": [request.seed] * count, "subseed": -1, "all_subseeds": [-1] * count,
        "width": int(recorded.get("width", request.width or 0)), "height": int(recorded.get("height", request.height or 0)),
        "sampler_name": recorded.get("sampler", request.sampler), "steps": int(recorded.get("steps", request.steps or 0)),
        "cfg_scale": float(recorded.get("guidance", request.cfg or 0)), "batch_size": count,
        "sd_model_name": request.model, "denoising_strength": request.strength,
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(job.created)),
        "interrupted": job.state == CANCELLED,
    }  # fmt: skip


def _progress(context: ApiContext) -> dict[str, Any]:
    running = context.queue.running()
    job = running[0] if running else None
    progress = job.fraction if job else 0.0
    elapsed = time.time() - job.started if job and job.started else 0.0
    return {
        "progress": progress,
        "eta_relative": elapsed / progress - elapsed if progress > 0 else 0.0,
        "state": {
            "skipped": False, "interrupted": bool(job and job.cancel_requested.is_set()), "stopping_generation": False,
            "job": job.id if job else "", "job_count": len(running) + context.queue.waiting(),
            "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(job.created)) if job else "0",
            "job_no": 0, "sampling_step": job.step if job else 0, "sampling_steps": job.total if job else 0,
        },
        "current_image": None,
        "textinfo": f"{job.request.model}: {job.stage} {job.step}/{job.total}" if job else None,
    }  # fmt: skip


def router(context: ApiContext, dependencies: list) -> APIRouter:
    """The `/sdapi/v1` routes over `context`; `dependencies` (the key check) guard each."""
    api = APIRouter(prefix="/sdapi/v1", dependencies=dependencies, tags=["AUTOMATIC1111"])

    @api.post("/txt2img")
    def txt2img(body: GenerationBody) -> dict[str, Any]:
        return _generate(context, body, build_request(context, body))

    @api.post("/img2img")
    def img2img(body: ImageToImageBody) -> dict[str, Any]:
        folder = context.output_dir / "sdapi" / "uploads"
        image = saved_upload("init_images", body.init_images[0], folder, context.uploads)
        mask = None if body.mask is None else saved_upload("mask", body.mask, folder, context.uploads)  # white: repaint
        request = build_request(context, body, init_image=image, mask=mask, strength=body.denoising_strength)
        return _generate(context, body, request)

    @api.get("/sd-models")
    def sd_models() -> list[dict[str, Any]]:
        return [{"title": name, "model_name": name, "hash": None, "sha256": None,
                 "filename": str(catalog.local_checkpoint(name)), "config": None}
                for name in present_image_models()]  # fmt: skip

    @api.get("/options")
    def get_options() -> dict[str, Any]:
        return {"sd_model_checkpoint": context.model, "sd_checkpoint_hash": None, "samples_format": "png"}

    @api.post("/options")
    def set_options(options: dict[str, Any]) -> None:
        if "sd_model_checkpoint" in options:
            name = model_title(options["sd_model_checkpoint"])
            try:
                catalog.find_checkpoint(name)
            except SgmError as error:
                raise FieldError("sd_model_checkpoint", str(error)) from None
            context.model = name

    @api.get("/samplers")
    def samplers() -> list[dict[str, Any]]:
        return sampler_api_list()

    @api.get("/schedulers")
    def schedulers() -> list[dict[str, Any]]:
        return schedule_api_list()

    @api.get("/progress")
    def progress() -> dict[str, Any]:
        return _progress(context)

    @api.post("/interrupt")
    def interrupt() -> dict[str, Any]:
        for job in context.queue.running():
            context.queue.cancel(job)
        return {}

    return api
