"""Reading a legacy database without changing it, and only what its writers committed.

The file is opened through SQLite's URI ``file:PATH?mode=ro``: read-only, but honouring locks and
journals, in one read transaction (``BEGIN``; the shared lock is held until every table is
read), so the rows form one committed snapshot even while another program writes the file.

* A writer holding the lock (inside ``BEGIN EXCLUSIVE``, or committing) past the busy timeout:
  refused with ``LegacySourceBusyError``; never a read of half-written pages.
* A hot ``-journal`` left by a writer that died mid-transaction: a read-only connection cannot
  roll it back, so file and journal are copied into a temporary directory, SQLite rolls the
  copy back to the last commit, and the import reads the copy. The original is untouched.
* A non-empty ``-wal`` (a WAL-mode file): file and log are copied and read together.

Earlier versions used ``immutable=1``, which ignores locks and journals: it imported a crashed
writer's uncommitted changes, and a writer growing the file made it look corrupt.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from ailab.errors import LegacyImportError, LegacySourceBusyError
from ailab.legacy.schema import INTERNAL_TABLES, Layout, detect_layout

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass
class SourceTable:
    """One table of the legacy file, read whole: its columns and row tuples."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> Iterator[dict[str, Any]]:
        """The rows as ``{column: value}`` dicts."""
        columns = self.columns
        for row in self.rows:
            yield dict(zip(columns, row, strict=True))


@dataclass
class LegacySource:
    """The legacy file read once: its path and hash, the detected layout, its tables, and notes on it."""

    path: Path
    sha256: str
    layout: Layout
    tables: dict[str, SourceTable]
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> SourceTable:
        """The table ``name``, or an empty one when the file has none (older layouts lack some)."""
        return self.tables.get(name) or SourceTable(name, (), [])


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks (the report names the exact source it imported)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise LegacyImportError(
            f"No legacy database at {path}: the file does not exist. Give the path of the old "
            "system's SQLite file (usually ai_lab.db)."
        )
    if not path.is_file():
        raise LegacyImportError(f"{path} is not a file; give the path of the old system's SQLite database.")
    with path.open("rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if not header:
        raise LegacyImportError(
            f"{path} is empty (0 bytes): it is not a database of the old system, so there is nothing "
            "to import. Check the path."
        )
    if header != SQLITE_HEADER:
        raise LegacyImportError(
            f"{path} is not a SQLite database (its first bytes are not the SQLite header). "
            "Give the path of the old system's ai_lab.db."
        )


SQLITE_READONLY_ROLLBACK = 776  # a hot journal that a read-only connection cannot roll back
BUSY_TIMEOUT_S = 5.0


def _uri(path: Path, readonly: bool = True) -> str:
    return f"file:{pathname2url(str(path.resolve()))}" + ("?mode=ro" if readonly else "")


def _begin_snapshot(conn: sqlite3.Connection) -> None:
    """Start the read transaction and take the shared lock now (the first read takes it)."""
    conn.isolation_level = None
    conn.execute("BEGIN")
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()


def _copy_with(path: Path, sidecar: Path, tmp: Path, readonly: bool) -> sqlite3.Connection:
    copy = tmp / path.name
    shutil.copy2(path, copy)
    shutil.copy2(sidecar, copy.with_name(copy.name + sidecar.name[len(path.name) :]))
    return sqlite3.connect(_uri(copy, readonly=readonly), uri=True)


def _open_snapshot(path: Path, tmp: Path, notes: list[str], busy_timeout_s: float) -> sqlite3.Connection:
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        # Copy file + log so SQLite can replay the log in the copy, never beside the original.
        notes.append(f"{wal.name} held changes not yet in {path.name}; read them from a temporary copy.")
        conn = _copy_with(path, wal, tmp, readonly=True)
        _begin_snapshot(conn)
        return conn
    conn = sqlite3.connect(_uri(path), uri=True, timeout=busy_timeout_s)
    try:
        _begin_snapshot(conn)
        return conn
    except sqlite3.OperationalError as err:
        conn.close()
        if getattr(err, "sqlite_errorcode", None) == SQLITE_READONLY_ROLLBACK:
            journal = path.with_name(path.name + "-journal")
            notes.append(
                f"{journal.name} is a hot journal: a writer died inside a transaction. Its changes "
                "were not committed, so they were rolled back in a temporary copy and not imported."
            )
            conn = _copy_with(path, journal, tmp, readonly=False)  # rolls the copy back on first read
            _begin_snapshot(conn)
            return conn
        if "locked" in str(err) or "busy" in str(err):
            raise LegacySourceBusyError(
                f"{path} is locked by a program writing it (a transaction in progress for more than "
                f"{busy_timeout_s:g} s): what it has committed cannot be read now, and what it has not "
                "must not be imported. Let that program finish or stop it, then rerun."
            ) from None
        raise LegacyImportError(f"Could not open {path} read-only: {err}.") from None
    except sqlite3.DatabaseError as err:
        conn.close()
        raise LegacyImportError(
            f"{path} is not a readable SQLite database ({err}). Give the path of the old system's ai_lab.db."
        ) from None


@contextmanager
def open_readonly(
    path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S
) -> Iterator[tuple[sqlite3.Connection, list[str]]]:
    """A read-only connection to ``path`` inside one read transaction (see the module docstring),
    and notes about how it was read."""
    _check_file(path)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ailab-legacy-") as tmp:
        try:
            conn = _open_snapshot(path, Path(tmp), notes, busy_timeout_s)
        except sqlite3.Error as err:
            raise LegacyImportError(f"Could not open {path} read-only: {err}.") from None
        try:
            yield conn, notes
        finally:
            conn.close()


def _table_columns(conn: sqlite3.Connection, path: Path) -> dict[str, tuple[str, ...]]:
    try:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")
            if r[0] not in INTERNAL_TABLES
        ]
        return {n: tuple(r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')) for n in names}
    except sqlite3.DatabaseError as err:
        raise LegacyImportError(
            f"{path} is not a readable SQLite database ({err}). Give the path of the old system's ai_lab.db."
        ) from None


def _decode(raw: bytes) -> str | bytes:
    # Text that is not UTF-8 stays bytes: the mapping step reports it instead of failing here.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _read_rows(conn: sqlite3.Connection, table: str) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    sql = f'SELECT * FROM "{table}" ORDER BY rowid'
    try:
        cur = conn.execute(sql)
    except sqlite3.OperationalError:
        # WITHOUT ROWID tables have no rowid: their primary key order is as good.
        cur = conn.execute(f'SELECT * FROM "{table}"')
    columns = tuple(d[0] for d in cur.description)
    try:
        return columns, cur.fetchall()
    except sqlite3.OperationalError as err:
        if "decode" not in str(err).lower():
            raise
    conn.text_factory = _decode
    try:
        return columns, conn.execute(sql).fetchall()
    finally:
        conn.text_factory = str


def read_legacy(path: Path | str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> LegacySource:
    """Read every table of a legacy database (one committed snapshot); detect its generation."""
    path = Path(path)
    with open_readonly(path, busy_timeout_s) as (conn, notes):
        found = _table_columns(conn, path)
        layout = detect_layout(found, str(path))
        tables: dict[str, SourceTable] = {}
        try:
            for name in found:
                columns, rows = _read_rows(conn, name)
                tables[name] = SourceTable(name, columns, rows)
        except sqlite3.DatabaseError as err:
            raise LegacyImportError(f"Could not read {path}: {err}. Is the file damaged?") from None
    return LegacySource(path=path, sha256=file_sha256(path), layout=layout, tables=tables, notes=notes)
