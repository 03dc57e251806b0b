"""Every error ailab raises on purpose. Each message says what was wrong and what to do.

Modelled on httpx's single ``_exceptions`` module: one root (``AilabError``) so callers can
catch everything of ours, and a subclass per cause so tests and the CLI can tell them apart.
"""

from __future__ import annotations


class AilabError(Exception):
    """Root of ailab's errors. ``str(err)`` is a complete, user-facing message."""


class ConfigError(AilabError):
    """A setting is malformed or unsupported (bad URL, unknown dialect, bad number)."""


class MissingExtraError(AilabError):
    """A command needs an optional part of the install (``ailab[lab]``) that is not installed."""


class ServerStartError(AilabError):
    """A server started as a child process exited or did not answer in time."""


class DatabaseError(AilabError):
    """The database could not do what was asked."""


class PoolExhaustedError(DatabaseError):
    """No pooled connection became free within the pool timeout."""


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
