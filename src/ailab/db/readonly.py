"""Opening a database only to read it: nothing is created, converted or written.

``readonly_engine(url)`` is what read-only commands (``db current``, ``db check`` without
``--repair``, ``sync --check``) use instead of ``get_engine``:

* SQLite is opened through the URI ``file:PATH?mode=ro``. No ``PRAGMA journal_mode`` is set
  (the pooled engine switches files to WAL, which rewrites the header of a rollback-journal
  file), so the file's bytes stay as they were. A missing file is an error naming the path and
  how to create it, never a new empty database. A read-only file or directory is fine.
* A WAL file with no ``-wal`` beside it has no open connection; opening it ``mode=ro`` would
  create ``-wal``/``-shm`` files next to it (and fails in a read-only directory). It is read
  with ``immutable=1`` instead: all its content is in the main file. That holds only at the
  moment of connecting, so SQLite read-only connections are not pooled. A file with a live
  ``-wal`` is read normally, honouring the writers' locks.
* Postgres gets its own small pool whose sessions run with ``default_transaction_read_only``,
  so even an autocommit statement cannot write.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from ailab.db import engine as registry
from ailab.errors import DatabaseMissingError
from ailab.settings import Settings, get_settings, parse_database_url

# Byte 18 of the SQLite header: 1 = rollback journal, 2 = WAL.
_WAL_HEADER_OFFSET = 18
READONLY_PREFIX = "ro:"


def sqlite_path(url: URL) -> Path | None:
    """The file a SQLite URL names, or None for Postgres and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database or "")


def missing_database_error(path: Path) -> DatabaseMissingError:
    """The error for a SQLite file that does not exist: it names ``path`` and the command that
    creates it."""
    return DatabaseMissingError(
        f"No database at {path}: the file does not exist (nothing was created). "
        f"Check the path, or create it with `ailab db upgrade --database-url sqlite:///{path}`."
    )


def sqlite_readonly_uri(path: Path) -> str:
    """The URI that opens ``path`` read-only without creating anything beside it."""
    uri = f"file:{pathname2url(str(path.resolve()))}?mode=ro"
    if _is_wal_without_log(path):
        uri += "&immutable=1"
    return uri


def _is_wal_without_log(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            header = fh.read(20)
    except OSError:
        return False  # sqlite3 reports it with its own message
    wal_mode = len(header) == 20 and header[_WAL_HEADER_OFFSET] == 2
    return wal_mode and not path.with_name(path.name + "-wal").exists()


def readonly_engine(url: str | URL | None = None, settings: Settings | None = None) -> Engine:
    """A process-wide engine for ``url`` that can only read (see the module docstring).

    Raises ``DatabaseMissingError`` when a SQLite file does not exist.
    """
    settings = settings or get_settings()
    parsed = parse_database_url(
        url if isinstance(url, str) else (url or settings.url).render_as_string(False)
    )
    path = sqlite_path(parsed)
    if path is not None and not path.exists():
        raise missing_database_error(path)
    if parsed.get_backend_name() == "sqlite" and path is None:
        return registry.get_engine(parsed, settings)  # in-memory: nothing on disk to protect
    key = READONLY_PREFIX + registry.registry_key(parsed)
    return registry.get_or_create(key, lambda: _create(parsed, path, settings))


def _create(url: URL, path: Path | None, settings: Settings) -> Engine:
    if path is None:
        return _create_postgres(url, settings)
    busy_s = settings.sqlite_busy_timeout_ms / 1000.0

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(sqlite_readonly_uri(path), uri=True, timeout=busy_s, check_same_thread=False)

    # No pool: whether a connection may be ``immutable`` holds only while no other process has
    # the file open, so it is decided at each connect. A kept immutable connection would go on
    # reading the file as it was after another process wrote to it (seen with two
    # ``sync --check`` runs in one process).
    engine = create_engine(url, creator=connect, poolclass=NullPool)
    registry.note_url_on_errors(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event below emits BEGIN
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        registry.register_functions(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def _create_postgres(url: URL, settings: Settings) -> Engine:
    engine = registry.create_configured_engine(url, settings, pool_size=2, max_overflow=2)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        dbapi_conn.execute("SET SESSION default_transaction_read_only = on")
        dbapi_conn.autocommit = autocommit

    return engine
