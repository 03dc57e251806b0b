"""Security headers on every answer, the page's and the API's alike.

* ``Content-Security-Policy``: the API's answers get ``default-src 'none'; frame-ancestors 'none'``
  (JSON loads nothing); the page keeps its own, stricter one (``page.py``: our own origin only,
  inline code by hash);
* ``X-Content-Type-Options: nosniff``: a browser never guesses another type than the one sent;
* ``Referrer-Policy: no-referrer``: links out of the dashboard do not carry its URL.

A plain ASGI middleware: a list append per answer, nothing parsed (the fast lane stays fast).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = b"default-src 'none'; frame-ancestors 'none'"
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", API_CSP),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """ASGI middleware adding each of ``HEADERS`` to every HTTP answer that does not set it already."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
