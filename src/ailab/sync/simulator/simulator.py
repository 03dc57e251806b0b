"""``GitHubSimulator``: the simulated GitHub's state, limits, faults and counters in one object.

The HTTP layers (``rest.py``, ``graphql_api.py``) share the request pipeline helpers here:
auth, the in-flight count, refusals with GitHub's bodies and headers, and transport aborts.
Tests and reports reach it as ``app.state.sim`` and use the Python methods below to seed and
inspect the remote state without going through HTTP (and without touching the counters).
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Iterable
from typing import Any

import httpx
import orjson
from starlette.types import Receive, Scope, Send

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.errors import NotFoundError, ValidationError
from ailab.sync.simulator.config import FaultRule, SimulatorConfig
from ailab.sync.simulator.counters import SimCounters
from ailab.sync.simulator.faults import FaultInjector, SimulatedConnectionReset, SimulatedTimeout
from ailab.sync.simulator.limits import HourlyBudget, Limits, Refusal
from ailab.sync.simulator.model import Issue, Repo
from ailab.sync.simulator.rest_shapes import Shapes
from ailab.sync.simulator.state import World
from ailab.sync.simulator.webhooks import WebhookConfig, WebhookSender

Headers = list[tuple[bytes, bytes]]

DOCS = "https://docs.github.com/rest"
PRIMARY_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-the-primary-rate-limit"
SECONDARY_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")


class GitHubSimulator:
    """A simulated GitHub for one authenticated user. See the package docstring for the API."""

    def __init__(self, config: SimulatorConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.world = World(self.clock, self.config.id_epoch)
        self.shapes = Shapes(self.config.api_url, self.config.html_url, self.config.login)
        self.limits = Limits(self.config)
        self.faults = FaultInjector(self.config.faults)
        self.counters = SimCounters()
        self._request_ids = itertools.count(1)
        token = self.config.token
        self._token = token.reveal().encode() if token else None
        self.webhooks: WebhookSender | None = None
        if self.config.webhook is not None:
            self.enable_webhooks(self.config.webhook)

    def enable_webhooks(
        self, config: WebhookConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> WebhookSender:
        """Send signed ``issues`` deliveries for every change from now on (``transport``: in-process)."""
        self.webhooks = WebhookSender(self, config, transport)
        self.world.listener = self.webhooks.issue_event
        return self.webhooks

    def __repr__(self) -> str:
        return f"<GitHubSimulator repos={len(self.world.repos)} requests={self.counters.total}>"

    # -- seeding and inspecting the remote (no HTTP, no counters) ----------------------------
    def create_repo(self, full_name: str, *, has_issues: bool = True) -> Repo:
        """Create (or return) ``owner/name``; ``has_issues=False`` makes issue creation 410."""
        owner, name = _split(full_name)
        repo = self.world.repo(owner, name, has_issues=has_issues)
        repo.has_issues = has_issues
        return repo

    def repo(self, full_name: str) -> Repo:
        """The repository ``owner/name`` for tests (``NotFoundError`` if it does not exist)."""
        owner, name = _split(full_name)
        found = self.world.repos.get(f"{owner}/{name}".lower())
        if found is None:
            raise NotFoundError(
                f"The simulator has no repository {full_name!r}; create it with create_repo()."
            )
        return found

    def issues(self, full_name: str) -> list[dict[str, Any]]:
        """Every issue of the repo (open and closed) as GitHub's REST JSON, by number."""
        owner, name = _split(full_name)
        found = self.world.repos.get(f"{owner}/{name}".lower())
        if found is None:
            return []
        return [orjson.loads(self.shapes.issue_bytes(i)) for i in found.issues.values()]

    def issue(self, full_name: str, number: int) -> dict[str, Any]:
        """Issue ``number`` as its REST JSON, for tests."""
        issue = self._issue(full_name, number)
        result: dict[str, Any] = orjson.loads(self.shapes.issue_bytes(issue))
        return result

    def labels(self, full_name: str) -> list[dict[str, Any]]:
        """A repository's labels as REST JSON, for tests."""
        return [dict(self.shapes.label(label)) for label in self.repo(full_name).labels.values()]

    def seed_issue(
        self,
        full_name: str,
        title: str,
        body: str | None = None,
        labels: Iterable[str] = (),
        state: str = "open",
        state_reason: str | None = None,
    ) -> dict[str, Any]:
        """Create an issue directly in the remote state (as if made earlier, outside the sync)."""
        owner, name = _split(full_name)
        repo = self.world.repo(owner, name)
        issue = self.world.create_issue(repo, title, body, self.world.labels_named(repo, labels))
        if state != "open":
            self.world.set_state(issue, state, state_reason)
        return self.issue(full_name, issue.number)

    def edit_issue(
        self,
        full_name: str,
        number: int,
        *,
        title: str | None = None,
        body: Any = ...,
        state: str | None = None,
        state_reason: str | None = None,
        labels: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Change an issue as a person on github.com would (bumps ``updated_at`` if anything changed)."""
        issue = self._issue(full_name, number)
        label_list = None if labels is None else self.world.labels_named(issue.repo, labels)
        self.world.edit(issue, title=title, body=body, labels=label_list)
        if state is not None:
            self.world.set_state(issue, state, state_reason)
        return self.issue(full_name, number)

    # -- remotes changing under the sync (GitHub's 410 / 301 / NOT_FOUND behaviour) -----------
    def delete_issue(self, full_name: str, number: int) -> None:
        """Delete an issue as an admin on github.com would: 410 for its number from now on."""
        self.world.delete_issue(self._issue(full_name, number))

    def transfer_issue(self, full_name: str, number: int, to: str) -> dict[str, Any]:
        """Transfer an issue to repository ``to`` (created if needed); its old number answers 301."""
        owner, name = _split(to)
        moved = self.world.transfer_issue(self._issue(full_name, number), self.world.repo(owner, name))
        return self.issue(to, moved.number)

    def delete_label(self, full_name: str, name: str) -> None:
        """Delete a label; it disappears from its issues (their ``updated_at`` unchanged)."""
        self.world.delete_label(self.repo(full_name), name)

    def reset(self) -> None:
        """Forget every repository, issue and label, as a restart would; new IDs from now on."""
        listener = self.world.listener  # the webhook keeps watching the new, empty world
        self.world = World(self.clock, self.world.epoch + 1)
        self.world.listener = listener

    def _issue(self, full_name: str, number: int) -> Issue:
        found = self.repo(full_name).issues.get(number)
        if found is None:
            raise NotFoundError(f"The simulator has no issue {full_name}#{number}.")
        return found

    # -- faults, counters, limits ----------------------------------------------------------------
    def add_fault(self, rule: FaultRule) -> None:
        """Script a fault, e.g. ``FaultRule(FaultKind.RESET, nth=3, method="POST")``."""
        self.faults.add(rule)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.faults.clear()

    def reset_counters(self) -> None:
        """Zero the request counters (between phases of a test)."""
        self.counters.reset()

    def rate_limit(self, resource: str = "core") -> dict[str, int]:
        """``{limit, used, remaining, reset}`` of ``core`` or ``graphql``."""
        budget = self.limits.core if resource == "core" else self.limits.graphql
        return budget.snapshot(self.clock.time())

    # -- pipeline helpers shared by REST and GraphQL -----------------------------------------------
    def authorized(self, authorization: bytes | None) -> bool:
        """True when the ``Authorization`` header carries the configured token (always, without one)."""
        if self._token is None:
            return True
        if not authorization:
            return False
        scheme, _, value = authorization.partition(b" ")
        if scheme.lower() not in (b"bearer", b"token"):
            return False
        return hmac.compare_digest(value.strip(), self._token)

    def next_request_id(self) -> bytes:
        """A fresh ``x-github-request-id``."""
        return f"SIM0:{next(self._request_ids):08X}".encode()

    async def reply(
        self, send: Send, status: int, body: bytes, headers: Headers, request_id: bytes, *, json: bool = True
    ) -> None:
        """Send a complete answer with the request id and content length, and count its status."""
        self.counters.status[status] += 1
        out = [*headers, (b"x-github-request-id", request_id), (b"content-length", str(len(body)).encode())]
        if json and body:
            out.append(JSON_TYPE)
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    async def unauthorized(self, send: Send, budget: HourlyBudget, request_id: bytes) -> None:
        """Answer 401 Bad credentials, as GitHub does."""
        self.counters.unauthorized += 1
        body = orjson.dumps({"message": "Bad credentials", "documentation_url": DOCS, "status": "401"})
        await self.reply(send, 401, body, budget.headers(self.clock.time()), request_id)

    def refusal_body(self, request_id: bytes, *, primary: bool) -> bytes:
        """The JSON of a rate-limit refusal: primary (budget spent) or secondary (too fast)."""
        if primary:
            return orjson.dumps(
                {"message": "API rate limit exceeded for user ID 1.", "documentation_url": PRIMARY_DOCS}
            )
        return orjson.dumps(
            {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                f"again. If you reach out to GitHub Support for help, please include the request ID "
                f"{request_id.decode()}.",
                "documentation_url": SECONDARY_DOCS,
            }
        )

    async def refuse(
        self, send: Send, refusal: Refusal, budget: HourlyBudget, request_id: bytes, *, primary: bool = False
    ) -> None:
        """Answer a rate-limit refusal: 403/429, GitHub's body, ``retry-after`` when known."""
        self.counters.rate_limited[refusal.reason] += 1
        now = self.clock.time()
        headers = budget.headers(now)
        if refusal.retry_after is not None:
            headers.append((b"retry-after", str(refusal.retry_after).encode()))
        status = self.config.primary_limit_status if primary else self.config.secondary_limit_status
        await self.reply(send, status, self.refusal_body(request_id, primary=primary), headers, request_id)

    def enter(self) -> Refusal | None:
        """Count a request in flight; refuse it when that exceeds ``max_concurrent``."""
        limits = self.limits
        limits.in_flight += 1
        if limits.in_flight > self.counters.max_in_flight:
            self.counters.max_in_flight = limits.in_flight
        if limits.in_flight > self.config.max_concurrent:
            return Refusal("concurrency", None)
        return None

    def leave(self) -> None:
        """A request admitted by ``admit`` is done (it no longer counts as in flight)."""
        self.limits.in_flight -= 1

    async def admit(
        self, route_key: str, budget: HourlyBudget, scope: Scope, send: Send
    ) -> tuple[bytes, float] | None:
        """The steps every request passes before its handler: count it, check the token and the
        concurrency limit, add the configured latency, roll the budget's window.

        Returns ``(request_id, now)`` with the request counted in flight (the caller must
        ``leave()``), or None after answering a refusal itself."""
        self.counters.received[route_key] += 1
        request_id = self.next_request_id()
        if not self.authorized(header(scope, b"authorization")):
            await self.unauthorized(send, budget, request_id)
            return None
        refusal = self.enter()
        try:
            if refusal is not None:
                await self.refuse(send, refusal, budget, request_id)
                self.leave()
                return None
            if self.config.latency_seconds:
                await self.clock.sleep(self.config.latency_seconds)
        except BaseException:
            self.leave()
            raise
        now = self.clock.time()
        budget.roll(now)
        return request_id, now

    async def abort(self, send: Send, *, timeout: bool) -> None:
        """Break the response mid-way: start it, send part of it, then raise a transport error.

        In-process, httpx.ASGITransport re-raises our ``httpx.ReadError``/``ReadTimeout``
        subclass to the client; over a socket, the server drops the half-sent response.
        """
        if timeout and self.config.faults.hang_seconds > 0:
            await self.clock.sleep(self.config.faults.hang_seconds)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [JSON_TYPE, (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        if timeout:
            raise SimulatedTimeout("simulated timeout: the request was applied, the response never came")
        raise SimulatedConnectionReset("simulated connection reset by peer")


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first request header called ``name`` (lower-case bytes), or ``None``."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(receive: Receive) -> bytes:
    """The whole request body from an ASGI ``receive``."""
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def base_url(scope: Scope) -> str:
    """``scheme://host`` the client used, for ``link`` and ``location`` headers."""
    host = header(scope, b"host")
    if host is None:
        server = scope.get("server") or ("localhost", 80)
        return f"{scope.get('scheme', 'http')}://{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}"


def _split(full_name: str) -> tuple[str, str]:
    owner, sep, name = full_name.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ValidationError(f"{full_name!r} is not a repository name; use 'owner/name'.")
    return owner, name
