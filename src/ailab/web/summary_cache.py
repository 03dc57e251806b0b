"""The dashboard summary, cached as ready JSON bytes behind a cheap change check.

The database keeps the summary's counts itself with triggers (``ailab.db.derived``), so a
recompute is 2 small statements, ~1 ms at 100k items: not worth keeping a summary up to date
by applying writes to it. The cache keeps the JSON of the last summary with the
``data_revision`` it was computed at (the database bumps it on any change, whatever wrote it:
``ailab.db.revision``), and each load

1. asks the process's ``ChangeWatch`` (``ailab.db.change_watch``) whether anything may have
   been committed since the entry was checked: SQLite's ``PRAGMA data_version`` on a kept
   connection, or Postgres notifications already received. If not, and the entry is younger than
   ``AILAB_SUMMARY_CACHE_SECONDS``, it serves the bytes **without touching the database**;
2. else, in one read transaction (one snapshot), reads the revision (one primary-key lookup)
   and serves the entry if it is the same (marking it checked), or recomputes with
   ``queries.summary`` and keeps the result.

So a write, through this server or any other process, is visible on the next load. Any other
revision is a miss, a lower one too (a restored database). A result never replaces a fresh
entry of a higher revision (a slow load from an older snapshot finishing last); such a load
still answers with its own result. ``0`` disables the cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.db.revision import read_revision
from ailab.queries.summary import summary
from ailab.web.responses import dumps


def snapshot_engine(engine: Engine) -> Engine:
    """``engine`` with transactions that see one snapshot throughout, for ``SummaryCache.probe``.

    A SQLite read transaction already does; Postgres's default (READ COMMITTED) takes a new
    snapshot per statement, so the revision could be older than the counts read after it.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def render(data: dict[str, Any], *, revision: int, generated_at: datetime) -> bytes:
    """The ``/api/summary`` body: ``queries.summary``'s fields, its revision and when."""
    return dumps({**data, "revision": revision, "generated_at": generated_at})


@dataclass(frozen=True)
class Entry:
    """One computed summary: its JSON, the revision it is of, when its snapshot began and the ``ChangeWatch``
    token that last confirmed it."""

    revision: int
    body: bytes
    computed_at: float  # monotonic, when its snapshot began
    token: int | None = None  # the ChangeWatch token read before the snapshot that last confirmed it


class SummaryCache:
    """The last summary's JSON, served while its revision holds and it is younger than
    ``max_age_seconds`` (``0``: off). Thread-safe: probes may run in worker threads."""

    def __init__(self, max_age_seconds: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self._lock = threading.Lock()  # probes run in worker threads on Postgres
        self._entry: Entry | None = None  # replaced whole, never mutated

    @property
    def enabled(self) -> bool:
        """Whether anything is kept: ``max_age_seconds`` above 0."""
        return self.max_age_seconds > 0

    @property
    def entry(self) -> Entry | None:
        """The kept entry, if any."""
        return self._entry

    def clear(self) -> None:
        """Drop the kept entry: the next load recomputes."""
        with self._lock:
            self._entry = None

    def _fresh(self, entry: Entry, now: float) -> bool:
        return now - entry.computed_at <= self.max_age_seconds

    def cached(self, token: int | None) -> bytes | None:
        """The kept JSON if nothing can have changed since it was checked at ``token``: no statement."""
        entry = self._entry
        if (
            token is not None
            and entry is not None
            and entry.token == token
            and self.enabled
            and self._fresh(entry, self.clock.monotonic())
        ):
            return entry.body
        return None

    def probe(self, conn: Connection, token: int | None = None) -> tuple[bytes, bool]:
        """The summary JSON and whether it was cached: 1 statement on a hit, 3 on a miss.

        ``conn`` must be in a one-snapshot transaction (``snapshot_engine``); ``token`` is the
        ``ChangeWatch`` token read before that snapshot began."""
        started = self.clock.monotonic()
        revision = read_revision(conn)
        with self._lock:
            entry = self._entry
            if (
                self.enabled
                and entry is not None
                and entry.revision == revision
                and self._fresh(entry, started)
            ):
                if token is not None and entry.token != token:
                    self._entry = replace(entry, token=token)
                return entry.body, True
        generated_at = datetime.fromtimestamp(self.clock.time(), UTC).replace(tzinfo=None)
        body = render(summary(conn, clock=self.clock), revision=revision, generated_at=generated_at)
        if self.enabled:
            with self._lock:
                kept = self._entry
                if kept is None or revision >= kept.revision or not self._fresh(kept, self.clock.monotonic()):
                    self._entry = Entry(revision, body, started, token)
        return body, False
