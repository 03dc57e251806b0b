"""Errors to responses: one mapping for FastAPI's exception handlers and the fast lane.

* ``ValidationError`` 422, ``NotFoundError`` 404, other ``AilabError`` 400;
* pool exhausted or the database unreachable: 503 with ``Retry-After``;
* request validation (FastAPI): 422 with one readable sentence and the per-field errors;
* anything else: 500 without internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ailab.errors import AilabError, DatabaseError, NotFoundError, PoolExhaustedError, ValidationError
from ailab.web.responses import JSONBytesResponse, error_response

log = logging.getLogger("ailab.web")
RETRY_AFTER_SECONDS = "1"
DATABASE_DOWN = "The database did not answer; check that it is running and reachable, then retry."
INTERNAL = "Internal server error; the server log has the details."


def validation_message(err: RequestValidationError) -> str:
    parts = []
    for error in err.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where = ".".join(loc[1:] if len(loc) > 1 and loc[0] in ("query", "body", "path", "header") else loc)
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid value')}")
    return "Invalid request: " + "; ".join(parts) + "."


def response_for(err: Exception, method: str, path: str) -> Response:
    """The response for an error raised while serving ``method path``."""
    if isinstance(err, AilabError):
        if isinstance(err, ValidationError):
            return error_response(422, str(err))
        if isinstance(err, NotFoundError):
            return error_response(404, str(err))
        if isinstance(err, PoolExhaustedError | DatabaseError):
            return error_response(503, str(err), {"Retry-After": RETRY_AFTER_SECONDS})
        return error_response(400, str(err))
    if isinstance(err, RequestValidationError):
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in err.errors()
        ]
        return JSONBytesResponse({"detail": validation_message(err), "errors": errors}, status_code=422)
    if isinstance(err, HTTPException):
        return error_response(err.status_code, str(err.detail), dict(err.headers or {}))
    if isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError):
        log.error("database error on %s %s: %s", method, path, type(err).__name__)
        return error_response(503, DATABASE_DOWN, {"Retry-After": RETRY_AFTER_SECONDS})
    log.exception("unexpected error on %s %s", method, path, exc_info=err)
    return error_response(500, INTERNAL)


def install(app: FastAPI) -> None:
    async def handle(request: Request, err: Exception) -> Response:
        return response_for(err, request.method, request.url.path)

    for kind in (
        AilabError,
        RequestValidationError,
        HTTPException,
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        Exception,
    ):
        app.add_exception_handler(kind, handle)
