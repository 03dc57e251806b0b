"""The dashboard summary, cached as ready JSON bytes behind a cheap change check.

Every load reads ``data_revision`` (one primary-key lookup, ~20 us). Every write path bumps that
counter in its own transaction, so an unchanged revision means unchanged data: the cached bytes
are served without touching the aggregates. A write is visible on the next load because:

* **Writes through this server** (POST/PATCH) measure what they changed inside their own
  transaction (``summary_writes``), and the cache applies that delta when the write has
  committed: the next load finds the new revision already cached, exact, at no heavy query.
* **Any other change of the revision** (another process wrote, the entry is older than
  ``AILAB_SUMMARY_CACHE_SECONDS``, nothing cached yet) makes the next load recompute everything
  (5 statements; tens of ms at 100k items), in the same transaction (one snapshot) as its
  revision check.

At most one recompute runs at a time (single flight): a load that finds one running, or finds
the revision one step ahead because this server's own write is about to land, waits for it
without holding a database connection or a worker thread, then checks again. A delta that
arrives while the state it applies to is still being computed is kept in a short log and
applied once that state is stored.

``AILAB_SUMMARY_CACHE_SECONDS`` bounds the age of a full recompute even when the revision did not
move (for writers that bypass ``data_revision``); ``0`` disables the cache.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from sqlalchemy.engine import Connection, Engine

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.errors import DatabaseError
from ailab.queries._tables import data_revision
from ailab.queries.summary import summary_with_tag_counts
from ailab.web.summary_state import SummaryDelta, SummaryState

# The change check, sent as plain SQL: the cheapest statement SQLAlchemy runs (and traces).
REVISION_SQL = f"SELECT revision FROM {data_revision.name} WHERE id = 1"
POLITE_PROBES = 3  # then recompute rather than wait for an expected delta again
WAIT_SECONDS = 1.0  # one wait for a running recompute or a landing write; then check again
MAX_PROBES = 60
DELTA_LOG = 64  # recent deltas kept to bring a just-computed (older) state up to date


def snapshot_engine(engine: Engine) -> Engine:
    """``engine`` with transactions that see one snapshot throughout, for ``SummaryCache.probe``.

    A SQLite read transaction already does; Postgres's default (READ COMMITTED) takes a new
    snapshot per statement, so the revision could be older than the aggregates read after it.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def read_revision(conn: Connection) -> int:
    return int(conn.exec_driver_sql(REVISION_SQL).scalar() or 0)


@dataclass(frozen=True)
class Probe:
    """The outcome of one check: the body (``hit`` or freshly computed), or wait / look again."""

    body: bytes | None = None
    hit: bool = False
    wait: bool = False


class SummaryCache:
    def __init__(self, max_age_seconds: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self._lock = threading.Lock()  # probes run in worker threads on Postgres
        self._state: SummaryState | None = None  # replaced whole, never mutated
        self._computing = False
        # The last DELTA_LOG deltas by base revision, each with its sequence number. A state
        # only takes deltas logged after the recompute it descends from began: an older one
        # with a matching base would come from before a revision reset (a restored database).
        self._deltas: dict[int, tuple[int, SummaryDelta]] = {}
        self._next_seq = 0
        self._state_since = 0
        self._writes_in_flight = 0
        self._changed: anyio.Event | None = None
        self.recomputes = 0
        self.deltas_applied = 0

    @property
    def enabled(self) -> bool:
        return self.max_age_seconds > 0

    @property
    def state(self) -> SummaryState | None:
        return self._state

    def clear(self) -> None:
        with self._lock:
            self._state = None
            self._deltas.clear()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC).replace(tzinfo=None)

    def _fresh(self, state: SummaryState) -> bool:
        return self.clock.monotonic() - state.computed_at <= self.max_age_seconds

    # --- in a read transaction (inline on SQLite, a worker thread on Postgres) ---------------

    def probe(self, conn: Connection, *, force: bool = False) -> Probe:
        """The cached body if it is current; else recompute in this transaction, unless another
        load already is (or, without ``force``, this server's own write is about to land).

        ``conn`` must be in a one-snapshot transaction (``snapshot_engine``)."""
        since = self._next_seq  # before the snapshot: every delta after it is logged from here on
        revision = read_revision(conn)
        with self._lock:
            state = self._state
            if self.enabled:
                fresh = state is not None and self._fresh(state)
                if state is not None and fresh and state.revision == revision:
                    return Probe(state.body, hit=True)
                if self._computing:
                    return Probe(wait=True)
                if not force and state is not None and fresh:
                    gap = revision - state.revision
                    if 0 < gap <= self._writes_in_flight:
                        return Probe(wait=True)  # our write committed; its delta comes next
                    if gap < 0:
                        return Probe()  # this snapshot predates a write already applied
                self._computing = True
        try:
            data, tag_counts = summary_with_tag_counts(conn, clock=self.clock)
            computed = SummaryState.from_summary(
                data,
                tag_counts,
                revision=revision,
                generated_at=self._now(),
                computed_at=self.clock.monotonic(),
            )
        finally:
            if self.enabled:
                with self._lock:
                    self._computing = False
        if not self.enabled:
            return Probe(computed.body)
        with self._lock:
            self.recomputes += 1
            # Recomputes run one at a time, so this is the newest truth (a lower revision than
            # the cached one means the revision went back: a restored database).
            computed = self._catch_up(computed, since)
            self._state, self._state_since = computed, since
        return Probe(computed.body)

    def _catch_up(self, state: SummaryState, since: int) -> SummaryState:
        """``state`` with the deltas logged since ``since`` that follow it applied (hold the lock)."""
        while (logged := self._deltas.get(state.revision)) is not None and logged[0] >= since:
            state = state.apply(logged[1], self._now())
            self.deltas_applied += 1
        return state

    # --- on the event loop ------------------------------------------------------------------

    def _event(self) -> anyio.Event:
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def write_started(self) -> None:
        """A write through this server is about to run (its delta follows ``write_finished``)."""
        with self._lock:
            self._writes_in_flight += 1

    def write_finished(self, delta: SummaryDelta | None) -> None:
        """The write committed with ``delta`` (or failed: ``None``); update the cached state."""
        with self._lock:
            self._writes_in_flight -= 1
            if delta is not None and self.enabled and delta.revision > delta.base_revision:
                self._deltas[delta.base_revision] = (self._next_seq, delta)
                self._next_seq += 1
                for old in sorted(self._deltas, key=lambda base: self._deltas[base][0])[:-DELTA_LOG]:
                    del self._deltas[old]
                if self._state is not None:
                    self._state = self._catch_up(self._state, self._state_since)
        self._notify()

    async def load(
        self, read: Callable[[Callable[[Connection], Probe]], Awaitable[Probe]]
    ) -> tuple[bytes, bool]:
        """The summary JSON and whether it was served from the cache.

        ``read(fn)`` runs ``fn`` in a read transaction (one snapshot) and returns its result."""
        for attempt in range(MAX_PROBES):
            changed = self._event()  # taken before the check, so no wake-up is missed
            try:
                probe = await read(functools.partial(self.probe, force=attempt >= POLITE_PROBES))
            except BaseException:
                self._notify()  # a failed recompute: let a waiting load try instead
                raise
            if probe.body is not None:
                if not probe.hit:
                    self._notify()
                return probe.body, probe.hit
            if probe.wait:
                with anyio.move_on_after(WAIT_SECONDS):
                    await changed.wait()
        raise DatabaseError(
            f"The summary was still being recomputed after {MAX_PROBES} checks; retry shortly."
        )
