"""JSON responses rendered by orjson (FastAPI's ``ORJSONResponse`` is deprecated in 0.165).

Naive datetimes are UTC throughout ailab, so they are written with an explicit ``+00:00``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def dumps(content: Any) -> bytes:
    """``content`` as JSON bytes (orjson; naive datetimes as UTC)."""
    return orjson.dumps(content, option=JSON_OPTIONS)


class JSONBytesResponse(JSONResponse):
    """``application/json`` rendered by orjson; also accepts ready-made bytes unchanged.

    A ``JSONResponse`` so that FastAPI documents a route's declared model as its body."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """``content`` as the body: bytes unchanged, anything else through ``dumps``."""
        if isinstance(content, bytes):
            return content
        return dumps(content)
