"""Database workloads that run the same way on SQLite and Postgres: the comparison's building blocks.

A workload is a mix of the tracker's own operations (``ailab.queries``): filtered pages, item
details and blocker walks for reads; item updates and creations for writes. ``run_cell`` runs one
mix for a fixed time with 1 or N client threads (or N asyncio tasks for the async variant) and
records every operation's latency and every error, classified the way an operator would read it
("database is locked", "pool timeout", ...). Errors are counted, never hidden: a cell with errors
shows them next to its throughput.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ailab.db.engine import WRITE_OPTION
from ailab.db.session import connect
from ailab.errors import DatabaseError, PoolExhaustedError
from ailab.queries import (
    create_work_item,
    get_work_item,
    list_work_items,
    transitive_blockers,
    update_work_item,
)
from ailab.vocab import PRIORITIES, STATUSES

# Share of write operations per workload.
WORKLOADS: dict[str, float] = {"read-only": 0.0, "read-mostly": 0.05, "write-heavy": 0.5}

Op = Callable[[Connection, random.Random], Any]
Kind = Literal["read", "write"]


@dataclass(frozen=True)
class Fixtures:
    """What the operations pick from: existing keys and tag names of the seeded database."""

    keys: tuple[str, ...]
    tags: tuple[str, ...]

    @classmethod
    def load(cls, engine: Engine, sample: int = 2000) -> Fixtures:
        """Up to ``sample`` keys spread evenly over the items, and every tag name; a ``DatabaseError``
        when there are no items or no tags."""
        with connect(engine) as conn:
            total = int(conn.execute(text("SELECT COUNT(*) FROM work_items")).scalar_one())
            step = max(1, total // sample)
            keys = tuple(
                str(k) for (k,) in conn.execute(text(f"SELECT key FROM work_items WHERE id % {step} = 0"))
            )
            tags = tuple(str(n) for (n,) in conn.execute(text("SELECT name FROM tags ORDER BY id")))
        if not keys or not tags:
            raise DatabaseError("The database has no work items or no tags; seed it first (ailab db seed).")
        return cls(keys=keys[:sample], tags=tags)


def _read_ops(fx: Fixtures) -> list[tuple[int, Op]]:
    def status_page(conn: Connection, rng: random.Random) -> Any:
        return list_work_items(conn, status=[rng.choice(STATUSES)], priority=[rng.choice(PRIORITIES)])

    def tag_page(conn: Connection, rng: random.Random) -> Any:
        return list_work_items(conn, tags_any=[rng.choice(fx.tags)])

    def detail(conn: Connection, rng: random.Random) -> Any:
        return get_work_item(conn, rng.choice(fx.keys))

    def blockers(conn: Connection, rng: random.Random) -> Any:
        return transitive_blockers(conn, rng.choice(fx.keys))

    return [(30, status_page), (25, tag_page), (30, detail), (15, blockers)]


def _write_ops(fx: Fixtures) -> list[tuple[int, Op]]:
    def update(conn: Connection, rng: random.Random) -> Any:
        patch = {
            "status": rng.choice(STATUSES),
            "priority": rng.choice(PRIORITIES),
            "tags": rng.sample(fx.tags, rng.randint(0, 3)),
        }
        return update_work_item(conn, rng.choice(fx.keys), patch)

    def create(conn: Connection, rng: random.Random) -> Any:
        data = {
            "title": f"Load test item {rng.randrange(10**9)}",
            "status": rng.choice(STATUSES),
            "priority": rng.choice(PRIORITIES),
            "tags": rng.sample(fx.tags, rng.randint(0, 3)),
        }
        return create_work_item(conn, data)

    return [(80, update), (20, create)]


class Mix:
    """Picks the next operation of a workload: a write with probability ``write_share``."""

    def __init__(self, fx: Fixtures, write_share: float) -> None:
        self.write_share = write_share
        self._reads = _read_ops(fx)
        self._writes = _write_ops(fx)

    def pick(self, rng: random.Random) -> tuple[Kind, Op]:
        """The next operation and its kind: write or read by ``write_share``, then by the ops' weights."""
        if self.write_share > 0 and rng.random() < self.write_share:
            return "write", _weighted(self._writes, rng)
        return "read", _weighted(self._reads, rng)


def _weighted(ops: list[tuple[int, Op]], rng: random.Random) -> Op:
    return rng.choices([op for _, op in ops], weights=[w for w, _ in ops])[0]


def classify_error(err: BaseException) -> str:
    """A short, operator-readable cause for a failed operation."""
    message = str(err).lower()
    if isinstance(err, PoolExhaustedError | sa_exc.TimeoutError):
        return "pool timeout"
    if "database is locked" in message or "database is busy" in message:
        return "database is locked"
    if "too many clients" in message or "connection slots" in message:
        return "too many connections"
    if "deadlock" in message:
        return "deadlock"
    if "could not serialize" in message:
        return "serialization failure"
    return type(err).__name__


# --- how an operation gets its connection -----------------------------------------------------

Connector = Callable[[Kind], AbstractContextManager[Connection]]


def pooled(engine: Engine) -> Connector:
    """The application's way: one pooled engine, a transaction per operation."""
    return lambda kind: connect(engine, readonly=kind == "read")


def engine_per_call(database_url: str) -> Connector:
    """The old ``get_db()``: a new engine (pool, connection) per operation, never disposed."""

    @contextmanager
    def open_session(kind: Kind) -> Iterator[Connection]:
        sqlite = database_url.startswith("sqlite")
        args = {"check_same_thread": False} if sqlite else {}
        sess = Session(bind=create_engine(database_url, connect_args=args))
        try:
            yield sess.connection()
            sess.commit()
        except BaseException:
            sess.rollback()
            raise
        finally:
            sess.close()

    return open_session


# --- results ----------------------------------------------------------------------------------


@dataclass
class CellResult:
    """One workload run for a fixed time on one engine with one client count and variant."""

    engine: str  # "sqlite" | "postgresql"
    workload: str
    clients: int
    variant: str
    seconds: float
    ops: int
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    read_p95_ms: float = float("nan")
    write_p95_ms: float = float("nan")

    @property
    def throughput(self) -> float:
        """Successful operations per second; NaN for a zero-length run."""
        return self.ops / self.seconds if self.seconds else float("nan")

    @property
    def error_count(self) -> int:
        """Failed operations, all causes together."""
        return sum(self.errors.values())

    def key(self) -> tuple[str, int, str]:
        """The cell apart from its engine: ``(workload, clients, variant)``."""
        return (self.workload, self.clients, self.variant)

    def to_dict(self) -> dict[str, Any]:
        """The cell as a plain dict, with ``throughput`` added."""
        return {
            "engine": self.engine,
            "workload": self.workload,
            "clients": self.clients,
            "variant": self.variant,
            "seconds": self.seconds,
            "ops": self.ops,
            "errors": dict(self.errors),
            "throughput": self.throughput,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "read_p95_ms": self.read_p95_ms,
            "write_p95_ms": self.write_p95_ms,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellResult:
        """A cell read back from ``to_dict``'s output; a missing or None latency becomes NaN."""
        nan = float("nan")
        return cls(
            engine=d["engine"],
            workload=d["workload"],
            clients=int(d["clients"]),
            variant=d["variant"],
            seconds=float(d["seconds"]),
            ops=int(d["ops"]),
            errors={k: int(v) for k, v in d["errors"].items()},
            p50_ms=_num(d.get("p50_ms"), nan),
            p95_ms=_num(d.get("p95_ms"), nan),
            read_p95_ms=_num(d.get("read_p95_ms"), nan),
            write_p95_ms=_num(d.get("write_p95_ms"), nan),
        )


def _num(value: Any, default: float) -> float:
    return default if value is None else float(value)


class Recorder:
    """Thread-safe collection of latencies (by kind) and error causes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: dict[Kind, list[float]] = {"read": [], "write": []}
        self.errors: Counter[str] = Counter()

    def add(self, kind: Kind, ms: float | None, err: BaseException | None) -> None:
        """Record one operation: its latency if it succeeded, else its error's cause (``classify_error``)."""
        with self._lock:
            if err is None and ms is not None:
                self.samples[kind].append(ms)
            elif err is not None:
                self.errors[classify_error(err)] += 1

    def merge(self, other: Recorder) -> None:
        """Add another run's samples and errors (rounds of the same cell)."""
        with self._lock:
            for kind in self.samples:
                self.samples[kind].extend(other.samples[kind])
            self.errors.update(other.errors)

    def result(self, engine: str, workload: str, clients: int, variant: str, seconds: float) -> CellResult:
        """The run as a ``CellResult``: successful operations, error causes, and p50/p95 latencies
        overall, for reads and for writes."""
        from ailab.perf.harness.timing import percentile

        both = self.samples["read"] + self.samples["write"]
        return CellResult(
            engine=engine,
            workload=workload,
            clients=clients,
            variant=variant,
            seconds=seconds,
            ops=len(both),
            errors=dict(self.errors),
            p50_ms=percentile(both, 50),
            p95_ms=percentile(both, 95),
            read_p95_ms=percentile(self.samples["read"], 95),
            write_p95_ms=percentile(self.samples["write"], 95),
        )


def _one_op(connector: Connector, mix: Mix, rng: random.Random, rec: Recorder | None) -> None:
    kind, op = mix.pick(rng)
    t0 = time.perf_counter()
    try:
        with connector(kind) as conn:
            op(conn, rng)
    except Exception as err:  # counted by cause in the cell's errors, never dropped
        if rec is not None:
            rec.add(kind, None, err)
        return
    if rec is not None:
        rec.add(kind, (time.perf_counter() - t0) * 1000.0, None)


def run_threads(
    connector: Connector,
    mix: Mix,
    *,
    clients: int,
    seconds: float,
    seed: int = 1,
    warmup_seconds: float | None = None,
) -> tuple[Recorder, float]:
    """Run ``mix`` from ``clients`` threads for ``seconds``; returns the recorder and the wall time."""
    warm = random.Random(seed)
    # Warm caches and the pool briefly before timing (a tenth of the run, at most 0.2 s).
    stop_warm = time.perf_counter() + (min(0.2, seconds / 10) if warmup_seconds is None else warmup_seconds)
    while time.perf_counter() < stop_warm:
        _one_op(connector, mix, warm, None)
    rec = Recorder()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        start.wait()
        while time.perf_counter() < deadline[0]:
            _one_op(connector, mix, rng, rec)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    return rec, time.perf_counter() - began


# --- async variant: SQLAlchemy asyncio (aiosqlite / psycopg async), same operations -----------


def async_url(database_url: str) -> str:
    """The asyncio driver URL for a database URL (aiosqlite for SQLite; psycopg is both)."""
    if database_url.startswith("sqlite"):
        return "sqlite+aiosqlite" + database_url[database_url.index(":") :]
    return database_url


def _configure_async_sqlite(sync_engine: Engine, busy_ms: int) -> None:
    # Same per-connection setup as ailab.db.engine, on aiosqlite's adapted connections.
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={busy_ms}",
            "cache_size=-65536",
            "temp_store=MEMORY",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


async def _run_async(
    database_url: str,
    mix: Mix,
    *,
    clients: int,
    seconds: float,
    seed: int,
    pool_size: int,
    max_overflow: int,
    busy_ms: int,
) -> tuple[Recorder, float]:
    from sqlalchemy.ext.asyncio import create_async_engine

    kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": 2.0}
    if database_url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": busy_ms / 1000.0}
    engine = create_async_engine(async_url(database_url), **kwargs)
    if database_url.startswith("sqlite"):
        _configure_async_sqlite(engine.sync_engine, busy_ms)
    writer = engine.execution_options(**{WRITE_OPTION: True})
    rec = Recorder()

    async def op_once(rng: random.Random, record: bool) -> None:
        kind, op = mix.pick(rng)
        t0 = time.perf_counter()
        try:
            async with (writer if kind == "write" else engine).begin() as conn:
                await conn.run_sync(op, rng)
        except Exception as err:  # counted by cause, as in the threaded runner
            if record:
                rec.add(kind, None, err)
            return
        if record:
            rec.add(kind, (time.perf_counter() - t0) * 1000.0, None)

    async def client(index: int, deadline: float) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.perf_counter() < deadline:
            await op_once(rng, True)

    try:
        warm = random.Random(seed)
        warm_until = time.perf_counter() + min(0.2, seconds / 10)
        while time.perf_counter() < warm_until:
            await op_once(warm, False)
        began = time.perf_counter()
        await asyncio.gather(*(client(i, began + seconds) for i in range(clients)))
        return rec, time.perf_counter() - began
    finally:
        await engine.dispose()


def run_async(
    database_url: str,
    mix: Mix,
    *,
    clients: int,
    seconds: float,
    seed: int = 1,
    pool_size: int = 5,
    max_overflow: int = 5,
    busy_ms: int = 5000,
) -> tuple[Recorder, float]:
    """Run ``mix`` as ``clients`` asyncio tasks on one event loop.

    The loop runs in its own thread, so this works from a notebook kernel (which has a loop already).
    """
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            box["result"] = asyncio.run(
                _run_async(
                    database_url,
                    mix,
                    clients=clients,
                    seconds=seconds,
                    seed=seed,
                    pool_size=pool_size,
                    max_overflow=max_overflow,
                    busy_ms=busy_ms,
                )
            )
        except BaseException as err:  # re-raised in the caller's thread below
            box["error"] = err

    thread = threading.Thread(target=main, name="ailab-async-workload")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: tuple[Recorder, float] = box["result"]
    return result
