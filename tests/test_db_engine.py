from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab.db import connect, get_engine, session, trace
from ailab.db.engine import create_configured_engine
from ailab.db.models import Tag
from ailab.errors import PoolExhaustedError
from ailab.settings import Settings, parse_database_url


def test_same_url_gives_the_same_engine(db_url: str) -> None:
    assert get_engine(db_url) is get_engine(db_url)


def test_different_urls_give_different_engines(tmp_path: Path) -> None:
    a = get_engine(f"sqlite:///{tmp_path / 'a.db'}")
    b = get_engine(f"sqlite:///{tmp_path / 'b.db'}")
    assert a is not b


def test_sqlite_pragmas_on_every_pooled_connection(sqlite_engine: Engine) -> None:
    # Hold several connections at once so the pool has to open distinct ones.
    conns = [sqlite_engine.connect() for _ in range(4)]
    try:
        for conn in conns:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert len({id(c.connection.dbapi_connection) for c in conns}) == 4
    finally:
        for conn in conns:
            conn.close()


def test_sqlite_write_sessions_begin_immediate(sqlite_engine: Engine) -> None:
    with trace() as t, session(sqlite_engine) as sess:
        sess.execute(text("SELECT 1"))
    assert "BEGIN IMMEDIATE" in [s.sql for s in t.statements]
    with trace() as t, session(sqlite_engine, readonly=True) as sess:
        sess.execute(text("SELECT 1"))
    assert "BEGIN" in [s.sql for s in t.statements]
    assert "BEGIN IMMEDIATE" not in [s.sql for s in t.statements]


def test_session_commits_on_success_and_rolls_back_on_error(engine: Engine) -> None:
    with session(engine) as sess:
        sess.add(Tag(name="kept"))
    with pytest.raises(RuntimeError), session(engine) as sess:
        sess.add(Tag(name="dropped"))
        sess.flush()
        raise RuntimeError("boom")
    with connect(engine) as conn:
        names = sorted(r[0] for r in conn.execute(text("SELECT name FROM tags")))
    assert names == ["kept"]


def test_eight_threads_writing_never_see_database_is_locked(sqlite_engine: Engine) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                with session(sqlite_engine) as sess:
                    sess.add(Tag(name=f"t{n}-{i}"))
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with connect(sqlite_engine) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM tags")).scalar() == 1600


def test_pool_exhaustion_raises_our_error_quickly(db_url: str) -> None:
    settings = Settings(database_url=db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    small = create_configured_engine(parse_database_url(db_url), settings)
    try:
        held = small.connect()
        started = time.monotonic()
        with pytest.raises(PoolExhaustedError) as err, session(small) as sess:
            sess.execute(text("SELECT 1"))
        # Generous bound: what matters is "about the pool timeout", never SQLAlchemy's 30 s default.
        assert time.monotonic() - started < 10
        assert "AILAB_POOL_SIZE" in str(err.value)
        held.close()
    finally:
        small.dispose()


def _child_pool_state(url: str, queue: multiprocessing.Queue[tuple[int, int]]) -> None:
    engine = get_engine(url)
    checked_in_at_start = engine.pool.checkedin()  # type: ignore[attr-defined]
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    queue.put((checked_in_at_start, 1))


def test_forked_child_gets_fresh_connections(db_url: str) -> None:
    engine = get_engine(db_url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert engine.pool.checkedin() >= 1  # type: ignore[attr-defined]
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[int, int]] = ctx.Queue()
    child = ctx.Process(target=_child_pool_state, args=(db_url, queue))
    child.start()
    checked_in, ok = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert checked_in == 0, "the child must not reuse connections inherited from the parent"
    assert ok == 1
    # The parent's pooled connection still works after the child exited.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_tracer_counts_statements_and_time(engine: Engine) -> None:
    with trace() as t, connect(engine) as conn:
        conn.execute(text("SELECT 1"))
        conn.execute(text("SELECT 2"))
    selects = [s for s in t.statements if s.sql.startswith("SELECT")]
    assert len(selects) == 2
    assert t.count >= 2
    assert t.total_ms >= 0
    with trace() as outer:
        with trace() as inner, connect(engine) as conn:
            conn.execute(text("SELECT 3"))
        with connect(engine) as conn:
            conn.execute(text("SELECT 4"))
    assert any(s.sql == "SELECT 3" for s in inner.statements)
    assert not any(s.sql == "SELECT 4" for s in inner.statements)
    assert {"SELECT 3", "SELECT 4"} <= {s.sql for s in outer.statements}


def test_postgres_reads_run_in_autocommit_unless_a_snapshot_is_asked_for(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads keep their deferred transaction: one snapshot for free")
    with connect(engine) as conn:
        assert conn.connection.driver_connection.autocommit is True  # type: ignore[union-attr]
        assert conn.execute(text("SELECT 1")).scalar() == 1
    with connect(engine, readonly=False) as conn:
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
    snapshot = engine.execution_options(isolation_level="REPEATABLE READ")
    with connect(snapshot) as conn:
        driver = conn.connection.driver_connection
        assert driver.autocommit is False  # type: ignore[union-attr]
        level = conn.execute(text("SHOW transaction_isolation")).scalar()
        assert level == "repeatable read"
    # A connection back in the pool is a plain transactional one again.
    with engine.connect() as conn:
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
