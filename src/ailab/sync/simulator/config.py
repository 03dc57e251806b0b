"""The simulator's settings: limits, latency, faults and the optional token, as frozen values.

Defaults are GitHub's documented numbers (see shared/github/README.md, sections 3 and 4):
5,000 requests/h REST, 5,000 points/h GraphQL, 100 concurrent requests, 900 REST points/min
(read 1, write 5), 2,000 GraphQL points/min, 80 content-creating requests/min and 500/h.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ailab.errors import ConfigError
from ailab.settings import Secret
from ailab.sync.simulator.webhooks import WebhookConfig


class FaultKind(enum.StrEnum):
    """What an injected fault does to a request."""

    SERVER_ERROR = "server_error"
    """Answer 5xx (``FaultConfig.server_error_status``) without applying the request."""

    SERVER_ERROR_AFTER_WRITE = "server_error_after_write"
    """Apply the request, then answer 5xx: the client cannot tell the write happened."""

    TIMEOUT_AFTER_WRITE = "timeout_after_write"
    """Apply the request, wait ``hang_seconds`` on the clock, then abort the response.

    In-process (httpx.ASGITransport) the client sees ``SimulatedTimeout`` (an
    ``httpx.ReadTimeout``); over a socket the connection is dropped mid-response (or the
    client's own read timeout fires first when ``hang_seconds`` exceeds it)."""

    RESET = "reset"
    """Drop the connection before applying anything: in-process the client sees
    ``SimulatedConnectionReset`` (an ``httpx.ReadError``); over a socket, a broken response."""


@dataclass(frozen=True)
class FaultRule:
    """A scripted fault: fail the ``nth`` (1-based) request matching, and ``times`` after it.

    A request matches when every given criterion holds: ``method`` (``"POST"``), ``route``
    (the route template, e.g. ``"/repos/{owner}/{repo}/issues"`` or ``"/graphql"``) and
    ``graphql_field`` (a root field of the GraphQL document, e.g. ``"createIssue"``).
    Only requests that passed auth and the rate limits are counted as matches.
    """

    kind: FaultKind
    nth: int = 1
    times: int = 1
    method: str | None = None
    route: str | None = None
    graphql_field: str | None = None
    status: int | None = None
    """5xx status for the SERVER_ERROR kinds; ``None`` uses ``FaultConfig.server_error_status``."""

    def __post_init__(self) -> None:
        if self.nth < 1 or self.times < 1:
            raise ConfigError(f"FaultRule nth={self.nth} times={self.times}: both must be >= 1.")
        if self.method is not None:
            object.__setattr__(self, "method", self.method.upper())


@dataclass(frozen=True)
class FaultConfig:
    """Random faults (seeded, so a run can be repeated) plus scripted ``FaultRule`` s.

    Each rate is the probability per eligible request; they are drawn from one seeded
    ``random.Random`` in request order, so the same requests in the same order get the same
    faults. ``writes_only`` limits random faults to non-GET REST requests and GraphQL mutations.
    """

    server_error_rate: float = 0.0
    timeout_after_write_rate: float = 0.0
    reset_rate: float = 0.0
    server_error_after_write_rate: float = 0.0
    seed: int = 0
    writes_only: bool = False
    server_error_status: int = 502
    hang_seconds: float = 0.0
    rules: tuple[FaultRule, ...] = ()

    def __post_init__(self) -> None:
        rates = (
            self.server_error_rate,
            self.timeout_after_write_rate,
            self.reset_rate,
            self.server_error_after_write_rate,
        )
        if any(r < 0 or r > 1 for r in rates) or sum(rates) > 1:
            raise ConfigError(f"Fault rates {rates} must each be in [0, 1] and sum to at most 1.")
        if not 500 <= self.server_error_status <= 599:
            raise ConfigError(f"server_error_status={self.server_error_status} is not a 5xx status.")

    @property
    def random_enabled(self) -> bool:
        """True when any random fault rate is above zero."""
        return (
            self.server_error_rate
            + self.timeout_after_write_rate
            + self.reset_rate
            + self.server_error_after_write_rate
        ) > 0


RATE_LIMIT_TYPES = ("RATE_LIMITED", "RATE_LIMIT")


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes the simulator's answers. All limits are per simulator (one user)."""

    rest_limit_per_hour: int = 5000
    graphql_points_per_hour: int = 5000
    max_concurrent: int = 100
    rest_points_per_minute: int = 900
    rest_read_points: int = 1
    rest_write_points: int = 5
    graphql_points_per_minute: int = 2000
    graphql_query_points: int = 1
    graphql_mutation_points: int = 5
    content_per_minute: int = 80
    content_per_hour: int = 500
    primary_limit_status: int = 403
    """403 or 429: GitHub documents both for an exhausted primary limit."""
    secondary_limit_status: int = 403
    """403 or 429 for secondary limits (REST and GraphQL)."""
    graphql_rate_limit_type: str = "RATE_LIMITED"
    """``type`` of the GraphQL primary-limit error: ``RATE_LIMITED`` or ``RATE_LIMIT``."""
    latency_seconds: float = 0.0
    """Added to every request, awaited on the injected clock (instant with a FakeClock)."""
    faults: FaultConfig = field(default_factory=FaultConfig)
    token: Secret | None = None
    """When set, requests need ``Authorization: Bearer <token>`` (or ``token <token>``)."""
    api_url: str = "https://api.github.com"
    """Base of the ``url`` fields inside objects (Link and Location headers use the request's)."""
    html_url: str = "https://github.com"
    login: str = "ailab-bot"
    """The authenticated user, shown as each issue's ``user``."""
    id_epoch: int = 0
    """Range of the IDs handed out (0-99,999): a restarted simulator uses another, as GitHub never
    reuses an ID. ``ailab github-sim`` picks a random one unless told."""
    webhook: WebhookConfig | None = None
    """A repository webhook: signed ``issues`` deliveries to its URL (``simulator.webhooks``)."""

    def __post_init__(self) -> None:
        if isinstance(self.token, str):  # accept a plain string from callers; never keep it bare
            object.__setattr__(self, "token", Secret(self.token))
        for name in (
            "rest_limit_per_hour",
            "graphql_points_per_hour",
            "max_concurrent",
            "rest_points_per_minute",
            "graphql_points_per_minute",
            "content_per_minute",
            "content_per_hour",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"SimulatorConfig.{name}={getattr(self, name)} must be >= 1.")
        for name in ("primary_limit_status", "secondary_limit_status"):
            if getattr(self, name) not in (403, 429):
                raise ConfigError(f"SimulatorConfig.{name}={getattr(self, name)}: use 403 or 429.")
        if self.graphql_rate_limit_type not in RATE_LIMIT_TYPES:
            raise ConfigError(
                f"graphql_rate_limit_type={self.graphql_rate_limit_type!r}: use one of {RATE_LIMIT_TYPES}."
            )
        if not 0 <= self.id_epoch < 100_000:
            raise ConfigError(f"id_epoch={self.id_epoch} must be in 0..99,999.")
        if self.latency_seconds < 0:
            raise ConfigError(f"latency_seconds={self.latency_seconds} must be >= 0.")
        object.__setattr__(self, "api_url", self.api_url.rstrip("/"))
        object.__setattr__(self, "html_url", self.html_url.rstrip("/"))
