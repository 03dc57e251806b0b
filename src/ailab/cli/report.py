"""``ailab report``: the main job. Measures the tracker against the review's target table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ailab.cli.steps import steps

# Wide enough for the table when output is piped (CI logs, make report | tee).
console = Console(width=None if Console().is_terminal else 200)


def report_cmd(
    items: int = typer.Option(100_000, "--items", min=10, help="Work items in the scratch database."),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="Measure on this server instead of SQLite (Postgres: a scratch schema is created and dropped).",
    ),
    html: bool = typer.Option(False, "--html", help="Also write a self-contained HTML report."),
    out: Path = typer.Option(Path("reports"), "--out", help="Folder for report.json/.md/.html."),
    quick: bool = typer.Option(False, "--quick", help="Small samples (for CI and notebooks)."),
    only: list[str] = typer.Option([], "--only", help="Only these groups (database, sync, dashboard, ...)."),
) -> None:
    """Seed a scratch database and measure every row of the target table (never touches your data)."""
    from ailab.extras import require_lab

    require_lab("ailab report")
    from ailab.cli import on_interrupt

    on_interrupt(
        f"interrupted: no new report was written ({out}/ keeps the previous one); the scratch "
        "database and the temporary files were removed. Your own databases were not touched."
    )
    from ailab.perf.report.render import Sections, claims_table, rich_table
    from ailab.perf.report.run import run_report, write_outputs
    from ailab.perf.tools.history import save_run

    with steps(console, "measuring...") as say:
        result = run_report(
            items=items,
            database_url=database_url,
            reports_dir=out,
            quick=quick,
            groups=set(only) or None,
            on_progress=say,
        )
    console.print(rich_table(result))
    paths = write_outputs(result, out, html=html)
    paths["history"] = save_run(result.to_json(), out, groups=only)
    console.print(claims_table(Sections(result, out).claims))
    for kind, path in paths.items():
        console.print(f"{kind}: {path.resolve()}")
    if result.failures:
        for failure in result.failures:
            console.print(f"[red]failed:[/] {failure}")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``ailab report`` to ``app``."""
    app.command("report")(report_cmd)
