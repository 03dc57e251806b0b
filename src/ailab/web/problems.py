"""The API's one error shape: ``application/problem+json`` (RFC 9457), and how routes document it.

Every non-2xx answer of the API is a problem::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "No work item 'WI-9'; check the id or key ...",
     "errors": [{"field": "title", "location": "body", "message": "..."}]}   # 422 only

``type`` is ``about:blank`` (so ``title`` is the HTTP status phrase), ``detail`` says what was
wrong and what to do. Extension members are allowed (``/healthz`` adds ``database``).

For a new route, two calls:

* answer an error with ``problem(status, detail, headers=...)`` (or raise an ``ailab.errors``
  error or ``HTTPException``: ``error_handlers`` turns them into problems);
* declare every status the operation can answer with ``responses=documented(404, 503)``
  (or one of the tuples below, e.g. ``documented(*ITEM_READ)``); each status carries its
  description and headers (``WWW-Authenticate``, ``Allow``, ``Retry-After``) from ``STATUSES``.

The fuzz test (``tests/test_web_fuzz.py``) fails for a status a route answers but does not document.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ailab.web.responses import dumps

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = "1"


class FieldError(BaseModel):
    """One reason a request was invalid (422)."""

    field: str = Field(description="Dotted path of the offending value, e.g. `tags.2` or `limit`.")
    location: str = Field(description="Where the value was: `body`, `query`, `path` or `header`.")
    message: str


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field("about:blank", description="`about:blank`: the status says what kind of error.")
    title: str = Field(description="The HTTP status phrase, e.g. `Not Found`.")
    status: int = Field(ge=400, le=599, description="The HTTP status code, repeated.")
    detail: str = Field(description="What was wrong, and what to do about it.")
    errors: list[FieldError] | None = Field(
        None, description="Per-field reasons; present on 422 (and 400 for a malformed body)."
    )


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """The ``application/problem+json`` response for ``status`` (rendered by orjson, no pydantic)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extensions)
    return Response(dumps(body), status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _header(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": "string", "example": example}}


# What each status means in this API, and the headers it always carries.
STATUSES: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("The body is not valid JSON (or not UTF-8).", {}),
    401: (
        "No bearer token, or a wrong one: send `Authorization: Bearer <AILAB_API_TOKEN>`.",
        {"WWW-Authenticate": _header("How to authenticate.", 'Bearer realm="ailab"')},
    ),
    403: ("Writes are disabled: the server runs without AILAB_API_TOKEN.", {}),
    404: ("No work item with this id or key.", {}),
    405: (
        "The path exists but not with this method.",
        {"Allow": _header("The methods the path supports.", "GET, PATCH")},
    ),
    409: (
        "The write conflicts with the current data: the key is taken, a project, parent or "
        "dependency it names does not exist, or it would make a dependency cycle.",
        {},
    ),
    413: ("The body is larger than AILAB_MAX_BODY_BYTES.", {}),
    415: ("The body is not `application/json`.", {}),
    422: ("A parameter or body field breaks the schema or the data's rules; see `errors`.", {}),
    503: (
        "The database is busy (all connections in use) or unreachable: retry after `Retry-After` seconds.",
        {"Retry-After": _header("Seconds to wait before retrying.", RETRY_AFTER_SECONDS)},
    ),
}

# Typical sets: a plain read, a read with parameters, a read of one item (by path), a write,
# a write to one item (by path).
READ = (503,)
FILTERED_READ = (422, 503)
ITEM_READ = (404, 422, 503)
WRITE = (400, 401, 403, 409, 413, 415, 422, 503)
ITEM_WRITE = (*WRITE, 404)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for these error statuses: problem+json bodies with their headers."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        description, headers = STATUSES[status]
        entry: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if headers:
            entry["headers"] = headers
        out[status] = entry
    return out


def install(app: FastAPI) -> None:
    """Add ``Problem`` (and ``FieldError``) to the app's OpenAPI components."""
    build = app.openapi

    defs = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    extra = {**defs.pop("$defs", {}), "Problem": defs}

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI's, cached until the routes change
        schema.setdefault("components", {}).setdefault("schemas", {}).update(extra)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
