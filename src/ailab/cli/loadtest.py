"""``ailab loadtest``: Locust against a seeded dashboard server, with thresholds that set the exit code."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ailab.cli.steps import steps

console = Console(width=None if Console().is_terminal else 200)


def loadtest_cmd(
    users: int = typer.Option(100, "--users", min=1, help="Simulated dashboard users."),
    spawn_rate: float = typer.Option(50.0, "--spawn-rate", min=0.1, help="Users started per second."),
    duration: str = typer.Option("60s", "--duration", help="Run time: 60, 60s, 2m, 1m30s."),
    db: str = typer.Option("sqlite", "--db", help="sqlite or postgres (scratch database, seeded)."),
    items: int = typer.Option(100_000, "--items", min=10, help="Work items seeded before the run."),
    postgres_url: str | None = typer.Option(
        None, "--postgres-url", help="With --db postgres: this server (scratch schema); default embedded."
    ),
    workers: int = typer.Option(0, "--workers", min=0, help="Distributed: a Locust master and N workers."),
    user_rps: float = typer.Option(10.0, "--user-rps", min=0.0, help="Requests/s per user (0: no pause)."),
    max_p95_ms: float = typer.Option(50.0, "--max-p95-ms", help="Threshold: aggregated p95 (ms)."),
    max_fail_ratio: float = typer.Option(0.0, "--max-fail-ratio", help="Threshold: failures / requests."),
    min_rps: float | None = typer.Option(
        None,
        "--min-rps",
        help="Threshold: aggregated requests/s. Default: min(800, 95% of users x --user-rps), what was offered.",
    ),
    max_write_read_p95_ratio: float = typer.Option(
        3.0, "--max-write-read-p95-ratio", help="Threshold: write p95 / read p95."
    ),
    server_workers: int = typer.Option(
        1, "--server-workers", min=1, help="Server processes (uvicorn workers) on the one database."
    ),
    host: str | None = typer.Option(None, "--host", help="Load an already running server instead."),
    app: str = typer.Option(
        "ailab.web.app:create_app_from_env", "--app", help="uvicorn app factory module:callable."
    ),
    app_dir: Path | None = typer.Option(None, "--app-dir", help="Folder uvicorn imports --app from."),
    pin: bool = typer.Option(False, "--pin/--no-pin", help="Server on CPU 0, Locust on CPU 1."),
    writes: bool = typer.Option(
        True, "--writes/--no-writes", help="Let users PATCH/POST with the API token."
    ),
    out: Path = typer.Option(Path("reports"), "--out", help="Folder for results (loadtest/<run>/)."),
) -> None:
    """Seed a scratch database, serve it on a free port, run Locust headless and check the thresholds."""
    from ailab.errors import ConfigError
    from ailab.extras import require_lab

    require_lab("ailab loadtest")
    from ailab.perf.tools.loadtest import LoadTestConfig, Thresholds, parse_duration, run_loadtest

    if db not in ("sqlite", "postgres"):
        raise ConfigError(f"--db {db!r} is not supported; use sqlite or postgres.")
    cfg = LoadTestConfig(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=parse_duration(duration),
        db=db,  # type: ignore[arg-type]
        items=items,
        postgres_url=postgres_url,
        workers=workers,
        user_rps=user_rps,
        thresholds=Thresholds(max_p95_ms, max_fail_ratio, min_rps, max_write_read_p95_ratio),
        server_workers=server_workers,
        reports_dir=out,
        app=app,
        app_dir=app_dir,
        host=host,
        pin=pin,
        writes=writes,
    )
    with steps(console, "load testing...") as say:
        result = run_loadtest(cfg, on_progress=say)
    s = result.summary
    table = Table(
        title=f"Load test: {users} users, {cfg.duration_s:g} s, {s['db']}"
        + (f", {server_workers} server processes" if server_workers > 1 else "")
        + (f", {s['items']:,} items" if s.get("items") else "")
    )
    for col in ("endpoint", "requests", "failures", "req/s", "p50 ms", "p95 ms"):
        table.add_column(col)
    rows = [*s["endpoints"].items(), ("Aggregated", s)]
    for name, e in rows:
        table.add_row(
            name,
            f"{e['requests']:,}",
            f"{e['failures']:,}",
            f"{e['rps']:,.1f}",
            f"{e['p50_ms']:g}",
            f"{e['p95_ms']:g}",
        )
    console.print(table)
    if s.get("read_p95_ms") is not None or s.get("write_p95_ms") is not None:
        console.print(
            f"p95 by class: reads {s.get('read_p95_ms') or 0:g} ms, writes {s.get('write_p95_ms') or 0:g} ms"
        )
    for c in s["checks"]:
        mark = "[green]ok[/]" if c["ok"] else "[red]MISSED[/]"
        why = ""
        if c["name"] == "rps":
            offered = (
                f"{c['offered']:,.0f} req/s offered ({users} users x {user_rps:g})"
                if c.get("offered")
                else "no pacing"
            )
            why = (
                " (given)" if c.get("explicit") else f" (threshold {c['configured']:g}; {offered}, 95% of it)"
            )
        console.print(f"threshold {c['name']}: {c['value']:.4g} {c['op']} {c['limit']:g}{why} {mark}")
    for failure in s.get("failure_reasons", [])[:5]:
        console.print(f"[red]failure[/] {failure['request']}: {failure['error']} (x{failure['occurrences']})")
    if s.get("server"):
        server = s["server"]
        console.print(
            f"server RSS after the run: {server.get('rss_mib', 0):.1f} MiB"
            + (
                f" (largest of {server['processes']:g} processes; {server['rss_mib_total']:.1f} MiB in all)"
                if server.get("processes", 1) > 1
                else ""
            )
        )
    from ailab.perf.tools.cpu_split import describe

    for line in describe(s.get("cpu") or {}):
        console.print(line, highlight=False)
    load = s.get("load_average", {})
    if load:
        console.print(
            f"machine load average: {load.get('before', 0):.2f} before, {load.get('after', 0):.2f} after"
        )
    console.print(f"results: {result.run_dir}")
    if result.exit_code != 0:
        raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``ailab loadtest`` to ``app``."""
    app.command("loadtest")(loadtest_cmd)
