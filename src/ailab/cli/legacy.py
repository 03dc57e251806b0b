"""``ailab db import-legacy PATH``: move an old JSON-column database into the relational schema."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ailab.cli.db import DatabaseUrlOption, db_app
from ailab.legacy.report import ImportReport

console = Console()
DEFAULT_REPORT = Path("reports") / "legacy-import-report.json"
ANOMALIES_SHOWN_AFTER_IMPORT = 40


def _anomaly_table(report: ImportReport, limit: int | None) -> Table:
    shown = report.anomalies if limit is None else report.anomalies[:limit]
    title = f"Anomalies ({len(report.anomalies)})"
    if len(shown) < len(report.anomalies):
        title += f", first {len(shown)} (all in the report)"
    table = Table(title=title)
    for column in ("row", "field", "kind", "value"):
        table.add_column(column, overflow="fold")
    for a in shown:
        value = a.value if isinstance(a.value, str) else json.dumps(a.value, ensure_ascii=False, default=str)
        table.add_row(f"{a.table} {a.legacy_id}", a.field, a.kind, value[:60])
    return table


def import_legacy_cmd(
    path: Path = typer.Argument(..., help="The old system's SQLite database (it is only read)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be imported; write nothing."),
    database_url: str | None = DatabaseUrlOption,
    report: Path = typer.Option(
        DEFAULT_REPORT, "--report", help="Where to write the full report (FILE.json and FILE.md)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Overwrite rows that an import of a different legacy file wrote."
    ),
) -> None:
    """Import a legacy ai_lab database: all or nothing, idempotent, every anomaly reported.

    Importing a different legacy file whose ids overlap rows already imported is refused unless
    --replace (each such row is listed as an anomaly in the report)."""
    from ailab.cli import on_interrupt
    from ailab.db.engine import get_engine
    from ailab.db.migrate import upgrade
    from ailab.errors import LegacyOverlapError
    from ailab.legacy.importer import import_legacy, refuse_source_as_target

    engine = get_engine(database_url)
    refuse_source_as_target(path, engine)  # before upgrade(), which would write the legacy file
    on_interrupt(
        "interrupted: nothing was imported (the import is one transaction, rolled back); "
        "the target and the legacy file are as they were."
    )
    if not dry_run:
        upgrade(engine)
    try:
        result = import_legacy(path, engine, dry_run=dry_run, replace=replace)
    except LegacyOverlapError as refused:
        if isinstance(refused.report, ImportReport):
            console.print(_anomaly_table(refused.report, ANOMALIES_SHOWN_AFTER_IMPORT))
            json_path, _md = refused.report.write(report)
            console.print(f"full report: {json_path}")
        raise
    if result.anomalies:
        console.print(_anomaly_table(result, None if dry_run else ANOMALIES_SHOWN_AFTER_IMPORT))
    for table in result.summary_tables():
        console.print(table)
    json_path, md_path = result.write(report)
    if dry_run:
        console.print("[bold]dry run:[/] nothing was written; the counts say what an import would do.")
    elif result.changed:
        console.print(f"imported generation {result.generation} database {path} in {result.seconds:.2f} s.")
    else:
        console.print("nothing changed: the target already matches the legacy database.")
    console.print(f"full report: {json_path} and {md_path}")


def register(app: typer.Typer) -> None:
    """Add ``ailab db import-legacy`` to ``db_app``; ``app`` itself is not used."""
    # The command lives under `ailab db`; the app itself is registered by ailab.cli.db.
    db_app.command("import-legacy")(import_legacy_cmd)
