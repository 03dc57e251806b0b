"""Telling that another connection committed, without a round trip: a cache's cheap first check.

``ChangeWatch.token()`` returns a value that changes whenever a change may have been committed
since the last call (by any process), or ``None`` when it cannot tell (then ask the database).
A cache stores the token it read *before* the snapshot its entry was computed from; the entry is
still good while the token is unchanged. Any commit after that read changes the token later, and
any commit before it is in the snapshot.

* **SQLite**: ``PRAGMA data_version`` on a connection kept for this alone (it never writes; the
  value moves when any *other* connection commits, this process's pool included). A few
  microseconds: a look at the WAL index in shared memory.
* **Postgres**: a connection that ``LISTEN``s to ``ailab_data_revision`` (the revision triggers
  notify at commit, with the schema as payload). ``token()`` drains what has arrived with one
  non-blocking read (libpq's socket is non-blocking) and counts the notifications for this
  schema. A notification is sent after the commit is visible, so a snapshot taken after it was
  seen includes the change. The window left is a notification still on its way between the
  listening backend and this process: sub-millisecond, far shorter than any client's next
  request after its write returned. A lost connection answers ``None`` (ask the database) until
  it is back; coming back counts as a change (notifications may have been missed meanwhile).
* **Anything else** (an in-memory SQLite, a custom pool): ``None`` always.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ailab.db.revision import NOTIFY_CHANNEL

log = logging.getLogger("ailab.db")
RECONNECT_INTERVAL_S = 1.0


class ChangeWatch(Protocol):
    """Tells, without a round trip, whether a commit may have happened (see the module docstring)."""

    def token(self) -> int | None:
        """A value that differs once a change may have been committed since the last call;
        ``None`` when it cannot tell (then ask the database)."""

    def note_write(self) -> None:
        """This process committed a write (call after the commit): the next token differs."""

    def wait_for_change(self, since: int | None, timeout: float) -> int | None:
        """Block until ``token()`` differs from ``since`` or ``timeout`` passes; the token then.
        Immediate where a commit shows at once (SQLite); on Postgres, until the notification
        is here (tests use it to wait for a commit made elsewhere, without sleeping)."""

    def close(self) -> None:
        """Release what the watch holds (its connection, its engine listeners)."""


class NoWatch:
    """Cannot tell: every check asks the database."""

    def token(self) -> int | None:
        """Always ``None``: ask the database."""
        return None

    def note_write(self) -> None:
        """Nothing to note: there is no token to move."""
        return None

    def wait_for_change(self, since: int | None, timeout: float) -> int | None:
        """``None`` at once: there is nothing to wait on."""
        return None

    def close(self) -> None:
        """Nothing to release."""
        return None


def _detached(engine: Engine) -> Any:
    """A DBAPI connection made with the engine's settings, outside its pool (the pool replaces it)."""
    pooled = engine.raw_connection()
    driver = pooled.driver_connection
    pooled.detach()
    return driver


class SQLiteDataVersion:
    """``PRAGMA data_version`` on a connection of its own, outside the pool: the value moves when
    any other connection (this process's pool included) commits to the file."""

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self._conn = _detached(engine)

    def token(self) -> int | None:
        """The file's ``data_version`` as this connection sees it (a look at the WAL index)."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def note_write(self) -> None:
        """Nothing to do: the commit went through another connection, which moved ``data_version``."""
        return None  # another connection of this process committed: data_version moved already

    def wait_for_change(self, since: int | None, timeout: float) -> int | None:
        """The token now: on SQLite a commit shows at once, so there is nothing to wait for."""
        return self.token()

    def close(self) -> None:
        """Close the connection kept for ``data_version``."""
        with self._lock:
            self._conn.close()


class PostgresListener:
    """A detached connection that ``LISTEN``s to ``NOTIFY_CHANNEL``: the token counts this schema's
    notifications from backends outside this process's pool. A lost connection is made again
    in a background thread."""

    def __init__(self, engine: Engine, clock: Any = time.monotonic) -> None:
        self._engine = engine
        # Backends of this process's pool: their commits came through ``note_write`` already,
        # so their notifications (which may arrive after the next load) are not news.
        self._own_backends: set[int] = set()
        for name, fn in (("connect", self._own), ("close", self._gone), ("close_detached", self._gone),
                         ("detach", self._gone), ("invalidate", self._gone)):  # fmt: skip
            event.listen(engine, name, fn)
        self._lock = threading.Lock()
        self._monotonic = clock
        self._epoch = 0
        self._conn: Any = None
        self._schema = ""
        self._retry_at = 0.0
        self._reconnecting = False
        self._conn, self._schema = self._listen()

    def _own(self, dbapi_conn: Any, _record: Any) -> None:
        pid = getattr(getattr(dbapi_conn, "info", None), "backend_pid", None)
        if pid:
            with self._lock:
                self._own_backends.add(int(pid))

    def _gone(self, dbapi_conn: Any, *_args: Any) -> None:
        pid = getattr(getattr(dbapi_conn, "info", None), "backend_pid", None)
        with self._lock:
            self._own_backends.discard(int(pid or 0))

    def _listen(self) -> tuple[Any, str]:
        conn = _detached(self._engine)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
                cur.execute("SELECT current_schema()")
                row = cur.fetchone()
        except Exception:
            conn.close()
            raise
        return conn, str(row[0]) if row else "public"

    def _drain(self) -> None:
        pgconn = self._conn.pgconn
        pgconn.consume_input()  # non-blocking: what the socket holds now
        while (note := pgconn.notifies()) is not None:
            if (
                note.extra.decode("utf-8", "replace") == self._schema
                and note.be_pid not in self._own_backends
            ):
                self._epoch += 1

    def token(self) -> int | None:
        """The notifications counted so far, after one non-blocking drain; ``None`` while the connection
        is lost (a reconnect then starts in the background, at most every ``RECONNECT_INTERVAL_S``)."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._drain()
                    return self._epoch
                except Exception as err:
                    log.warning(
                        "lost the LISTEN connection (%s); checking the database until it is back",
                        type(err).__name__,
                    )
                    self._close_conn()
            now = self._monotonic()
            if now >= self._retry_at and not self._reconnecting:
                # Connecting can take seconds: never on the caller's (the event loop's) time.
                self._retry_at, self._reconnecting = now + RECONNECT_INTERVAL_S, True
                threading.Thread(target=self._reconnect, name="ailab-listen", daemon=True).start()
            return None

    def note_write(self) -> None:
        """Count this process's commit at once (its own backends' notifications are never counted)."""
        # Our own commit's notification may still be on its way: do not wait for it.
        with self._lock:
            self._epoch += 1

    def wait_for_change(self, since: int | None, timeout: float) -> int | None:
        """As ``ChangeWatch.wait_for_change``: checks ``token()``, waiting on the LISTEN socket (at most
        0.1 s at a time) in between."""
        deadline = self._monotonic() + timeout
        while True:
            token = self.token()
            left = deadline - self._monotonic()
            if token != since or left <= 0:
                return token
            conn = self._conn
            if conn is not None:
                select.select([conn.pgconn.socket], [], [], min(left, 0.1))

    def _reconnect(self) -> None:
        try:
            conn, schema = self._listen()
        except Exception as err:
            log.warning("could not LISTEN (%s); checking the database meanwhile", type(err).__name__)
            conn = None
        with self._lock:
            self._reconnecting = False
            if conn is not None:
                self._conn, self._schema = conn, schema
                self._epoch += 1  # anything may have changed while no one listened

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken; nothing more to release
                log.debug("closing a broken LISTEN connection failed", exc_info=True)

    def close(self) -> None:
        """Remove the pool listeners and close the LISTEN connection."""
        for name, fn in (("connect", self._own), ("close", self._gone), ("close_detached", self._gone),
                         ("detach", self._gone), ("invalidate", self._gone)):  # fmt: skip
            if event.contains(self._engine, name, fn):
                event.remove(self._engine, name, fn)
        with self._lock:
            self._close_conn()


def change_watch(engine: Engine, *, postgres_listen: bool = True) -> ChangeWatch:
    """The cheapest watch ``engine``'s database allows (on Postgres, none unless ``postgres_listen``:
    then every check asks the database, exact at any instant)."""
    name = engine.dialect.name
    if name == "sqlite":
        database = engine.url.database
        if database in (None, "", ":memory:") or "mode=memory" in str(engine.url):
            return NoWatch()
        return SQLiteDataVersion(engine)
    if name == "postgresql" and engine.dialect.driver == "psycopg" and postgres_listen:
        return PostgresListener(engine)
    return NoWatch()
