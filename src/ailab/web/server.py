"""Running the dashboard: ``python -m ailab.web`` (and ``ailab serve``, which becomes it).

The server process imports only what serving needs. Alembic alone would add ~17 MiB of RSS
(measured), so the schema's version is checked by ``ailab serve`` before it replaces itself
with ``python -m ailab.web`` (``os.execv``: same pid, a fresh interpreter); the server itself
only checks that the schema answers.

``workers > 1`` runs that many uvicorn worker processes on one socket, each with its own app,
pool and summary cache; the caches stay exact through the database's revision and each
process's change watch (``ailab.db.change_watch``). On Postgres every process holds its pool
(``AILAB_POOL_SIZE + AILAB_POOL_MAX_OVERFLOW``) plus one LISTEN connection, so before starting,
``connection_budget`` checks that ``workers x`` that fits in what the server has left.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from typing import Any

from sqlalchemy.engine import Connection

from ailab.errors import ConfigError
from ailab.settings import Settings, get_settings

log = logging.getLogger("ailab.web")
APP_FACTORY = "ailab.web.app:create_app_from_env"
LISTEN_CONNECTIONS = 1  # per process: the change watch's


def tune_process(settings: Settings) -> None:
    """Process-wide settings of a serving process (not of an app: tests build many apps in one
    process). Called by ``serve`` and by the uvicorn factory each worker process runs."""
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000.0)


def connections_per_process(settings: Settings) -> int:
    """Postgres connections one server process may hold: its pool with overflow, plus the change watch's
    LISTEN one."""
    return settings.pool_size + max(0, settings.max_overflow) + LISTEN_CONNECTIONS


def connection_budget(conn: Connection, *, workers: int, settings: Settings) -> dict[str, int]:
    """What ``workers`` server processes need on this Postgres server and what it has left;
    a ``ConfigError`` saying what to change when they would not fit."""
    row = conn.exec_driver_sql(
        "SELECT current_setting('max_connections')::int, "
        "current_setting('superuser_reserved_connections')::int, "
        "COALESCE(current_setting('reserved_connections', true), '0')::int, "
        "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int"
    ).one()
    max_connections, superuser_reserved, reserved, in_use = (int(v) for v in row)
    # ``in_use`` counts the connection asking, which the server closes before it starts.
    headroom = max_connections - superuser_reserved - reserved - (in_use - 1)
    per_process = connections_per_process(settings)
    needed = workers * per_process
    budget = {
        "max_connections": max_connections,
        "reserved": superuser_reserved + reserved,
        "in_use": in_use - 1,
        "headroom": headroom,
        "per_process": per_process,
        "needed": needed,
    }
    if needed > headroom:
        raise ConfigError(
            f"{workers} server processes would open up to {needed} Postgres connections "
            f"({workers} x (pool {settings.pool_size} + overflow {max(0, settings.max_overflow)} "
            f"+ {LISTEN_CONNECTIONS} listener)), but the server has {headroom} left (max_connections "
            f"{max_connections}, {superuser_reserved + reserved} reserved, {in_use - 1} in use). Lower "
            "--workers or AILAB_POOL_SIZE / AILAB_POOL_MAX_OVERFLOW, raise max_connections, or put "
            "PgBouncer in front (README: Beyond one machine)."
        )
    return budget


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, settings: Settings) -> None:
    """Say clearly what binding beyond loopback exposes (the default, 127.0.0.1, exposes nothing)."""
    if is_loopback(host):
        return
    if settings.api_token:
        log.warning(
            "serving on %s, reachable from other machines: anyone who reaches it can read every work item; "
            "writes need the bearer token (AILAB_API_TOKEN).",
            host,
        )
    else:
        log.warning(
            "serving on %s WITHOUT AILAB_API_TOKEN, reachable from other machines: anyone who reaches it can "
            "read every work item (writes are disabled). Bind to 127.0.0.1 (the default) unless this is meant, "
            "and set AILAB_API_TOKEN to enable writes.",
            host,
        )


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    database_url: str | None = None,
    log_level: str = "warning",
    access_log: bool = False,
    settings: Settings | None = None,
    workers: int = 1,
) -> None:
    """Serve the dashboard with uvicorn until interrupted (``workers`` processes; no reloader)."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from ailab.db import connect, get_engine
    from ailab.queries import current_revision

    settings = settings or get_settings()
    if database_url:
        settings = settings.with_(database_url=database_url)
    if workers == 1:
        from ailab.web.app import create_app

        tune_process(settings)
        app = create_app(settings)
        engine = app.state.ctx.engine
    else:  # the supervisor only checks; each worker process builds its own app
        engine = get_engine(settings.database_url, settings)
    shown = engine.url.render_as_string(hide_password=True)
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1 server process.")
    try:
        with connect(engine) as conn:
            current_revision(conn)
            if engine.dialect.name == "postgresql":
                connection_budget(conn, workers=workers, settings=settings)
    except SQLAlchemyError as err:
        raise ConfigError(
            f"The database {shown} does not answer or has no ailab schema ({type(err).__name__}); "
            "run `ailab db upgrade` (and `ailab db seed` for demo data) first."
        ) from None
    warn_if_exposed(host, settings)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "server_header": False,
        # No websocket routes: uvicorn would otherwise import a websocket library (~1.5 MiB RSS).
        "ws": "none",
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    # Each worker process builds its own app from the environment (so the URL goes there).
    engine.dispose()
    log.info("starting %d server processes on %s:%d", workers, host, port)
    os.environ["AILAB_DATABASE_URL"] = settings.database_url
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)
