"""One settings object, read from ``AILAB_*`` environment variables.

Like Starlette's ``Config``: values are parsed and checked once, secrets are wrapped in
``Secret`` so they print as ``'**********'`` in reprs, logs and tracebacks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

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


def parse_database_url(raw: str) -> URL:
    """Parse and check a database URL; raise ``ConfigError`` naming what is accepted."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            f"Could not parse database URL {_mask(raw)!r}. Accepted forms: {ACCEPTED_URL_FORMS}."
        ) from None
    backend = url.get_backend_name()
    driver = url.get_driver_name()
    if backend not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"Unsupported database dialect {backend!r} in {_mask(raw)!r}. "
            f"ailab supports SQLite and PostgreSQL: {ACCEPTED_URL_FORMS}."
        )
    if backend == "postgresql" and not url.drivername.startswith("postgresql+psycopg"):
        if url.drivername == "postgresql":
            # Plain postgresql:// means psycopg2 to SQLAlchemy; we ship psycopg 3.
            url = url.set(drivername="postgresql+psycopg")
        else:
            raise ConfigError(
                f"Unsupported PostgreSQL driver {driver!r} in {_mask(raw)!r}; "
                "use postgresql+psycopg:// (psycopg 3)."
            )
    if backend == "postgresql" and not url.database:
        raise ConfigError(f"Database URL {_mask(raw)!r} names no database; add /dbname at the end.")
    return url


def _mask(raw: str) -> str:
    """Hide a password in a URL before it goes into a message."""
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return raw if "@" not in raw else "***@" + raw.split("@", 1)[1]


def _env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to e.g. {default}.") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}.")
    return value


def _env_float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to e.g. {default}.") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}.")
    return value


SUMMARY_CHECKS = ("listen", "revision")


def _env_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}; set it to e.g. {default}.")
    return raw


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def _env_secret(env: Mapping[str, str], *names: str) -> Secret | None:
    for name in names:
        raw = env.get(name)
        if raw:
            return Secret(raw)
    return None


@dataclass(frozen=True)
class Settings:
    """All of ailab's settings. Build with ``Settings.from_env()``; override with ``with_()``."""

    database_url: str = DEFAULT_DATABASE_URL
    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout: float = 2.0
    sqlite_busy_timeout_ms: int = 5000
    api_token: Secret | None = None
    slow_request_ms: float = 0.0  # 0 disables the slow-request log
    summary_cache_seconds: float = 60.0  # an upper bound: every write bumps data_revision anyway
    # Postgres: "listen" serves a cached summary with no round trip until a NOTIFY says something
    # changed (a commit elsewhere is seen once its notification arrives, ~ms); "revision" checks the
    # revision in the database on every load (exact at any instant, one round trip).
    summary_check: str = "listen"
    github_api_url: str = "https://api.github.com"
    github_token: Secret | None = None
    github_repo: str | None = None
    github_write_interval: float = 1.0
    github_creates_per_minute: int = 80
    github_creates_per_hour: int = 500
    github_read_concurrency: int = 8
    github_batch_size: int = 20
    compare_max_age_hours: float = 24.0  # the report reuses `ailab compare` results this fresh

    def __post_init__(self) -> None:
        parse_database_url(self.database_url)

    @property
    def url(self) -> URL:
        return parse_database_url(self.database_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("AILAB_DATABASE_URL") or DEFAULT_DATABASE_URL,
            pool_size=_env_int(env, "AILAB_POOL_SIZE", 5, minimum=1),
            max_overflow=_env_int(env, "AILAB_POOL_MAX_OVERFLOW", 5),
            pool_timeout=_env_float(env, "AILAB_POOL_TIMEOUT", 2.0, minimum=0.01),
            sqlite_busy_timeout_ms=_env_int(env, "AILAB_SQLITE_BUSY_TIMEOUT_MS", 5000),
            api_token=_env_secret(env, "AILAB_API_TOKEN"),
            slow_request_ms=_env_float(env, "AILAB_SLOW_REQUEST_MS", 0.0),
            summary_cache_seconds=_env_float(env, "AILAB_SUMMARY_CACHE_SECONDS", 60.0),
            summary_check=_env_choice(env, "AILAB_SUMMARY_CHECK", "listen", SUMMARY_CHECKS),
            github_api_url=env.get("AILAB_GITHUB_API_URL") or "https://api.github.com",
            github_token=_env_secret(env, "GITHUB_TOKEN", "AILAB_GITHUB_TOKEN"),
            github_repo=env.get("AILAB_GITHUB_REPO") or None,
            github_write_interval=_env_float(env, "AILAB_GITHUB_WRITE_INTERVAL", 1.0),
            github_creates_per_minute=_env_int(env, "AILAB_GITHUB_CREATES_PER_MINUTE", 80, minimum=1),
            github_creates_per_hour=_env_int(env, "AILAB_GITHUB_CREATES_PER_HOUR", 500, minimum=1),
            github_read_concurrency=_env_int(env, "AILAB_GITHUB_READ_CONCURRENCY", 8, minimum=1),
            github_batch_size=_env_int(env, "AILAB_GITHUB_BATCH_SIZE", 20, minimum=1),
            compare_max_age_hours=_env_float(env, "AILAB_COMPARE_MAX_AGE_HOURS", 24.0),
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def get_settings() -> Settings:
    """Settings from the current environment (read each call: cheap, and tests can monkeypatch)."""
    return Settings.from_env()
