"""Per-request query profiling: a ``Server-Timing`` header, metrics and a slow-request log.

A plain ASGI middleware (not ``BaseHTTPMiddleware``, which costs a task per request). It traces
every statement the request runs, including in worker threads (``trace`` follows the context),
and on the way out

* adds ``Server-Timing: db;dur=<ms>;desc="<n> statements", app;dur=<ms>``, visible in the
  browser's network panel. ``<n>`` counts queries; transaction control (the ``BEGIN`` that
  SQLite connections send themselves, savepoints) is left out of the count but not of the time;
* records the latency, statement count and database time in the app's Prometheus metrics;
* logs requests slower than ``AILAB_SLOW_REQUEST_MS`` with their statements and timings (like
  django-silk). SQL text only, never parameters or headers, so no secret reaches the log.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ailab.db import Tracer, trace
from ailab.web.metrics import WebMetrics

slow_log = logging.getLogger("ailab.web.slow")
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def query_count(tracer: Tracer) -> int:
    """Statements other than transaction control: what a request's statement budget counts."""
    return sum(1 for s in tracer.statements if not s.sql.lstrip().upper().startswith(_CONTROL))


class ProfilingMiddleware:
    """ASGI middleware: ``Server-Timing``, metrics and the slow log for every request (module docstring)."""

    def __init__(self, app: ASGIApp, *, metrics: WebMetrics, slow_request_ms: float = 0.0) -> None:
        self.app = app
        self.metrics = metrics
        self.slow_request_ms = slow_request_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        with trace(keep_params=False) as tracer:

            async def send_with_timing(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    app_ms = (time.perf_counter() - started) * 1000.0
                    MutableHeaders(scope=message).append(
                        "Server-Timing",
                        f'db;dur={tracer.total_ms:.3f};desc="{query_count(tracer)} statements", app;dur={app_ms:.3f}',
                    )
                await send(message)

            try:
                await self.app(scope, receive, send_with_timing)
            finally:
                elapsed = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                self.metrics.observe(
                    method=scope["method"],
                    route=route,
                    status=status,
                    seconds=elapsed,
                    statements=query_count(tracer),
                    db_seconds=tracer.total_ms / 1000.0,
                )
                if self.slow_request_ms > 0 and elapsed * 1000.0 >= self.slow_request_ms:
                    slow_log.warning(
                        "slow request: %s %s -> %s in %.1f ms (threshold %.0f ms); %s",
                        scope["method"],
                        route,
                        status,
                        elapsed * 1000.0,
                        self.slow_request_ms,
                        tracer.summary(),
                    )
