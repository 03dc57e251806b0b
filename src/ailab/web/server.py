"""Running the dashboard: ``python -m ailab.web`` (and ``ailab serve``, which becomes it).

The server process imports only what serving needs. Alembic alone would add ~17 MiB of RSS
(measured), so the schema's version is checked by ``ailab serve`` before it replaces itself
with ``python -m ailab.web`` (``os.execv``: same pid, a fresh interpreter); the server itself
only checks that the schema answers.
"""

from __future__ import annotations

import ipaddress
import logging

from ailab.settings import Settings, get_settings

log = logging.getLogger("ailab.web")


def is_loopback(host: str) -> bool:
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
) -> None:
    """Serve the dashboard with uvicorn until interrupted (one process; no reloader)."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from ailab.db import connect
    from ailab.errors import ConfigError
    from ailab.queries import current_revision
    from ailab.web.app import create_app

    settings = settings or get_settings()
    if database_url:
        settings = settings.with_(database_url=database_url)
    app = create_app(settings)
    engine = app.state.ctx.engine
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with connect(engine) as conn:
            current_revision(conn)
    except SQLAlchemyError as err:
        raise ConfigError(
            f"The database {shown} does not answer or has no ailab schema ({type(err).__name__}); "
            "run `ailab db upgrade` (and `ailab db seed` for demo data) first."
        ) from None
    warn_if_exposed(host, settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log, server_header=False)
