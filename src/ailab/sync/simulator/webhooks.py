"""The simulator's repository webhook: signed ``issues`` deliveries for changes made through it.

Like GitHub: each delivery is a POST with ``X-GitHub-Event``, ``X-GitHub-Delivery`` (a GUID
that a redelivery keeps), ``X-GitHub-Hook-ID`` and ``X-Hub-Signature-256`` (HMAC-SHA256 of
the body), is recorded with the receiver's status code, and is never retried by itself:
``POST /repos/{o}/{r}/hooks/{hook_id}/deliveries/{delivery_id}/attempts`` redelivers one.

Payloads carry the issue as it is once the request that changed it is done (the snapshot is
taken on the next turn of the event loop), the repository and the ``sender`` (the simulator's
user, or another user for changes made through ``/_simulator/as/{login}/...``).

Fault switches (seeded, per delivery): ``drop`` (never sent; listed with status code 0),
``duplicate`` (sent twice with one GUID), ``delay`` (sent ``delay_seconds`` later), ``reorder``
(held back until the next delivery has gone) and ``wrong_signature`` (signed with another key).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from ailab.errors import ConfigError
from ailab.settings import Secret
from ailab.sync.signing import sign

if TYPE_CHECKING:
    from ailab.sync.simulator.model import Issue, Repo
    from ailab.sync.simulator.simulator import GitHubSimulator

log = logging.getLogger(__name__)
ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("sim_actor", default=None)
REORDER_WINDOW = 1.0  # a held delivery goes out after this long even if nothing overtakes it
WRONG_KEY = b"not-the-webhook-secret"


@dataclass(frozen=True)
class WebhookFaults:
    """The webhook's fault switches: per-delivery probabilities, drawn from an RNG seeded with ``seed``."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 2.0
    reorder: float = 0.0
    wrong_signature: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "delay", "reorder", "wrong_signature"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"webhook fault {name}={value} must be a probability in [0, 1].")


@dataclass(frozen=True)
class WebhookConfig:
    """Where the simulator's repository webhook sends, and with which secret."""

    url: str
    secret: Secret
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    hook_id: int = 1
    timeout: float = 10.0  # GitHub gives a receiver 10 seconds

    def __post_init__(self) -> None:
        if isinstance(self.secret, str):
            object.__setattr__(self, "secret", Secret(self.secret))
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"--webhook-url {self.url!r} is not an http(s) URL.")


@dataclass
class HookDelivery:
    """One attempt, as ``GET .../hooks/{hook_id}/deliveries`` lists it."""

    id: int
    guid: str
    event: str
    action: str | None
    repository_id: int | None
    body: bytes
    redelivery: bool = False
    status_code: int = 0
    status: str = "pending"
    delivered_at: float = 0.0
    duration: float = 0.0

    def summary(self) -> dict[str, Any]:
        """This attempt as an entry of the deliveries listing (without its body, as GitHub lists it)."""
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.delivered_at)),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": None,
            "repository_id": self.repository_id,
        }


class WebhookSender:
    """Builds, signs, sends and records the deliveries of one simulator."""

    def __init__(
        self, sim: GitHubSimulator, config: WebhookConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.sim = sim
        self.config = config
        self.transport = transport
        self.deliveries: dict[int, HookDelivery] = {}
        self._ids = itertools.count(1)
        self._rng = random.Random(config.faults.seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[HookDelivery | None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._held: HookDelivery | None = None
        self._held_task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._scheduled = 0  # emissions waiting for the current request to finish
        self._idle: asyncio.Event | None = None
        self._client: httpx.AsyncClient | None = None
        self._lock = threading.Lock()

    # -- events from the simulated world ----------------------------------------------------
    def issue_event(self, action: str, issue: Issue, extra: dict[str, Any] | None = None) -> None:
        """Queue an ``issues`` delivery; its payload is built once the current request is done."""
        sender = ACTOR.get() or self.sim.config.login
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._scheduled += 1
            loop.call_soon(self._emit, "issues", action, issue, extra or {}, sender, True)
        elif self._loop is not None and self._loop.is_running():
            self._scheduled += 1
            self._loop.call_soon_threadsafe(self._emit, "issues", action, issue, extra or {}, sender, True)
        else:
            self._emit("issues", action, issue, extra or {}, sender)

    def _payload(self, action: str, issue: Issue, extra: dict[str, Any], sender: str) -> dict[str, Any]:
        shapes, repo = self.sim.shapes, issue.repo
        user = dict(shapes.user)
        if sender != self.sim.config.login:
            user = {**user, "login": sender, "id": abs(hash(sender)) % 10_000_000 + 10, "type": "User"}
        return {
            "action": action,
            "issue": orjson.loads(shapes.issue_bytes(issue)),
            **extra,
            "repository": self._repository(repo),
            "sender": user,
        }

    def _repository(self, repo: Repo) -> dict[str, Any]:
        shapes = self.sim.shapes
        return {
            "id": repo.id,
            "node_id": repo.node_id,
            "name": repo.name,
            "full_name": repo.full_name,
            "private": False,
            "owner": {"login": repo.owner, "type": "Organization"},
            "html_url": f"{shapes.html}/{repo.full_name}",
            "url": f"{shapes.api}/repos/{repo.full_name}",
        }

    def _emit(
        self,
        event: str,
        action: str,
        issue: Issue,
        extra: dict[str, Any],
        sender: str,
        scheduled: bool = False,
    ) -> None:
        if scheduled:
            self._scheduled -= 1
        label = extra.get("label")
        if label is not None and not isinstance(label, dict):
            extra = {**extra, "label": dict(self.sim.shapes.label(label))}
        changes = extra.get("changes")
        if isinstance(changes, dict) and "new_issue" in changes:  # a transfer: where it went
            moved, target = changes["new_issue"], changes["new_repository"]
            extra = {**extra, "changes": {"new_issue": orjson.loads(self.sim.shapes.issue_bytes(moved)),
                                          "new_repository": self._repository(target)}}  # fmt: skip
        body = orjson.dumps(self._payload(action, issue, extra, sender))
        delivery = self._new(str(uuid.uuid4()), event, action, issue.repo.id, body)
        faults = self.config.faults
        roll = self._rng.random
        if faults.drop and roll() < faults.drop:
            delivery.status, delivery.delivered_at = "dropped (fault injection)", self.sim.clock.time()
            return
        copies = 2 if faults.duplicate and roll() < faults.duplicate else 1
        delayed = bool(faults.delay and roll() < faults.delay)
        reordered = bool(faults.reorder and roll() < faults.reorder)
        wrong = bool(faults.wrong_signature and roll() < faults.wrong_signature)
        self._enqueue(delivery, copies=copies, delayed=delayed, reordered=reordered, wrong=wrong)

    def _new(
        self, guid: str, event: str, action: str | None, repo_id: int | None, body: bytes
    ) -> HookDelivery:
        with self._lock:
            delivery = HookDelivery(next(self._ids), guid, event, action, repo_id, body)
            self.deliveries[delivery.id] = delivery
        return delivery

    # -- sending -----------------------------------------------------------------------------
    def _ensure_worker(self) -> asyncio.Queue[HookDelivery | None]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:
            self._loop = loop
            self._queue = asyncio.Queue()
            self._idle = asyncio.Event()
            self._idle.set()
            self._worker = loop.create_task(self._work(self._queue), name="sim-webhook-sender")
        return self._queue

    def _enqueue(
        self, delivery: HookDelivery, *, copies: int = 1, delayed: bool = False, reordered: bool = False,
        wrong: bool = False,
    ) -> None:  # fmt: skip
        try:
            queue = self._ensure_worker()
        except RuntimeError:  # no event loop: nothing can be sent (kept in the list, status pending)
            return
        assert self._idle is not None
        jobs = [(delivery, wrong)]
        for _ in range(copies - 1):
            jobs.append((self._new(delivery.guid, delivery.event, delivery.action, delivery.repository_id,
                                   delivery.body), wrong))  # fmt: skip
            jobs[-1][0].redelivery = True
        for job, bad in jobs:
            self._in_flight += 1
            self._idle.clear()
            if bad:
                job.status = "wrong signature (fault injection)"
            if delayed:
                asyncio.get_running_loop().create_task(self._later(job, self.config.faults.delay_seconds))
            elif reordered and self._held is None:
                self._held = job
                self._held_task = asyncio.get_running_loop().create_task(self._release_held())
            else:
                queue.put_nowait(job)
                if self._held is not None:  # the held one goes out after this one: reordered
                    held, self._held = self._held, None
                    if self._held_task is not None:
                        self._held_task.cancel()
                    queue.put_nowait(held)

    async def _later(self, delivery: HookDelivery, seconds: float) -> None:
        await self.sim.clock.sleep(seconds)
        if self._queue is not None:
            self._queue.put_nowait(delivery)

    async def _release_held(self) -> None:
        await self.sim.clock.sleep(REORDER_WINDOW)
        if self._held is not None and self._queue is not None:
            held, self._held = self._held, None
            self._queue.put_nowait(held)

    async def _work(self, queue: asyncio.Queue[HookDelivery | None]) -> None:
        async with httpx.AsyncClient(transport=self.transport, timeout=self.config.timeout) as client:
            self._client = client
            while True:
                delivery = await queue.get()
                if delivery is None:
                    return
                try:
                    await self._send(client, delivery)
                finally:
                    self._in_flight -= 1
                    if self._in_flight == 0 and self._idle is not None:
                        self._idle.set()

    async def _send(self, client: httpx.AsyncClient, delivery: HookDelivery) -> None:
        wrong = delivery.status.startswith("wrong signature")
        signature = sign(WRONG_KEY if wrong else self.config.secret, delivery.body)
        headers = {
            "content-type": "application/json",
            "user-agent": "GitHub-Hookshot/ailab-sim",
            "x-github-event": delivery.event,
            "x-github-delivery": delivery.guid,
            "x-github-hook-id": str(self.config.hook_id),
            "x-github-hook-installation-target-type": "repository",
            "x-hub-signature-256": signature,
        }
        started = time.perf_counter()
        delivery.delivered_at = self.sim.clock.time()
        try:
            response = await client.post(self.config.url, content=delivery.body, headers=headers)
            delivery.status_code = response.status_code
            delivery.status = (
                "OK" if response.is_success else f"Invalid HTTP Response: {response.status_code}"
            )
        except httpx.HTTPError as err:
            delivery.status_code, delivery.status = 0, f"failed to connect ({type(err).__name__})"
        delivery.duration = time.perf_counter() - started

    async def flush(self) -> None:
        """Wait until everything queued (held and delayed ones too) has been sent."""
        while self._scheduled or self._in_flight:
            if self._scheduled or self._idle is None:
                await asyncio.sleep(0)
            else:
                await self._idle.wait()

    async def close(self) -> None:
        """Stop the worker once what is queued has gone (``flush`` first: held and delayed ones too)."""
        if self._worker is not None and self._queue is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    def set_faults(self, faults: WebhookFaults) -> None:
        """New fault switches from now on (and a fresh RNG from their seed)."""
        self.config = replace(self.config, faults=faults)
        self._rng = random.Random(faults.seed)

    # -- the REST side -----------------------------------------------------------------------
    def redeliver(self, delivery_id: int) -> HookDelivery | None:
        """A new attempt of ``delivery_id`` (same GUID and body, ``redelivery: true``, no faults)."""
        old = self.deliveries.get(delivery_id)
        if old is None:
            return None
        again = self._new(old.guid, old.event, old.action, old.repository_id, old.body)
        again.redelivery = True
        self._enqueue(again)
        return again

    def listing(self) -> list[dict[str, Any]]:
        """Newest first, as GitHub lists a hook's deliveries."""
        with self._lock:
            return [d.summary() for d in sorted(self.deliveries.values(), key=lambda d: -d.id)]
