"""Request bodies over ``AILAB_MAX_BODY_BYTES`` answer 413 as a problem, before they are read whole.

Starlette's (and FastAPI's ``max_body_size``) limiter would do the counting, but when the
announced ``Content-Length`` is too large it replaces whatever the app answers with a plain-text
413, so the error would not have the API's one shape. This is the same check in a few lines:
a too-large ``Content-Length`` is refused at once; a body sent without one (chunked) is counted
as it arrives and refused as soon as it passes the limit.

It sits inside the fast lane: the hot GETs never pass through it; methods without a body skip it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ailab.web.problems import problem

NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def too_large(limit: int) -> str:
    """The 413's detail for a body over ``limit`` bytes."""
    return f"The body is larger than {limit} bytes (AILAB_MAX_BODY_BYTES); send a smaller one."


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, by ``Content-Length`` or counted as it arrives."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in NO_BODY:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await problem(413, too_large(self.max_bytes))(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, too_large(self.max_bytes))
            return message

        await self.app(scope, counted, send)
