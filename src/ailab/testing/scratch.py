"""Scratch databases for tests, benchmarks and ``ailab report``: never the user's own data.

* ``scratch_schema(url)``: a fresh Postgres schema (dropped afterwards). The schema travels in the
  URL (``options=-csearch_path=...``), so subprocesses given the URL (a server, Locust) see it too.
* ``scratch_sqlite()``: a fresh SQLite file in a temporary directory.
* ``scratch_database(url, label)``: either, on the backend of ``url`` (SQLite when None).
* ``postgres_reachable(url)`` and ``EmbeddedPostgres``: find a Postgres, or start one from the
  ``pgserver`` package where none is running.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from ailab.db.engine import forget_engine
from ailab.errors import DatabaseError
from ailab.settings import parse_database_url

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def libpq_dsn(url: URL) -> str:
    """The libpq connection string for a SQLAlchemy Postgres URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether the Postgres at ``url`` accepts a connection within ``timeout`` seconds (whole, at least 1)."""
    try:
        with psycopg.connect(libpq_dsn(parse_database_url(url)), connect_timeout=max(1, int(timeout))):
            return True
    except psycopg.Error:
        return False


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``options=-csearch_path=<schema>``: connections made from it use ``schema``."""
    parsed = parse_database_url(url)
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}"
    return parsed.set(query=query).render_as_string(hide_password=False)


@contextmanager
def scratch_schema(url: str, prefix: str = "ailab_scratch") -> Iterator[str]:
    """A new, empty schema in the Postgres at ``url``; yields a URL that uses it; drops it after."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    dsn = libpq_dsn(parse_database_url(url))
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as err:
        raise DatabaseError(f"Could not create scratch schema on {_masked(url)}: {err}".strip()) from None
    scoped = with_schema(url, schema)
    try:
        yield scoped
    finally:
        forget_engine(scoped)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def scratch_sqlite(name: str = "scratch.db") -> Iterator[str]:
    """A new SQLite file ``name`` in a temporary directory; yields its URL, then forgets its engine
    and deletes the directory."""
    with tempfile.TemporaryDirectory(prefix="ailab-") as tmp:
        url = f"sqlite:///{Path(tmp) / name}"
        try:
            yield url
        finally:
            forget_engine(url)


@contextmanager
def scratch_database(database_url: str | None, label: str) -> Iterator[str]:
    """A scratch database on the backend of ``database_url``: a schema ``ailab_<label>_...`` in that
    Postgres, else (SQLite or None) a file ``<label>.db`` in a temporary directory."""
    if database_url and parse_database_url(database_url).get_backend_name() == "postgresql":
        with scratch_schema(database_url, prefix=f"ailab_{label}") as url:
            yield url
    else:
        with scratch_sqlite(f"{label}.db") as url:
            yield url


def _masked(url: str) -> str:
    return parse_database_url(url).render_as_string(hide_password=True)


class EmbeddedPostgres:
    """A throwaway Postgres from the ``pgserver`` package, in its own directory."""

    def __init__(self, directory: Path | None = None) -> None:
        import pgserver  # heavy: import only when actually starting one

        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="ailab-pg-")
        self.directory = directory or Path(self._tmp.name)  # type: ignore[union-attr]
        self._server: Any = pgserver.get_server(  # type: ignore[attr-defined]
            self.directory, cleanup_mode="stop"
        )
        raw = str(self._server.get_uri())
        self.url = raw.replace("postgresql://", "postgresql+psycopg://", 1)

    def stop(self) -> None:
        """Stop the server, then delete its directory if this object created it."""
        try:
            self._server.cleanup()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
