"""GitHub in the dashboard: the webhook receiver, its background applier and the sync status.

``POST /api/github/webhook`` (on when ``AILAB_GITHUB_WEBHOOK_SECRET`` is set) checks the
signature over the raw body (401 when missing or wrong; the body is never logged), records the
delivery in one statement (a replayed GUID is acknowledged and ignored) and answers 202 at once.
A background task then applies pending deliveries in the order received
(``ailab.sync.deliveries``); it also runs when the app starts, so deliveries acknowledged just
before a crash are applied then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ailab.db.tables import utcnow
from ailab.errors import AilabError, PoolExhaustedError
from ailab.settings import Secret
from ailab.sync.status import sync_status
from ailab.sync.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    parse_delivery,
    record_delivery,
    signature_ok,
)
from ailab.web.context import WebContext
from ailab.web.problems import PROBLEM_JSON
from ailab.web.responses import JSONBytesResponse

if TYPE_CHECKING:
    from ailab.sync.deliveries import Applied

log = logging.getLogger("ailab.web.github")
DISABLED = (
    "GitHub webhooks are off on this server. To enable them, start it with AILAB_GITHUB_WEBHOOK_SECRET set "
    "to the secret configured on the GitHub webhook."
)
BAD_SIGNATURE = (
    "Missing or wrong X-Hub-Signature-256; sign the raw body with HMAC-SHA256 keyed with the webhook secret."
)
RETRY_SECONDS = 0.5


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A ping, or a delivery already recorded (a replay): acknowledged, not applied again."
    },
    202: {"description": "Recorded; it is applied in the background."},
    401: _problem("Missing or wrong X-Hub-Signature-256: nothing recorded."),
    404: _problem("Webhooks are off: the server runs without AILAB_GITHUB_WEBHOOK_SECRET."),
    413: _problem("The body is larger than AILAB_MAX_BODY_BYTES."),
    422: _problem("Missing X-GitHub-Event or X-GitHub-Delivery, or a body that is not a JSON object."),
    503: _problem("The database is busy or unreachable; GitHub's redelivery can send it again."),
}
STATUS_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: _problem("The database is busy or unreachable: retry after `Retry-After` seconds.")
}


class WebhookReceiver:
    """The receiver and the applier of one app."""

    def __init__(self, ctx: WebContext, secret: Secret | None) -> None:
        self.ctx = ctx
        self.secret = secret
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        metrics = ctx.metrics
        self.received = metrics.webhook_deliveries.labels("received")
        self.replayed = metrics.webhook_deliveries.labels("replayed")
        self.rejected = metrics.webhook_deliveries.labels("rejected")

    @property
    def enabled(self) -> bool:
        """Whether webhooks are on: a secret is set."""
        return bool(self.secret)

    # -- receiving ---------------------------------------------------------------------------
    async def receive(self, request: Request) -> Response:
        """Check, record and acknowledge one delivery: 202 when new (applied in the background), 200 for a
        ping or a replay."""
        if not self.secret:
            raise HTTPException(404, DISABLED)
        body = await request.body()  # BodyLimit (AILAB_MAX_BODY_BYTES) has capped it already
        if not signature_ok(self.secret, body, request.headers.get(SIGNATURE_HEADER)):
            self.rejected.inc()
            raise HTTPException(401, BAD_SIGNATURE)
        event, guid = request.headers.get(EVENT_HEADER), request.headers.get(DELIVERY_HEADER)
        if event == "ping":
            self.received.inc()
            return JSONBytesResponse({"status": "pong", "guid": guid})
        delivery = parse_delivery(guid, event, body)
        now = utcnow()
        new = await self.ctx.write(lambda conn: record_delivery(conn, delivery, now))
        if not new:
            self.replayed.inc()
            return JSONBytesResponse({"status": "duplicate", "guid": delivery.guid})
        self.received.inc()
        self.wake()
        return JSONBytesResponse({"status": "accepted", "guid": delivery.guid}, status_code=202)

    # -- applying ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the applier (it first applies whatever is pending)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ailab-webhook-applier")

    async def stop(self) -> None:
        """Cancel the applier and wait for it; what is still pending stays recorded for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Tell the applier a delivery is pending, starting it if it is not running."""
        self._wake.set()
        self.start()

    async def _run(self) -> None:
        while True:
            try:
                await self.drain()
            except (PoolExhaustedError, OSError) as err:  # busy or unreachable: try again shortly
                log.warning("webhook applier: %s; retrying", type(err).__name__)
                await self.ctx.clock.sleep(RETRY_SECONDS)
                continue
            except AilabError as err:
                log.error("webhook applier stopped: %s", err)
                return
            await self._wake.wait()
            self._wake.clear()

    async def drain(self) -> list[Applied]:
        """Apply every pending delivery (oldest first); returns what became of each."""
        # Imported here: applying pulls in the sync's planner and its HTTP client (httpx), which
        # a server without webhooks never needs (~5 MiB of RSS).
        from ailab.sync.deliveries import apply_delivery, pending_ids

        engine = self.ctx.engine
        done: list[Applied] = []
        async with self._lock:
            while True:
                ids = await self.ctx.in_thread(lambda: pending_ids(engine))
                if not ids:
                    return done
                for delivery_id in ids:
                    result = await self.ctx.in_thread(lambda d=delivery_id: apply_delivery(engine, d))  # type: ignore[misc]
                    if result is not None:
                        self._observe(result)
                        done.append(result)

    def _observe(self, result: Applied) -> None:
        metrics = self.ctx.metrics
        metrics.webhook_deliveries.labels(result.status).inc()
        lag = (result.applied_at - result.received_at).total_seconds()
        metrics.webhook_lag.observe(max(0.0, lag))
        if result.status == "failed":
            # The reason may quote the payload: it goes to /api/sync/status, not to the log.
            log.warning("webhook delivery %s failed; /api/sync/status has the reason", result.delivery_id)


async def status(ctx: WebContext, receiver: WebhookReceiver) -> Response:
    """``/api/sync/status``: the sync's state as JSON (``Cache-Control: no-cache``)."""
    body = await ctx.read(lambda conn: sync_status(conn, webhooks_enabled=receiver.enabled))
    return JSONBytesResponse(body, headers={"Cache-Control": "no-cache"})
