"""What the dashboard's handlers share (one per app): settings, engine, cache, metrics, and how
they reach the database.

* SQLite reads run **inline** on the event loop: a page query takes well under a millisecond,
  less than a hop through the threadpool (which also contends for the GIL).
* SQLite writes run inline too when the write lock is free at once (``BEGIN IMMEDIATE`` with no
  busy wait), else in a worker thread that waits for it. Under read load the event loop is busy,
  and every hop to a worker thread and back waits a turn of it: writes, which took such hops
  (the write, and FastAPI's plain ``def`` dependencies), starved behind the inline reads
  (profiled: PATCH p50 1.2 s end to end for 2.3 ms in the write itself).
* Postgres reads and writes run in worker threads, at most as many at once as the pool has
  connections. A request that cannot get one within ``AILAB_POOL_TIMEOUT`` answers 503 with
  ``Retry-After`` instead of piling up.
* Writes are the plain ``queries`` writes in a write transaction. The database bumps
  ``data_revision`` on any change (``ailab.db.revision``), so the next summary load recomputes
  (``SummaryCache``); a load with nothing changed does not touch the database (``watch``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from starlette.exceptions import HTTPException

from ailab.clock import Clock
from ailab.db import connect
from ailab.db.change_watch import ChangeWatch, NoWatch
from ailab.errors import AilabError, PoolExhaustedError
from ailab.settings import Settings
from ailab.web.metrics import WebMetrics
from ailab.web.page import DashboardPage
from ailab.web.summary_cache import SummaryCache, snapshot_engine

T = TypeVar("T")

WRITES_DISABLED = (
    "Writes are disabled on this server. To enable them, start it with the environment variable "
    "AILAB_API_TOKEN set to a secret, and send 'Authorization: Bearer <that secret>' with each write."
)
MISSING_TOKEN = (
    "Writes need the server's token: send the header 'Authorization: Bearer <AILAB_API_TOKEN>' "
    "(the value of AILAB_API_TOKEN the server was started with)."
)
BAD_TOKEN = (
    "The bearer token is wrong; send 'Authorization: Bearer <AILAB_API_TOKEN>' with the exact value "
    "of AILAB_API_TOKEN the server was started with."
)


def is_locked(err: sa_exc.OperationalError) -> bool:
    """SQLite's "database is locked" (SQLITE_BUSY): another connection holds the write lock."""
    return "database is locked" in str(err.orig)


def read_engine(engine: Engine) -> Engine:
    """``engine`` for plain reads. On Postgres in autocommit: under READ COMMITTED every
    statement takes its own snapshot anyway, so a transaction around reads only added the
    ``BEGIN`` and ``COMMIT`` round trips. A SQLite read transaction is one snapshot: kept."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


@dataclass
class WebContext:
    """What one app's handlers share, and how they reach the database (``read``, ``write``, ``summary``)."""

    settings: Settings
    engine: Engine
    clock: Clock
    inline_reads: bool
    cache: SummaryCache
    metrics: WebMetrics
    page: DashboardPage
    watch: ChangeWatch = field(default_factory=NoWatch)  # set at startup (``create_app``'s lifespan)
    inline_writes: bool = False
    db_slots: anyio.CapacityLimiter = field(init=False)
    read_engine: Engine = field(init=False)
    snapshot_engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        # As many threads as the pool can serve at once (QueuePool: size + max overflow).
        pool = self.engine.pool
        size = getattr(pool, "size", lambda: 1)() + max(0, getattr(pool, "_max_overflow", 0))
        self.db_slots = anyio.CapacityLimiter(max(1, size))
        self.read_engine = read_engine(self.engine)
        self.snapshot_engine = snapshot_engine(self.engine)

    def check_token(self, authorization: str | None) -> None:
        """Allow a write only with ``Bearer <AILAB_API_TOKEN>``.

        Compared as SHA-256 digests with ``hmac.compare_digest``: the time taken says nothing
        about the token, not even its length. Neither token appears in any message or log."""
        token = self.settings.api_token
        if not token:
            raise HTTPException(403, WRITES_DISABLED)
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(401, MISSING_TOKEN, headers={"WWW-Authenticate": 'Bearer realm="ailab"'})
        expected = hashlib.sha256(token.reveal().encode("utf-8")).digest()
        if not hmac.compare_digest(hashlib.sha256(given.strip().encode("utf-8")).digest(), expected):
            raise HTTPException(
                401, BAD_TOKEN, headers={"WWW-Authenticate": 'Bearer realm="ailab", error="invalid_token"'}
            )

    async def in_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread once a pool slot is free (503 if none frees up in time)."""
        try:
            with anyio.fail_after(self.settings.pool_timeout):
                await self.db_slots.acquire()
        except TimeoutError:
            raise PoolExhaustedError(
                f"All {self.db_slots.total_tokens:g} database connections stayed busy for "
                f"{self.settings.pool_timeout:g} s; retry shortly."
            ) from None
        try:
            return await anyio.to_thread.run_sync(fn)
        finally:
            self.db_slots.release()

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` on a read connection: inline when ``inline_reads`` (SQLite), else in a worker thread."""

        def run() -> T:
            with connect(self.read_engine) as conn:
                return fn(conn)

        return run() if self.inline_reads else await self.in_thread(run)

    async def read_snapshot(self, fn: Callable[[Connection], T]) -> T:
        """``read`` with one snapshot for all its statements (REPEATABLE READ on Postgres)."""

        def run() -> T:
            with connect(self.snapshot_engine) as conn:
                return fn(conn)

        return run() if self.inline_reads else await self.in_thread(run)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a write transaction: inline on SQLite when the write lock is free at once
        (the usual case), else in a worker thread (which may wait for the lock)."""

        def run() -> T:
            with connect(self.engine, readonly=False) as conn:
                return fn(conn)

        if self.inline_writes:
            started = False

            def run_now(conn: Connection) -> T:
                nonlocal started
                started = True
                return fn(conn)

            try:
                with connect(self.engine, readonly=False, no_wait=True) as conn:
                    return run_now(conn)
            except sa_exc.OperationalError as err:
                if started or not is_locked(err):
                    raise
        try:
            result = await self.in_thread(run)
        except AilabError:  # refused before anything was committed (validation, not found, busy)
            raise
        except BaseException:  # the commit's outcome is unknown: treat it as a change
            self.watch.note_write()
            raise
        self.watch.note_write()
        return result

    async def summary(self) -> tuple[bytes, bool]:
        """The summary JSON and whether it came from the cache (with no statement if nothing moved)."""
        token = self.watch.token()  # before the snapshot: see ``ailab.db.change_watch``
        kept = self.cache.cached(token)
        if kept is not None:
            self.metrics.summary_hits.inc()
            return kept, True
        body, hit = await self.read_snapshot(lambda conn: self.cache.probe(conn, token))
        (self.metrics.summary_hits if hit else self.metrics.summary_misses).inc()
        return body, hit
