"""Turning what went wrong into one ``error:`` line with the cause and the fix, and an exit code.

The CLI's top-level handler (``ailab.cli.main``) calls ``explain`` on anything a command raises,
so a command added later is covered without doing anything. Our own ``AilabError`` messages are
already complete; driver, Alembic and OS errors are recognised here by type and message. The
database URL comes from the engine that failed (``ailab.db.engine`` notes it on the error),
rendered without its password.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from ailab.db.engine import ERROR_URL_ATTRIBUTE
from ailab.errors import (
    AilabError,
    DatabaseBusyError,
    DatabaseMissingError,
    DatabasePermissionError,
    DatabaseUnavailableError,
    SchemaError,
    StatementTimeoutError,
)

EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE: a bug; AILAB_DEBUG=1 shows the traceback
DEBUG_HINT = "rerun with AILAB_DEBUG=1 to see the traceback"


class InternalError(AilabError):
    """Something we did not foresee: the message names its type, the fix is a bug report."""

    exit_code = EXIT_INTERNAL


def explain(err: BaseException) -> AilabError:
    """The user-facing error for ``err`` (itself if it already is one)."""
    if isinstance(err, AilabError):
        return err
    if isinstance(err, sa_exc.DBAPIError):
        found = _database_error(err)
        if found is not None:
            return found
    if isinstance(err, sqlite3.Error):  # raw driver errors (code that bypasses SQLAlchemy)
        cause = str(err).strip() or type(err).__name__
        found = _sqlite_error("the database", None, cause.lower(), cause)
        if found is not None:
            return found
    if isinstance(err, CommandError):
        return _alembic_error(err)
    if isinstance(err, PermissionError):
        return DatabasePermissionError(
            f"Permission denied: {err.filename or err}. Run as a user who may read and write it, "
            "or choose another path."
        )
    if isinstance(err, FileNotFoundError):
        return DatabaseMissingError(f"No such file or directory: {err.filename or err}. Check the path.")
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return InternalError(
        f"unexpected {type(err).__name__}{': ' + first if first else ''}. "
        f"This is a bug in ailab: {DEBUG_HINT}, and report it."
    )


def _where(err: sa_exc.DBAPIError) -> tuple[str, URL | None]:
    url = getattr(err, ERROR_URL_ATTRIBUTE, None)
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True), url
    return "the database", None


def _first_line(err: sa_exc.DBAPIError) -> str:
    text = str(err.orig).strip()
    return text.splitlines()[0] if text else type(err.orig).__name__


def _database_error(err: sa_exc.DBAPIError) -> AilabError | None:
    where, url = _where(err)
    cause = _first_line(err)
    lowered = cause.lower()
    if isinstance(err.orig, sqlite3.Error):
        return _sqlite_error(where, url, lowered, cause)
    sqlstate = getattr(err.orig, "sqlstate", None) or ""
    if sqlstate == "57014" or "statement timeout" in lowered:
        return StatementTimeoutError(
            f"A statement on {where} ran past AILAB_STATEMENT_TIMEOUT_MS and was cancelled ({cause}). "
            "Retry later; if it is a long maintenance task, raise AILAB_STATEMENT_TIMEOUT_MS for it."
        )
    if sqlstate == "42P01":
        return _not_migrated(where, cause)
    if sqlstate.startswith("42501") or "permission denied" in lowered:
        return DatabasePermissionError(
            f"{where} refused: {cause}. Use a role that may read and write the ailab tables."
        )
    if isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError):
        return DatabaseUnavailableError(
            f"Could not connect to {where}: {cause}. Check that the server is running and that the "
            "host, port, user and database name in --database-url / AILAB_DATABASE_URL are right "
            "(create a missing database with `createdb NAME`)."
        )
    return None


def _sqlite_error(where: str, url: URL | None, lowered: str, cause: str) -> AilabError | None:
    path = Path(url.database) if url is not None and url.database else None
    if "file is not a database" in lowered:
        return DatabaseMissingError(
            f"{path or where} is not a SQLite database ({cause}). Check the path: "
            "--database-url / AILAB_DATABASE_URL must name an ailab database file."
        )
    if "unable to open database file" in lowered:
        parent = path.resolve().parent if path is not None else None
        if parent is not None and not parent.exists():
            return DatabaseMissingError(
                f"Cannot create {path}: the directory {parent} does not exist. "
                f"Create it (mkdir -p {parent}) or fix the path."
            )
        return DatabasePermissionError(
            f"Cannot open {path or where} ({cause}): this user may not read it, or may not create "
            "files in its directory. Fix the permissions or choose another path."
        )
    if "readonly database" in lowered or "read-only" in lowered:
        return DatabasePermissionError(
            f"{path or where} is read-only for this user ({cause}). Read-only commands "
            "(`ailab db current`, `ailab db check`) still work; to write, make the file and its "
            "directory writable."
        )
    if "database is locked" in lowered or "database is busy" in lowered:
        return DatabaseBusyError(
            f"{path or where} stayed locked by another writer past the busy timeout ({cause}). "
            "Retry when it is done, or raise AILAB_SQLITE_BUSY_TIMEOUT_MS."
        )
    if "interrupted" in lowered:
        return StatementTimeoutError(
            f"A statement on {where} ran past AILAB_STATEMENT_TIMEOUT_MS and was stopped. "
            "Retry later, or raise AILAB_STATEMENT_TIMEOUT_MS."
        )
    if "no such table" in lowered:
        return _not_migrated(where, cause)
    return None


def _not_migrated(where: str, cause: str) -> SchemaError:
    return SchemaError(
        f"{where} has no ailab schema yet ({cause}). Run `ailab db upgrade` with the same "
        "--database-url first."
    )


def _alembic_error(err: CommandError) -> AilabError:
    from ailab.db.migrate import known_revisions

    cause = str(err).strip().splitlines()[0] if str(err).strip() else "Alembic refused"
    if "locate revision" in cause or "no such revision" in cause.lower():
        return SchemaError(
            f"{cause}. This ailab knows the revisions {', '.join(known_revisions())} (and base, head). "
            "If it is the database's own revision (see `ailab db current`), a newer ailab migrated "
            "it: use that version, or restore a backup."
        )
    return SchemaError(f"Migration failed: {cause}.")
