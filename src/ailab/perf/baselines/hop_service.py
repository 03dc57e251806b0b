"""A minimal "database service" for the microservices probe: one item as JSON over HTTP.

Bare ASGI (no framework), so the measured hop is a lower bound: a real service behind a
framework and a gateway costs more. Reads ``AILAB_DATABASE_URL``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from ailab.db import connect, get_engine
from ailab.errors import NotFoundError
from ailab.queries import get_work_item

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    if path == "/healthz":
        await _respond(send, 200, b'{"ok":true}')
        return
    if not path.startswith("/items/"):
        await _respond(send, 404, b'{"detail":"not found"}')
        return
    # Inline on the loop like an in-process call would be: the hop itself is what is measured.
    try:
        with connect(get_engine()) as conn:
            item = get_work_item(conn, path.removeprefix("/items/"))
    except NotFoundError as err:
        await _respond(send, 404, orjson.dumps({"detail": str(err)}))
        return
    await _respond(send, 200, orjson.dumps(item))
