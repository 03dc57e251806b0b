"""GitHub's rate limits, kept on our side so we are never the one who breaks them.

* **Read lane**: at most ``read_concurrency`` reads in flight (GitHub allows 100 concurrent).
* **Write lane**: one write at a time, each starting at least ``write_interval`` after the
  previous one started ("wait at least one second between each request").
* **Points per minute** (secondary limit): REST 900 (read 1, write 5), GraphQL 2,000 (query 1,
  mutation 5), tracked in sliding windows before a request is sent.
* **Creation budget**: content-creating operations (issues, labels, blocked-by edges) per minute
  and per hour, as sliding windows, handed out smoothly so creation runs at the budget's rate.
* **Primary limit**: ``x-ratelimit-remaining``/``-reset`` per ``x-ratelimit-resource``; at 0 the
  resource pauses until the reset.
* **Refusals** (403/429, GraphQL ``RATE_LIMITED``): ``rate_limit_wait`` is GitHub's documented
  order: ``retry-after``, else the reset when remaining is 0, else at least a minute, doubling.

Every wait goes through the injected ``Clock``, so tests run them instantly with ``FakeClock``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ailab.clock import Clock
from ailab.sync.config import SyncConfig

MINUTE = 60.0
HOUR = 3600.0
REST = "core"
GRAPHQL = "graphql"
RATE_LIMIT_TYPES = frozenset({"RATE_LIMITED", "RATE_LIMIT"})
QUANTUM = 0.001  # shortest wait: float round-off must not turn a wait into a busy loop


@dataclass
class LimiterStats:
    """What the limiter did, for the summary and the tests."""

    rate_limit_waits: int = 0  # pauses caused by GitHub (refusals, remaining = 0)
    rate_limit_seconds: float = 0.0
    pacing_seconds: float = 0.0  # time writes waited for their turn (our own politeness)
    budget_seconds: float = 0.0  # time creates waited for the creation budget
    refusals: int = 0  # 403/429/RATE_LIMITED answers seen
    max_reads_in_flight: int = 0
    max_in_flight: int = 0
    write_starts: list[float] = field(default_factory=list)  # monotonic start of every write
    creates: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, count) handed out


class SlidingWindow:
    """Amounts spent in the last ``window`` seconds, on a monotonic clock."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        while self._events and self._events[0][0] <= horizon:
            self._total -= self._events.popleft()[1]

    def room(self, now: float) -> int:
        """How much may still be spent at ``now`` without exceeding the limit in any window."""
        self._expire(now)
        return max(0, self.limit - self._total)

    def wait(self, now: float, amount: int) -> float:
        """Seconds until ``amount`` fits (0 if it fits now)."""
        self._expire(now)
        amount = min(amount, self.limit)
        if self._total + amount <= self.limit:
            return 0.0
        freed = 0
        for ts, spent in self._events:
            freed += spent
            if self._total - freed + amount <= self.limit:
                return max(0.0, ts + self.window - now)
        return self.window

    def spend(self, now: float, amount: int) -> None:
        """Record ``amount`` spent at ``now``."""
        if amount > 0:
            self._expire(now)
            self._events.append((now, amount))
            self._total += amount


class CreationBudget:
    """Content creation per minute and per hour, handed out at an even rate.

    The sliding windows are the hard guarantee (never more than the budget in any window, with a
    small margin for the time a request takes to reach GitHub). On top, credits accrue at
    ``per_minute`` per (60 s + margin), so creation is spread out instead of bursting 80 at
    once and then stalling; a write slot carries as many creates as credits allow.
    """

    def __init__(self, config: SyncConfig, clock: Clock, stats: LimiterStats) -> None:
        margin = config.window_margin
        self.minute = SlidingWindow(config.creates_per_minute, MINUTE + margin)
        self.hour = SlidingWindow(config.creates_per_hour, HOUR + margin)
        self.rate = config.creates_per_minute / (MINUTE + margin)  # credits per second
        # One write slot's worth on top of a whole credit: slots every write_interval lose nothing.
        self.capacity = 1.0 + self.rate * max(config.write_interval, 0.0)
        self._credits = 1.0
        self._last = clock.monotonic()
        self._clock = clock
        self._stats = stats
        self._lock = asyncio.Lock()

    @property
    def per_second(self) -> float:
        """The even rate creation credits accrue at (creates per second)."""
        return self.rate

    def _refill(self, now: float) -> None:
        self._credits = min(self.capacity, self._credits + (now - self._last) * self.rate)
        self._last = now

    def seconds_for(self, count: int) -> float:
        """How long ``count`` creations take at the budget's rate (for ETAs)."""
        per_hour = self.hour.limit / (HOUR + 1.0)
        if count <= self.hour.room(self._clock.monotonic()):
            return max(0.0, count - self._credits) / self.rate
        return count / per_hour

    async def acquire(self, want: int) -> int:
        """Wait until at least one creation fits, then take up to ``want`` that fit now."""
        want = max(1, want)
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                self._refill(now)
                waits = [self.minute.wait(now, 1), self.hour.wait(now, 1)]
                if self._credits < 1.0 - 1e-9:
                    waits.append((1.0 - self._credits) / self.rate)
                delay = max(waits)
                if delay <= 0:
                    break
                self._stats.budget_seconds += delay
                await self._clock.sleep(max(delay, QUANTUM))
            take = max(1, min(want, int(self._credits + 1e-9), self.minute.room(now), self.hour.room(now)))
            self._credits -= take
            self.minute.spend(now, take)
            self.hour.spend(now, take)
            self._stats.creates.append((now, take))
            return take

    def refund(self, count: int) -> None:
        """Give back credits granted but not used (the windows keep counting them: the safe side)."""
        self._credits = min(self.capacity, self._credits + count)


@dataclass
class _Primary:
    remaining: int | None = None
    limit: int | None = None
    reset: float | None = None  # epoch seconds


class RateLimiter:
    """The lanes, windows and pauses shared by every request of one sync run."""

    def __init__(self, config: SyncConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.stats = LimiterStats()
        self.creation = CreationBudget(config, clock, self.stats)
        self._reads = asyncio.Semaphore(config.read_concurrency)
        self._write_lock = asyncio.Lock()
        self._next_write = -math.inf
        margin = config.window_margin
        self._points = {
            REST: SlidingWindow(config.rest_points_per_minute, MINUTE + margin),
            GRAPHQL: SlidingWindow(config.graphql_points_per_minute, MINUTE + margin),
        }
        self._points_lock = asyncio.Lock()
        self._primary: dict[str, _Primary] = {REST: _Primary(), GRAPHQL: _Primary()}
        self._paused_until: dict[str, float] = {REST: 0.0, GRAPHQL: 0.0}  # monotonic
        self._reads_in_flight = 0
        self._in_flight = 0

    # -- lanes ---------------------------------------------------------------------------------
    @asynccontextmanager
    async def read_slot(self, resource: str, points: int = 1) -> AsyncIterator[None]:
        """Hold one of the parallel read slots for a request to ``resource`` costing ``points``."""
        async with self._reads:
            await self._ready(resource, points)
            self._reads_in_flight += 1
            self.stats.max_reads_in_flight = max(self.stats.max_reads_in_flight, self._reads_in_flight)
            self._enter()
            try:
                yield
            finally:
                self._reads_in_flight -= 1
                self._in_flight -= 1

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """Hold the write lane for one logical write (including its retries)."""
        async with self._write_lock:
            yield

    async def before_write(self, resource: str, points: int = 5) -> None:
        """Inside ``write_turn``: wait for pacing, pauses and points, then mark the start."""
        delay = self._next_write - self.clock.monotonic()
        if delay > 0:
            self.stats.pacing_seconds += delay
            await self.clock.sleep(max(delay, QUANTUM))
        await self._ready(resource, points)
        now = self.clock.monotonic()
        self._next_write = now + self.config.write_interval
        self.stats.write_starts.append(now)
        self._enter()

    async def write_ready(self) -> None:
        """Wait until the write lane's pacing would let a write start (without taking the lane).

        Creations take their budget right before their request, so what was granted is what
        is sent, when it is sent.
        """
        delay = self._next_write - self.clock.monotonic()
        if delay > 0:
            self.stats.pacing_seconds += delay
            await self.clock.sleep(max(delay, QUANTUM))

    def after_write(self) -> None:
        """Mark a write started by ``before_write`` as finished."""
        self._in_flight -= 1

    def _enter(self) -> None:
        self._in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)

    async def _ready(self, resource: str, points: int) -> None:
        """Wait out a pause on ``resource`` and for ``points`` to fit in its per-minute window."""
        while True:
            now = self.clock.monotonic()
            pause = self._paused_until[resource] - now
            if pause > 0:
                await self.clock.sleep(max(pause, QUANTUM))
                continue
            primary = self._primary[resource]
            if primary.remaining is not None and primary.remaining <= 0 and primary.reset is not None:
                wait = primary.reset - self.clock.time() + 1.0
                if wait > 0:
                    self._pause(resource, wait)
                    continue
                primary.remaining = None
            async with self._points_lock:
                window = self._points[resource]
                wait = window.wait(now, points)
                if wait <= 0:
                    window.spend(now, points)
                    if primary.remaining is not None:
                        primary.remaining -= 1
                    return
            self.stats.budget_seconds += wait
            await self.clock.sleep(max(wait, QUANTUM))

    # -- what GitHub tells us ------------------------------------------------------------------
    def budget(self, resource: str = REST) -> tuple[int | None, int | None, datetime | None]:
        """``(remaining, limit, reset)`` of the primary limit as GitHub last reported it."""
        primary = self._primary.get(resource) or _Primary()
        reset = datetime.fromtimestamp(primary.reset, UTC).replace(tzinfo=None) if primary.reset else None
        return primary.remaining, primary.limit, reset

    def observe(self, resource: str, headers: Mapping[str, str]) -> None:
        """Track ``x-ratelimit-remaining``/``-reset`` of the resource the answer names."""
        named = headers.get("x-ratelimit-resource") or resource
        primary = self._primary.setdefault(named, _Primary())
        self._paused_until.setdefault(named, 0.0)
        self._points.setdefault(named, self._points[resource])
        remaining = _int(headers.get("x-ratelimit-remaining"))
        reset = _int(headers.get("x-ratelimit-reset"))
        limit = _int(headers.get("x-ratelimit-limit"))
        if limit is not None:
            primary.limit = limit
        if remaining is not None:
            primary.remaining = remaining
        if reset is not None:
            primary.reset = float(reset)

    def _pause(self, resource: str, seconds: float) -> None:
        until = self.clock.monotonic() + seconds
        current = self._paused_until.get(resource, 0.0)
        if until > current:
            self.stats.rate_limit_waits += 1
            self.stats.rate_limit_seconds += until - max(current, self.clock.monotonic())
            self._paused_until[resource] = until

    async def wait_after_refusal(self, resource: str, seconds: float) -> None:
        """Pause the whole resource (every lane) for ``seconds``, then return."""
        self.stats.refusals += 1
        self._pause(resource, seconds)
        delay = self._paused_until[resource] - self.clock.monotonic()
        if delay > 0:
            await self.clock.sleep(max(delay, QUANTUM))


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def is_rate_limit_refusal(status: int, headers: Mapping[str, str], message: str) -> bool:
    """403/429 that GitHub documents as a rate limit (not a permission problem)."""
    if status == 429:
        return True
    if status != 403:
        return False
    return (
        "retry-after" in headers
        or headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in message.lower()
    )


def graphql_rate_limited(errors: object) -> bool:
    """A GraphQL answer whose ``errors`` say RATE_LIMITED (or the newer RATE_LIMIT)."""
    return isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("type") in RATE_LIMIT_TYPES for e in errors
    )


def rate_limit_wait(headers: Mapping[str, str], attempt: int, now_epoch: float, config: SyncConfig) -> float:
    """GitHub's documented wait for a refusal; ``attempt`` counts refusals in a row from 0."""
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        seconds = _retry_after_seconds(retry_after, now_epoch)
        if seconds is not None:
            return seconds
    if headers.get("x-ratelimit-remaining") == "0":
        reset = _int(headers.get("x-ratelimit-reset"))
        if reset is not None:
            return max(1.0, reset - now_epoch + 1.0)
    return float(min(config.max_backoff, config.secondary_wait * 2.0**attempt))


def _retry_after_seconds(value: str, now_epoch: float) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        return max(0.0, float(parsedate_to_datetime(value).timestamp()) - now_epoch)
    except (TypeError, ValueError):
        return None
