"""A time limit per statement, so a request stuck behind a lock gives its connection back.

* Postgres: ``statement_timeout`` for every session of the engine (the server cancels the
  statement: SQLSTATE 57014, ``QueryCanceled``).
* SQLite has no such setting. Each connection gets a trace callback that notes when a statement
  starts (SQLite calls it for every statement, whoever runs it) and a progress handler, called
  every ``PROGRESS_STEPS`` virtual-machine steps, that interrupts the statement once it is past
  its deadline ("interrupted"). Waiting for a lock is bounded by the busy timeout instead.

The server's engine gets the limit (``AILAB_STATEMENT_TIMEOUT_MS``); batch commands (migrations,
seeding, imports) do not: their long statements are expected.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

PROGRESS_STEPS = 10_000  # ~0.1-1 ms of work between checks
QUERY_CANCELED = "57014"


def apply_statement_timeout(engine: Engine, timeout_ms: int) -> None:
    """Limit every statement on ``engine``'s future connections to ``timeout_ms`` (0: no limit)."""
    if timeout_ms <= 0:
        return
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_limiter(timeout_ms / 1000.0))
    else:
        event.listen(engine, "connect", _postgres_limiter(int(timeout_ms)))


def _postgres_limiter(timeout_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        dbapi_conn.execute(f"SET statement_timeout = {timeout_ms}")
        dbapi_conn.autocommit = autocommit

    return on_connect


def _sqlite_limiter(limit_s: float) -> Any:
    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        deadline = [float("inf")]
        monotonic = time.monotonic

        def started(_sql: str) -> None:
            deadline[0] = monotonic() + limit_s

        def progress() -> int:
            return 1 if monotonic() > deadline[0] else 0

        dbapi_conn.set_trace_callback(started)
        dbapi_conn.set_progress_handler(progress, PROGRESS_STEPS)

    return on_connect


def is_statement_timeout(err: BaseException) -> bool:
    """Whether ``err`` is a statement cancelled by ``apply_statement_timeout``'s limit."""
    orig = err.orig if isinstance(err, sa_exc.DBAPIError) else err
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig) == "interrupted"
    return getattr(orig, "sqlstate", None) == QUERY_CANCELED
