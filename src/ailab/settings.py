"""One settings object, read from ``AILAB_*`` environment variables.

Like Starlette's ``Config``: values are parsed and checked once, secrets are wrapped in
``Secret`` so they print as ``'**********'`` in reprs, logs and tracebacks. Each setting is one
line of the ``Settings`` table below: its type, default, environment variable and minimum are
written there once; ``from_env`` and the checks (run however a ``Settings`` is made) read that table.

To add a setting: add one line ``name: type = setting(default, minimum=...)`` to ``Settings``
(env var ``AILAB_<NAME>`` unless ``env=`` says otherwise) and a row to README.md's configuration table.
"""

from __future__ import annotations

import math
import os
import types
import typing
import unicodedata
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ailab.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///./ailab.db"

# Dialect+driver pairs we support, and the driver each dialect defaults to.
SUPPORTED_DRIVERS: dict[str, tuple[str, ...]] = {
    "sqlite": ("pysqlite", "sqlite"),
    "postgresql": ("psycopg",),
}
ACCEPTED_URL_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:// (in memory), "
    "postgresql+psycopg://user@host:5432/dbname"
)


class Secret:
    """A string that never shows itself in ``repr``/``str``; call ``reveal()`` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plain string; call it only where the value is actually used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


SUPPORTED_URL_PREFIXES = "sqlite://, sqlite+pysqlite://, postgresql:// and postgresql+psycopg://"


_CONTROL_NAMES = {"\r": "a carriage return, \\r", "\n": "a newline, \\n", "\t": "a tab", " ": "a space"}


def check_secret_text(raw: str, var: str) -> None:
    """A token with whitespace or a control character in it is refused, without echoing it.

    The usual cause is a CRLF env file (a trailing ``\\r``) or a pasted newline; such a token
    would fail at GitHub anyway, and the HTTP library's error would print it in full.
    """
    for position, char in enumerate(raw, start=1):
        if char.isspace() or unicodedata.category(char).startswith("C"):
            where = "at its end" if position == len(raw) else f"at character {position} of {len(raw)}"
            name = _CONTROL_NAMES.get(char) or unicodedata.name(char, f"U+{ord(char):04X}")
            raise ConfigError(
                f"{var} contains whitespace or a control character ({name}, "
                f"{where}; often a CRLF line ending in an env file). Remove it and set {var} again; "
                "the value is not shown here."
            )


def parse_database_url(raw: str) -> URL:
    """Parse and check a database URL; raise ``ConfigError`` naming what is accepted."""
    try:
        url = make_url(raw)
        url.port  # noqa: B018 -- SQLAlchemy parses the port lazily: a non-number raises here
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"Could not parse database URL {_mask(raw)!r} (is the port a number?). "
            f"Accepted forms: {ACCEPTED_URL_FORMS}."
        ) from None
    backend = url.get_backend_name()
    driver = url.get_driver_name()
    if backend not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"Unsupported database dialect {backend!r} in {_mask(raw)!r}. "
            f"ailab supports exactly {SUPPORTED_URL_PREFIXES}: {ACCEPTED_URL_FORMS}."
        )
    if "+" in url.drivername and driver not in SUPPORTED_DRIVERS[backend]:
        raise ConfigError(
            f"Unsupported {backend} driver {driver!r} in {_mask(raw)!r}; "
            f"use {'postgresql+psycopg://' if backend == 'postgresql' else 'sqlite://'}. ailab supports "
            f"exactly {SUPPORTED_URL_PREFIXES} (PostgreSQL through psycopg 3)."
        )
    if url.drivername == "postgresql":
        # Plain postgresql:// means psycopg2 to SQLAlchemy; we ship psycopg 3.
        url = url.set(drivername="postgresql+psycopg")
    if backend == "postgresql" and not url.database:
        raise ConfigError(f"Database URL {_mask(raw)!r} names no database; add /dbname at the end.")
    return url


def _mask(raw: str) -> str:
    """Hide a password in a URL before it goes into a message."""
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return raw if "@" not in raw else "***@" + raw.split("@", 1)[1]


T = TypeVar("T")

# How a boolean setting may be written in the environment.
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def setting(default: T, *, env: str | tuple[str, ...] | None = None, minimum: float | None = None) -> T:
    """One row of the settings table: the default, the env var(s) (first set wins) and a minimum.

    Numbers have a minimum of 0 unless one is given. ``env`` defaults to ``AILAB_<FIELD NAME>``.
    """
    names = (env,) if isinstance(env, str) else env
    return field(default=default, metadata={"env": names, "minimum": minimum})


@dataclass(frozen=True)
class SettingSpec:
    """What the table says about one setting: its field, value type, env vars, default, minimum."""

    name: str
    kind: type
    optional: bool
    env: tuple[str, ...]
    default: Any
    minimum: float | None

    def parse(self, raw: str, var: str) -> Any:
        """Read one environment string; a bad one is a ``ConfigError`` naming the variable."""
        if self.kind is Secret:
            check_secret_text(raw, var)
            return Secret(raw)
        if self.kind is tuple:  # a list: comma-separated, blanks dropped
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if self.kind is bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ConfigError(f"{var}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")
        if self.kind is int:
            try:
                return int(raw)
            except ValueError:
                raise ConfigError(
                    f"{var}={raw!r} is not a whole number; set it to e.g. {self.default}."
                ) from None
        if self.kind is float:
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not a number; set it to e.g. {self.default}.") from None
            if not math.isfinite(value):
                raise ConfigError(f"{var}={raw!r} is not a finite number; set it to e.g. {self.default}.")
            return value
        return raw

    def check(self, value: Any) -> None:
        """Raise ``ConfigError`` when a value has the wrong type or is below the minimum."""
        if value is None and self.optional:
            return
        numeric = self.kind in (int, float)
        ok_type = (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            if self.kind is float
            else isinstance(value, self.kind) and not (numeric and isinstance(value, bool))
        )
        if not ok_type:
            raise ConfigError(
                f"Setting {self.name} ({self.env[0]}) must be {self.kind.__name__}, got {value!r}."
            )
        if self.kind is Secret:
            check_secret_text(value.reveal(), self.env[0])
        if self.kind is float and not math.isfinite(value):
            raise ConfigError(f"Setting {self.name} ({self.env[0]}) must be a finite number, got {value!r}.")
        if numeric and value < self.minimum_or_zero:
            raise ConfigError(
                f"{self.env[0]}={value} is below the minimum {self.minimum_or_zero} "
                f"(setting {self.name}); set it to at least that."
            )

    @property
    def minimum_or_zero(self) -> float:
        """The table's ``minimum``, or 0 when none is given."""
        return 0 if self.minimum is None else self.minimum


@dataclass(frozen=True)
class Settings:
    """All of ailab's settings. Build with ``Settings.from_env()``; override with ``with_()``.

    One line per setting; see the module docstring for how to add one.
    """

    database_url: str = setting(DEFAULT_DATABASE_URL)
    pool_size: int = setting(5, minimum=1)
    max_overflow: int = setting(5, env="AILAB_POOL_MAX_OVERFLOW")
    pool_timeout: float = setting(2.0, minimum=0.01)
    sqlite_busy_timeout_ms: int = setting(5000)
    api_token: Secret | None = setting(None)
    max_body_bytes: int = setting(1_048_576, minimum=1)  # request bodies above this answer 413
    cors_origins: str | None = setting(None)  # comma-separated origins CORS allows; unset: no CORS
    slow_request_ms: float = setting(0.0)  # 0 disables the slow-request log
    summary_cache_seconds: float = setting(60.0)  # an upper bound: the database bumps data_revision anyway
    # Postgres: serve the cached summary with no round trip until a NOTIFY says something changed
    # (a commit elsewhere shows once its notification arrives, ~1 ms); off: check the revision in
    # the database on every load (exact at any instant, one round trip).
    summary_listen: bool = setting(True)
    # psycopg prepares a statement after 5 runs; off behind a transaction-mode pooler (PgBouncer
    # < 1.22, or without max_prepared_statements), where the next transaction may get another backend.
    pg_prepared_statements: bool = setting(True)
    # The server process's GIL switch interval (Python's default is 5 ms). Postgres reads run in
    # worker threads; a thread back from a round trip waits up to this long for the GIL while the
    # event loop runs. Measured at 100 users on 2 cores: 1 ms gave 905-916 req/s at 0.87-0.88 ms
    # of server CPU per request, against 771-823 req/s and 0.95-1.01 ms at 5 ms (README).
    gil_switch_interval_ms: float = setting(1.0, minimum=0.05)
    github_api_url: str = setting("https://api.github.com")
    github_token: Secret | None = setting(None, env=("GITHUB_TOKEN", "AILAB_GITHUB_TOKEN"))
    github_repo: str | None = setting(None)
    github_write_interval: float = setting(1.0)
    github_creates_per_minute: int = setting(80, minimum=1)
    github_creates_per_hour: int = setting(500, minimum=1)
    github_read_concurrency: int = setting(8, minimum=1)
    github_batch_size: int = setting(20, minimum=1)
    github_webhook_secret: Secret | None = setting(None)  # enables POST /api/github/webhook
    github_poll_seconds: float = setting(60.0, minimum=1.0)  # `sync --watch`: conditional listing this often
    github_watch_debounce: float = setting(0.5)  # `sync --watch`: quiet time after a local change
    compare_max_age_hours: float = setting(24.0)  # the report reuses `ailab compare` results this fresh
    statement_timeout_ms: int = setting(5000)  # the server's limit per statement; 0: none
    debug: bool = setting(False)  # the CLI prints the traceback under its error: line
    # Test-only (ailab.planted): a planted slowdown of the tag filter (0.25 = 25%) that `ailab ab` must catch.
    test_tag_filter_slowdown: float = setting(0.0)

    def __post_init__(self) -> None:
        for spec in SETTINGS_TABLE:  # here, so Settings(...) and with_() are checked as from_env is
            spec.check(getattr(self, spec.name))
        parse_database_url(self.database_url)

    @property
    def url(self) -> URL:
        """``database_url`` parsed and checked by ``parse_database_url``."""
        return parse_database_url(self.database_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default ``os.environ``); unset or empty variables keep the default."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in SETTINGS_TABLE:
            for var in spec.env:
                raw = env.get(var)
                if raw:
                    values[spec.name] = spec.parse(raw, var)
                    break
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied; the new values are checked like ``from_env``'s."""
        return replace(self, **changes)


_SUPPORTED_KINDS = (str, int, float, bool, Secret, tuple)  # tuple: tuple[str, ...]


def _build_table() -> tuple[SettingSpec, ...]:
    hints = typing.get_type_hints(Settings)
    table = []
    for f in fields(Settings):
        kind: Any = hints[f.name]
        optional = False
        if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
            members = [m for m in typing.get_args(kind) if m is not type(None)]
            optional, kind = True, members[0]
        kind = typing.get_origin(kind) or kind  # tuple[str, ...] -> tuple
        if kind not in _SUPPORTED_KINDS or f.default is MISSING:
            raise TypeError(f"Settings.{f.name}: a setting is one of {_SUPPORTED_KINDS} with a default")
        env = f.metadata.get("env") or (f"AILAB_{f.name.upper()}",)
        table.append(SettingSpec(f.name, kind, optional, env, f.default, f.metadata.get("minimum")))
    return tuple(table)


# The table, one spec per field in declaration order, built once at import: a field of an
# unsupported type fails here, not at first use.
SETTINGS_TABLE: tuple[SettingSpec, ...] = _build_table()


def get_settings() -> Settings:
    """Settings from the current environment (read each call: cheap, and tests can monkeypatch)."""
    return Settings.from_env()
