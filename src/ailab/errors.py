"""Every error ailab raises on purpose. Each message says what was wrong and what to do.

Modelled on httpx's single ``_exceptions`` module: one root (``AilabError``) so callers can
catch everything of ours, and a subclass per cause so tests and the CLI can tell them apart.
"""

from __future__ import annotations

from typing import ClassVar

# The command line's exit codes (README "Exit codes"); each error class carries its own.
# Generic codes follow BSD sysexits.h so they never collide with a command's own small codes
# (`ailab sync` and `ailab db check` use 1 and up for "done, but something is left").
EXIT_USAGE = 2  # bad input or a value that does not fit (also click's own usage errors)
EXIT_NEEDS_CONFIRMATION = 64  # a destructive action was not confirmed (--yes, --append, --replace)
EXIT_SCHEMA = 65  # the schema is not at the revision this version needs, or the revision is unknown
EXIT_NO_DATABASE = 66  # the database file is missing or is not a database
EXIT_UNAVAILABLE = 69  # the database server did not answer, or refused the connection
EXIT_TEMPORARY = 75  # busy: the pool, a lock or a statement timeout; retrying later may work
EXIT_PERMISSION = 77  # the file or directory cannot be read or written by this user
EXIT_CONFIG = 78  # a setting or URL is malformed or unsupported
EXIT_INTERRUPTED = 130  # Ctrl-C


class AilabError(Exception):
    """Root of ailab's errors. ``str(err)`` is a complete, user-facing message."""

    exit_code: ClassVar[int] = EXIT_USAGE


class ConfigError(AilabError):
    """A setting is malformed or unsupported (bad URL, unknown dialect, bad number)."""

    exit_code = EXIT_CONFIG


class ConfirmationRequiredError(AilabError):
    """A destructive action needs an explicit flag (``--yes``, ``--append``, ``--replace``)."""

    exit_code = EXIT_NEEDS_CONFIRMATION


class MissingExtraError(AilabError):
    """A command needs an optional part of the install (``ailab[lab]``) that is not installed."""


class ServerStartError(AilabError):
    """A server started as a child process exited or did not answer in time."""


class DatabaseError(AilabError):
    """The database could not do what was asked."""


class DatabaseMissingError(DatabaseError):
    """The database file does not exist, or is not a SQLite database."""

    exit_code = EXIT_NO_DATABASE


class DatabaseUnavailableError(DatabaseError):
    """The database server could not be reached or refused the connection."""

    exit_code = EXIT_UNAVAILABLE


class DatabasePermissionError(DatabaseError):
    """The database (or its directory) cannot be read or written by this user."""

    exit_code = EXIT_PERMISSION


class SchemaError(DatabaseError):
    """The schema is not at a revision this version knows (not migrated, or from a newer version)."""

    exit_code = EXIT_SCHEMA


class DatabaseBusyError(DatabaseError):
    """A lock, the pool or the statement timeout stopped the work; retrying later may succeed."""

    exit_code = EXIT_TEMPORARY


class PoolExhaustedError(DatabaseBusyError):
    """No pooled connection became free within the pool timeout."""


class StatementTimeoutError(DatabaseBusyError):
    """A statement ran past ``AILAB_STATEMENT_TIMEOUT_MS`` and was cancelled."""


class ValidationError(AilabError):
    """A value does not fit the schema (unknown status, self-dependency, ...)."""


class ConflictError(ValidationError):
    """The change conflicts with the current data (a taken key, a dependency cycle, ...)."""


class NotFoundError(AilabError):
    """A referenced row does not exist."""


class MissingReferenceError(NotFoundError, ConflictError):
    """A write names a row that does not exist (a dependency, parent or project).

    Not found, and for the write a conflict with the current data: the API answers 409 (the
    item being written exists; 404 stays for the item in the path)."""


class LegacyImportError(AilabError):
    """A legacy database could not be imported; nothing was written."""


class LegacyOverlapError(LegacyImportError):
    """Importing would overwrite rows another legacy file imported; ``--replace`` allows it."""

    exit_code = EXIT_NEEDS_CONFIRMATION

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report  # the ImportReport, anomalies included, for the CLI to write


class LegacySourceBusyError(LegacyImportError):
    """A writer holds the legacy file's lock: its committed state cannot be read right now."""

    exit_code = EXIT_TEMPORARY


class GitHubError(AilabError):
    """GitHub (or the simulator) refused or failed a request."""


class GitHubAuthError(GitHubError):
    """GitHub answered 401/403 for a reason that waiting will not fix."""


class RateLimitedError(GitHubError):
    """GitHub kept rate-limiting us past the retry budget."""

    reset_at: float | None = None  # epoch seconds when GitHub said its budget frees up, if it did


class GitHubNotFoundError(GitHubError):
    """GitHub answered 404: the repository or issue does not exist, or the token cannot see it."""


class GitHubValidationError(GitHubError):
    """GitHub answered 422 (or a GraphQL error): the request itself was invalid."""


class GitHubUnavailableError(GitHubError):
    """GitHub kept failing (5xx, timeouts, dropped connections) past the retry budget."""


class AmbiguousWriteError(GitHubUnavailableError):
    """A non-idempotent write (issue creation) may or may not have happened: look before resending."""
