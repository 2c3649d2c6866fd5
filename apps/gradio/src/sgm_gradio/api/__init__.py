"""The HTTP API beside the page, on the same queue and model cache: AUTOMATIC1111's `/sdapi/v1` routes for the
image models and `/v1/jobs` for every catalog model, each behind the API key when the server has one."""

from fastapi import Depends, FastAPI

from sgm_gradio.api import automatic1111, jobs
from sgm_gradio.api.auth import key_check
from sgm_gradio.api.context import ApiContext
from sgm_gradio.api.errors import FieldError, field_error_response

__all__ = ["ApiContext", "add_api_routes"]


def add_api_routes(app: FastAPI, context: ApiContext) -> None:
    guard = [Depends(key_check(context.api_key))]
    app.include_router(automatic1111.router(context, guard))
    app.include_router(jobs.router(context, guard))
    app.add_exception_handler(FieldError, lambda request, error: field_error_response(error))
