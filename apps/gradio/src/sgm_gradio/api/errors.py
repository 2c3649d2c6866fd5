"""API errors as HTTP answers: a bad value is a 422 naming the field (FastAPI's `{"detail": [{"loc", "msg",
"type"}]}`, as AUTOMATIC1111's validation answers), a missing or wrong key a 401, a full queue a 503."""

import re
from collections.abc import Iterable, Mapping

from fastapi import HTTPException
from fastapi.responses import JSONResponse


class FieldError(Exception):
    """A request field whose value the server cannot take."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


def field_error_response(error: FieldError) -> JSONResponse:
    location = ["body", error.field] if error.field else ["body"]
    return JSONResponse({"detail": [{"loc": location, "msg": str(error), "type": "value_error"}]}, status_code=422)


def named_field(message: str, fields: Iterable[str], api_names: Mapping[str, str] | None = None) -> str | None:
    """The request field a check's message is about: of `fields` (sgm.pipelines.Request names), the one it names
    first, given by its API name (`api_names`, e.g. cfg -> cfg_scale); None when it names none. Messages say "model"
    about most fields ("a txt2img model takes no fps"), so it counts only when no other field is named."""
    found = [(name == "model", match.start(), name) for name in fields
             if (match := re.search(rf"\b{re.escape(name)}\b", message))]  # fmt: skip
    if not found:
        return None
    name = min(found)[2]
    return (api_names or {}).get(name, name)


def queue_full(error: Exception) -> HTTPException:
    return HTTPException(status_code=503, detail=str(error), headers={"Retry-After": "10"})
