"""The dashboard summary, cached as ready JSON bytes behind a cheap change check.

Every request reads ``data_revision`` (one primary-key lookup, ~20 us). Every write path bumps
that counter in its own transaction, so a changed revision means changed data: the next load
recomputes (4 aggregate statements, tens of ms at 100k items) and a write is visible at once.
An unchanged revision serves the cached bytes without touching the aggregates.

``AILAB_SUMMARY_CACHE_SECONDS`` bounds the age of an entry even when the revision did not move,
for writers that bypass ``data_revision`` (hand-written SQL); ``0`` disables the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.queries import current_revision, summary
from ailab.web.responses import dumps


@dataclass(frozen=True)
class _Entry:
    revision: int
    body: bytes
    stored_at: float


class SummaryCache:
    def __init__(self, max_age_seconds: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self._entry: _Entry | None = None  # replaced whole, so threads never see half an entry

    def clear(self) -> None:
        self._entry = None

    def lookup(self, revision: int) -> bytes | None:
        entry = self._entry
        if entry is None or entry.revision != revision or self.max_age_seconds <= 0:
            return None
        if self.clock.monotonic() - entry.stored_at > self.max_age_seconds:
            return None
        return entry.body

    def load(self, conn: Connection) -> tuple[bytes, bool]:
        """The summary JSON and whether it came from the cache (1 statement on a hit, 5 on a miss)."""
        revision = current_revision(conn)
        body = self.lookup(revision)
        if body is not None:
            return body, True
        data = summary(conn, clock=self.clock)
        data["revision"] = revision
        data["generated_at"] = datetime.fromtimestamp(self.clock.time(), UTC).replace(tzinfo=None)
        body = dumps(data)
        self._entry = _Entry(revision, body, self.clock.monotonic())
        return body, False
