"""``ailab serve``: the dashboard and its JSON API (see ``ailab.web``)."""

from __future__ import annotations

import os
import sys

import typer


def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; loopback unless you mean it."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database URL (default: AILAB_DATABASE_URL)."
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (costs throughput)."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Server processes on one socket (one per core); each has its own pool."
    ),
) -> None:
    """Serve the dashboard at http://HOST:PORT/ (OpenAPI at /openapi.json, metrics at /metrics).

    Writes (POST/PATCH) need AILAB_API_TOKEN set and 'Authorization: Bearer <token>'.
    """
    from ailab.db.engine import get_engine
    from ailab.db.migrate import require_head
    from ailab.settings import get_settings

    settings = get_settings()
    if database_url:
        settings = settings.with_(database_url=database_url)
    engine = get_engine(settings.database_url, settings)
    require_head(engine)  # says whether `ailab db upgrade` helps (not for a newer version's schema)
    engine.dispose()
    # Become the lean server process (the CLI's and Alembic's imports would stay resident).
    # The URL goes through the environment, not argv, so a password never shows in `ps`.
    env = {**os.environ, "AILAB_DATABASE_URL": settings.database_url}
    # -P: the working directory is not put on sys.path, so a stray concurrent.py there cannot
    # shadow the standard library (Python >= 3.11).
    args = [
        sys.executable,
        "-P",
        "-m",
        "ailab.web",
        "--host",
        host,
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]
    if access_log:
        args.append("--access-log")
    if workers > 1:
        args += ["--workers", str(workers)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, args, env)


def register(app: typer.Typer) -> None:
    """Add ``ailab serve`` to ``app``."""
    app.command("serve")(serve_cmd)
