"""Primary and secondary rate limits, measured on the injected clock.

* Primary (``HourlyBudget``): a fixed window that opens with the first request and resets an
  hour later, as GitHub's ``x-ratelimit-reset`` describes. REST counts requests (``core``);
  GraphQL counts query points (``graphql``).
* Secondary (``SlidingWindow``): points per minute and content-creating requests per minute and
  per hour, over a sliding window; a request is admitted only if it fits whole.
* Concurrency: requests in flight, counted by the request pipeline.

A refused request is not charged anywhere, so a client that waits as told always recovers.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ailab.sync.simulator.config import SimulatorConfig

HOUR = 3600.0
MINUTE = 60.0


class HourlyBudget:
    """A primary rate limit (GitHub's per-hour points for core REST or GraphQL), with its headers."""

    __slots__ = ("limit", "reset_at", "resource", "used", "window")

    def __init__(self, resource: str, limit: int, window: float = HOUR) -> None:
        self.resource = resource
        self.limit = limit
        self.window = window
        self.used = 0
        self.reset_at: float | None = None

    def roll(self, now: float) -> None:
        """Start a new window when the current one has ended."""
        if self.reset_at is None or now >= self.reset_at:
            self.used = 0
            self.reset_at = now + self.window

    @property
    def remaining(self) -> int:
        """Points left in this window."""
        return max(0, self.limit - self.used)

    def reset_epoch(self, now: float) -> int:
        """When the window resets, as GitHub's ``x-ratelimit-reset`` (Unix seconds)."""
        return int(self.reset_at if self.reset_at is not None and now < self.reset_at else now + self.window)

    def snapshot(self, now: float) -> dict[str, int]:
        """``{limit, used, remaining, reset}`` as in ``GET /rate_limit``."""
        self.roll(now)
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset": self.reset_epoch(now),
        }

    def headers(self, now: float) -> list[tuple[bytes, bytes]]:
        """The ``x-ratelimit-*`` headers GitHub sends with every answer."""
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-used", str(self.used).encode()),
            (b"x-ratelimit-reset", str(self.reset_epoch(now)).encode()),
            (b"x-ratelimit-resource", self.resource.encode()),
        ]


class SlidingWindow:
    """Amounts spent in the last ``window`` seconds."""

    __slots__ = ("events", "limit", "total", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def _expire(self, now: float) -> None:
        events = self.events
        horizon = now - self.window
        while events and events[0][0] <= horizon:
            self.total -= events.popleft()[1]

    def admits(self, now: float, amount: int) -> bool:
        """True when ``amount`` more fits in the window at ``now``."""
        self._expire(now)
        return self.total + amount <= self.limit

    def add(self, now: float, amount: int) -> None:
        """Record ``amount`` spent at ``now``."""
        if amount:
            self.events.append((now, amount))
            self.total += amount

    def retry_after(self, now: float, amount: int) -> int:
        """Whole seconds until ``amount`` fits (at least 1; a full window if it never fits)."""
        self._expire(now)
        if amount > self.limit:
            return math.ceil(self.window)
        freed = 0
        for ts, spent in self.events:
            freed += spent
            if self.total - freed + amount <= self.limit:
                return max(1, math.ceil(ts + self.window - now))
        return max(1, math.ceil(self.window))


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused by a secondary limit, and how long to wait (if GitHub says)."""

    reason: str
    retry_after: int | None


class Limits:
    """All budgets of one simulated user."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.core = HourlyBudget("core", config.rest_limit_per_hour)
        self.graphql = HourlyBudget("graphql", config.graphql_points_per_hour)
        self.rest_points = SlidingWindow(config.rest_points_per_minute, MINUTE)
        self.graphql_points = SlidingWindow(config.graphql_points_per_minute, MINUTE)
        self.content_minute = SlidingWindow(config.content_per_minute, MINUTE)
        self.content_hour = SlidingWindow(config.content_per_hour, HOUR)
        self.in_flight = 0

    def secondary(
        self, now: float, points_window: SlidingWindow, points: int, content: int
    ) -> Refusal | None:
        """Check points/min and the content-creation budgets; charge them when admitted."""
        if not points_window.admits(now, points):
            return Refusal("secondary_points", points_window.retry_after(now, points))
        if content:
            for window, reason in (
                (self.content_minute, "secondary_content_minute"),
                (self.content_hour, "secondary_content_hour"),
            ):
                if not window.admits(now, content):
                    return Refusal(reason, window.retry_after(now, content))
            self.content_minute.add(now, content)
            self.content_hour.add(now, content)
        points_window.add(now, points)
        return None
