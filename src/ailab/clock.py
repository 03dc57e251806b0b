"""Injectable clocks, so rate limits, pacing and caches can be tested without real sleeps.

Production code takes a ``Clock``; tests pass a ``FakeClock`` whose ``sleep`` advances time
instantly. Both wall time (``time()``, epoch seconds, as GitHub's ``x-ratelimit-reset``) and a
monotonic time (``monotonic()``, for intervals) are offered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What time-dependent code needs from a clock: wall time, monotonic time and ``sleep``."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; a fake clock advances instead of waiting."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep`` for ``seconds``; zero or negative returns at once without yielding."""
        if seconds > 0:
            await asyncio.sleep(seconds)


class FakeClock:
    """A clock for tests: ``sleep`` advances time at once and records how long was asked."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        """The fake wall time: ``start`` plus everything advanced so far."""
        return self._now

    def monotonic(self) -> float:
        """The fake monotonic time: starts at 0 and moves only with ``advance``/``sleep``."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both wall and monotonic time forward by ``seconds``."""
        self._now += seconds
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        """Record ``seconds`` in ``sleeps``, advance by it if positive, and yield to the loop once."""
        self.sleeps.append(seconds)
        if seconds > 0:
            self.advance(seconds)
        # Yield to the loop like a real sleep would, so other tasks interleave.
        await asyncio.sleep(0)

    @property
    def slept(self) -> float:
        """Total seconds slept, counting only the positive requests."""
        return sum(s for s in self.sleeps if s > 0)


SYSTEM_CLOCK = SystemClock()
