"""One engine per database URL per process, configured for each backend.

The old code built an engine on every ``get_db()`` call (about 1 ms each, and a leaked SQLite
connection until the garbage collector ran; see ``ailab.perf.baselines.core``). Here ``get_engine``
returns the same pooled engine for the same URL.

SQLite and threads
------------------
SQLAlchemy's pool hands each connection to one thread at a time, so it opens SQLite connections
with ``check_same_thread=False``: the check would otherwise forbid a connection created by one
thread from being *returned to the pool* and reused later by another, which is safe. What is
actually unsafe, and what the pool prevents, is one connection used by two threads *at the same
time*, and a connection inherited across ``fork()`` (two processes writing through one file
handle and lock state). The review's claim that ``check_same_thread=False`` itself corrupts data
is wrong; ``ailab.perf`` measures concurrent writers to show it.

Write transactions on SQLite begin with ``BEGIN IMMEDIATE`` (see ``session(readonly=False)``):
the write lock is taken up front, so a second writer waits out the busy timeout instead of
failing with "database is locked" when it later tries to upgrade a read lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from ailab.settings import Settings, get_settings, parse_database_url

# The attribute ``note_url_on_errors`` sets on a failed statement's or connection's error.
ERROR_URL_ATTRIBUTE = "ailab_url"
# Execution option that marks a connection's transaction as a write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "ailab_write"
# With WRITE_OPTION on SQLite: fail at once if another connection holds the write lock, instead of
# waiting out the busy timeout (a caller on the event loop then retries in a worker thread).
NO_WAIT_OPTION = "ailab_no_wait"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:"))


def registry_key(url: URL) -> str:
    """The key ``url``'s engine is registered under: the whole URL, password included."""
    return url.render_as_string(hide_password=False)


def get_or_create(key: str, build: Callable[[], Engine]) -> Engine:
    """The registered engine under ``key``, built once by ``build`` (``ailab.db.readonly`` uses it)."""
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = build()
        return engine


def get_engine(url: str | URL | None = None, settings: Settings | None = None) -> Engine:
    """The process-wide engine for ``url`` (default: ``AILAB_DATABASE_URL``)."""
    settings = settings or get_settings()
    parsed = parse_database_url(
        url if isinstance(url, str) else (url or settings.url).render_as_string(False)
    )
    return get_or_create(registry_key(parsed), lambda: _create(parsed, settings))


def create_configured_engine(url: URL, settings: Settings, **overrides: Any) -> Engine:
    """A new engine with ailab's configuration, outside the registry (for benchmarks)."""
    return _create(url, settings, **overrides)


def _create(url: URL, settings: Settings, **overrides: Any) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = _create_sqlite(url, settings, **overrides)
    else:
        engine = _create_postgres(url, settings, **overrides)
    note_url_on_errors(engine)
    return engine


def note_url_on_errors(engine: Engine) -> None:
    """Errors from ``engine`` (connecting included) carry its URL, so the CLI can name the database."""

    @event.listens_for(engine, "handle_error")
    def _note(ctx: Any) -> None:
        if ctx.sqlalchemy_exception is not None:
            setattr(ctx.sqlalchemy_exception, ERROR_URL_ATTRIBUTE, engine.url)


def _create_sqlite(url: URL, settings: Settings, **overrides: Any) -> Engine:
    busy_ms = settings.sqlite_busy_timeout_ms
    kwargs: dict[str, Any]
    if _is_memory(url):
        # One shared in-memory database for the whole process (fast test fixtures).
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        kwargs = {
            "pool_size": settings.pool_size,
            "max_overflow": settings.max_overflow,
            "pool_timeout": settings.pool_timeout,
            "connect_args": {"timeout": busy_ms / 1000.0},
        }
    kwargs.update(overrides)
    engine = create_engine(url, **kwargs)
    memory = _is_memory(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN cannot be IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        # 64 MiB page cache: scattered row fetches on 100k items fit (limits.md: 2x on 2 MiB).
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()
        register_functions(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if not options.get(WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN")
        elif options.get(NO_WAIT_OPTION, False):
            driver = conn.connection.driver_connection
            driver.execute("PRAGMA busy_timeout=0")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                driver.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def register_functions(dbapi_conn: Any) -> None:
    """SQL functions every ailab SQLite connection has: ``ailab_lower(text)``, Unicode-aware
    lower case (SQLite's own ``lower`` and ``LIKE`` fold ASCII letters only)."""
    dbapi_conn.create_function("ailab_lower", 1, _unicode_lower, deterministic=True)


def _create_postgres(url: URL, settings: Settings, **overrides: Any) -> Engine:
    kwargs: dict[str, Any] = {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_pre_ping": True,
        # Let a server restart or idle-kill be noticed on checkout rather than mid-request.
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 5},
    }
    if not settings.pg_prepared_statements:
        # psycopg prepares a statement on its 5th run on a connection; behind a transaction-mode
        # pooler the next run may land on another backend, where it was never prepared.
        kwargs["connect_args"]["prepare_threshold"] = None
    kwargs.update(overrides)
    return create_engine(url, **kwargs)


def forget_engine(url: str) -> None:
    """Dispose and drop the registered engine for ``url`` (after its database is gone)."""
    key = registry_key(parse_database_url(url))
    with _lock:
        # The read-only engine for the same URL (ailab.db.readonly) goes too.
        engines = [_engines.pop(k, None) for k in (key, "ro:" + key)]
    for engine in engines:
        if engine is not None:
            engine.dispose()


def _after_fork_in_child() -> None:
    # The child must never use the parent's sockets/file handles: drop them without closing
    # (closing would send a terminate message on the parent's live Postgres connection).
    for engine in list(_engines.values()):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
