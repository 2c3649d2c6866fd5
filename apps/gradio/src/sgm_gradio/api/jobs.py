"""`/v1/jobs`: any catalog model (video ones included) as a job: POST a request, GET where it stands and its
files, DELETE to cancel. The body holds `sgm.pipelines.Request` fields (`model`, `prompt`, `seed`, `num_frames`,
...); images and videos (`init_image`, `input`) come as base64, and where runs happen, in which dtype and with
which checkpoints is the server's choice."""

import dataclasses
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import FileResponse, JSONResponse
from sgm.core.errors import SgmError
from sgm.pipelines import Request, catalog, check_request

from sgm_gradio.api.context import ApiContext
from sgm_gradio.api.errors import FieldError, named_field, queue_full
from sgm_gradio.api.payloads import saved_upload
from sgm_gradio.job_queue import Job, QueueFull

SERVER_FIELDS = {"output", "ckpt", "refiner_ckpt", "device", "dtype", "compile", "attention", "watermark",
                 "allow_pickle"}
CLIENT_FIELDS = tuple(f.name for f in dataclasses.fields(Request) if f.name not in SERVER_FIELDS)
_UPLOADS = ("init_image", "input")
_SEQUENCES = ("elevations_deg", "azimuths_deg")
_TEXT = ("model", "prompt", "negative_prompt", "sampler", "discretization", "refiner", "format")


def build_request(context: ApiContext, body: dict[str, Any], folder: Path) -> Request:
    """The checked Request a job body asks for, its uploads written under `folder`; a FieldError names the field."""
    unknown = [key for key in body if key not in CLIENT_FIELDS]
    if unknown:
        which = "is set by the server" if unknown[0] in SERVER_FIELDS else "is not a request field"
        raise FieldError(unknown[0], f"{unknown[0]} {which}; a job takes {', '.join(CLIENT_FIELDS)}")
    if "model" not in body:
        raise FieldError("model", f"model is required: one of {', '.join(catalog.CATALOG)}")
    fields = dict(body)
    for key in _TEXT:
        if key in fields and not isinstance(fields[key], str):
            raise FieldError(key, f"{key} must be text, got {fields[key]!r}")
    try:
        entry = catalog.get_entry(fields["model"])
    except SgmError as error:
        raise FieldError("model", str(error)) from None
    for key in _SEQUENCES:
        if isinstance(fields.get(key), list):
            fields[key] = tuple(fields[key])
    for key in _UPLOADS:
        if fields.get(key) is not None:
            video = key == "input" and entry.task == "video2views"
            fields[key] = saved_upload(key, fields[key], folder / "inputs", context.uploads, video=video)
    request = Request(**fields, output=folder, device=context.runtime.device, dtype=context.runtime.dtype,
                      compile=context.runtime.compile)
    try:
        request = check_request(request)
    except SgmError as error:
        raise FieldError(named_field(str(error), request.given()), str(error)) from None
    context.limits.check(request)
    return request


def describe(job: Job, context: ApiContext) -> dict[str, Any]:
    """A job as JSON: its state, how far it is, its files (as URLs under the job), its failure."""
    media = [path for path in job.files if path.suffix != ".json"]
    error = job.error if job.state == "failed" else None
    return {
        "id": job.id, "model": job.request.model, "state": job.state,
        "progress": {"stage": job.stage, "step": job.step, "total": job.total, "fraction": job.fraction},
        "queue_position": context.queue.position(job),
        "files": [{"name": path.name, "url": f"/v1/jobs/{job.id}/files/{path.name}"} for path in media],
        "error": f"{type(error).__name__}: {error}" if error is not None else None,
        "created": job.created, "started": job.started, "finished": job.finished,
    }  # fmt: skip


def router(context: ApiContext, dependencies: list) -> APIRouter:
    api = APIRouter(prefix="/v1", dependencies=dependencies, tags=["jobs"])

    def found(job_id: str) -> Job:
        job = context.queue.get(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id} (finished jobs are kept for a while only)")
        return job

    @api.get("/models")
    def models() -> list[dict[str, Any]]:
        return [{"name": name, "task": entry.task, "present": catalog.local_checkpoint(name) is not None,
                 "defaults": dict(entry.defaults)} for name, entry in catalog.CATALOG.items()]  # fmt: skip

    @api.post("/jobs", status_code=202)
    def submit(body: dict[str, Any] = Body(...)) -> JSONResponse:
        job_id = uuid.uuid4().hex
        request = build_request(context, body, context.output_dir / "jobs" / job_id)
        try:
            job = context.queue.submit(request, job_id=job_id)
        except QueueFull as error:
            raise queue_full(error) from None
        return JSONResponse(describe(job, context), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    @api.get("/jobs/{job_id}")
    def status(job_id: str) -> dict[str, Any]:
        return describe(found(job_id), context)

    @api.get("/jobs/{job_id}/files/{name}")
    def file(job_id: str, name: str) -> FileResponse:
        path = next((path for path in found(job_id).files if path.name == name), None)
        if path is None or not path.is_file():
            raise HTTPException(status_code=404, detail=f"job {job_id} has no file {name}")
        return FileResponse(path)

    @api.delete("/jobs/{job_id}")
    def cancel(job_id: str) -> dict[str, Any]:
        job = found(job_id)
        context.queue.cancel(job)
        return describe(job, context)

    return api
