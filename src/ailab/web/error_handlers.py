"""Errors to problem+json responses (``problems.py``): one mapping for FastAPI and the fast lane.

* ``ConflictError`` 409 (also ``MissingReferenceError``: a write names a row that does not
  exist), other ``ValidationError`` 422, ``NotFoundError`` 404;
* pool exhausted or the database unreachable: 503 with ``Retry-After``;
* request validation (FastAPI): 422 with one readable sentence and ``errors[]`` per field,
  except a body that is not JSON at all: 400;
* ``HTTPException`` (the router's 404/405, auth's 401/403, the body limit's 413, ...): its
  status, with a 405's ``Allow`` listing every method of the path;
* anything else: 500 without internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute

from ailab.db.timeouts import is_statement_timeout
from ailab.errors import (
    AilabError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    PoolExhaustedError,
    ValidationError,
)
from ailab.web.problems import RETRY_AFTER_SECONDS, problem
from ailab.web.schemas import PATTERN_MESSAGES

log = logging.getLogger("ailab.web")
STATEMENT_TIMEOUT = (
    "The database took longer than the statement timeout (AILAB_STATEMENT_TIMEOUT_MS) to answer, "
    "e.g. waiting behind another transaction's lock; the request was cancelled. Retry shortly."
)
DATABASE_DOWN = "The database did not answer; check that it is running and reachable, then retry."
INTERNAL = "Internal server error; the server log has the details."
RETRY = {"Retry-After": RETRY_AFTER_SECONDS}
_LOCATIONS = ("query", "body", "path", "header")


def _is_branch(part: str) -> bool:
    """A location part naming a branch of a union (``constrained-int``, ``CriterionIn``), not a field."""
    return "-" in part or "[" in part or part[:1].isupper() or part in ("str", "int", "float", "bool")


def _field_errors(err: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for error in err.errors():
        loc = [str(p) for p in error.get("loc", ()) if not _is_branch(str(p))]
        location = loc[0] if loc and loc[0] in _LOCATIONS else "request"
        field = ".".join(loc[1:] if location != "request" else loc)
        message = error.get("msg", "invalid value")
        if error.get("type") == "string_pattern_mismatch":
            pattern = (error.get("ctx") or {}).get("pattern", "")
            message = PATTERN_MESSAGES.get(pattern, message)
        out.append({"field": field or location, "location": location, "message": message})
    return out


def validation_message(errors: list[dict[str, str]]) -> str:
    """A 422's one-sentence detail: each field with its message."""
    parts = [f"{e['field']}: {e['message']}" for e in errors]
    return "Invalid request: " + "; ".join(parts) + "."


def _allowed_methods(routes: list[BaseRoute], path: str) -> str:
    methods: set[str] = set()
    for route in routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _http_problem(err: HTTPException, request: Request | None) -> Response:
    headers = dict(err.headers or {})
    status, detail = err.status_code, str(err.detail)
    if status == 404 and detail == "Not Found" and request is not None:
        detail = f"No such path {request.url.path!r}; the API is described at /openapi.json."
    elif status == 405 and request is not None:
        allow = _allowed_methods(request.app.routes, request.url.path)
        headers["Allow"] = allow
        detail = f"{request.method} is not supported here; use {allow}."
    elif status == 400 and detail == "There was an error parsing the body":
        detail = "The body could not be read (is it UTF-8 JSON?); send a JSON object."
    return problem(status, detail, headers=headers or None)


def response_for(err: Exception, method: str, path: str, request: Request | None = None) -> Response:
    """The response for an error raised while serving ``method path``."""
    if isinstance(err, AilabError):
        if isinstance(err, ConflictError):
            return problem(409, str(err))
        if isinstance(err, ValidationError):
            return problem(422, str(err))
        if isinstance(err, NotFoundError):
            return problem(404, str(err))
        if isinstance(err, PoolExhaustedError | DatabaseError):
            return problem(503, str(err), headers=RETRY)
        return problem(400, str(err))
    if isinstance(err, RequestValidationError):
        errors = _field_errors(err)
        malformed = [e for e in err.errors() if e.get("type") == "json_invalid"]
        if malformed:
            reason = (malformed[0].get("ctx") or {}).get("error", "JSON decode error")
            return problem(400, f"The body is not valid JSON ({reason}); send a JSON object.", errors=errors)
        return problem(422, validation_message(errors), errors=errors)
    if isinstance(err, HTTPException):
        return _http_problem(err, request)
    if isinstance(err, sa_exc.DBAPIError) and is_statement_timeout(err):
        log.warning("statement timeout on %s %s", method, path)
        return problem(503, STATEMENT_TIMEOUT, headers=RETRY)
    if isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError):
        log.error("database error on %s %s: %s", method, path, type(err).__name__)
        return problem(503, DATABASE_DOWN, headers=RETRY)
    log.exception("unexpected error on %s %s", method, path, exc_info=err)
    return problem(500, INTERNAL)


def install(app: FastAPI) -> None:
    """Answer every error raised inside FastAPI with ``response_for`` (the fast lane calls it itself)."""

    async def handle(request: Request, err: Exception) -> Response:
        return response_for(err, request.method, request.url.path, request)

    kinds: tuple[Any, ...] = (
        AilabError,
        RequestValidationError,
        HTTPException,
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        Exception,
    )
    for kind in kinds:
        app.add_exception_handler(kind, handle)
