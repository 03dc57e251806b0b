"""``ailab history``: the saved ``ailab report`` runs of this machine, and one metric over commits."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console(width=None if Console().is_terminal else 200)


def history_cmd(
    metric: str | None = typer.Option(
        None, "--metric", "-m", help="Show this metric over the runs (part of its name)."
    ),
    metrics: bool = typer.Option(False, "--metrics", help="List the metrics the history holds."),
    out: Path = typer.Option(
        Path("reports"), "--out", help="The reports folder (history is under history/)."
    ),
    machine: str | None = typer.Option(
        None, "--machine", help="A machine id (default: this machine); '*' for all."
    ),
    items: int | None = typer.Option(None, "--items", help="Only runs at this size."),
) -> None:
    """List the saved runs (oldest first), or one metric over them. Reads only; never writes."""
    from ailab.extras import require_lab

    require_lab("ailab history")
    from ailab.perf.report.render import fmt
    from ailab.perf.tools.history import (
        current_machine,
        find_metric,
        load_runs,
        machines,
        metric_keys,
        series,
    )

    runs = load_runs(out, machine)
    if items is not None:
        runs = [r for r in runs if r.options.get("items") == items]
    if not runs:
        known = machines(out)
        where = f"machine {machine or current_machine()}" if machine != "*" else "any machine"
        hint = f" Machines with runs: {', '.join(known)} (use --machine)." if known else ""
        console.print(f"No saved runs for {where} under {out / 'history'}; `make report` saves one.{hint}")
        return
    if metrics:
        for key in metric_keys(runs):
            console.print(key, highlight=False)
        return
    if metric is None:
        table = Table(title=f"{len(runs)} runs under {out / 'history'}", title_justify="left")
        for column in (
            "time",
            "commit",
            "dirty",
            "items",
            "dialect",
            "groups",
            "metrics",
            "failures",
            "machine",
        ):
            table.add_column(column)
        for r in runs:
            o = r.options
            groups = o.get("groups")
            table.add_row(
                r.time[:19], r.commit[:10], "yes" if r.dirty else "", f"{o.get('items') or 0:,}", str(o.get("dialect")),
                ",".join(groups) if isinstance(groups, list) else str(groups), str(len(r.metrics)),
                str(len(r.failures) or ""), r.machine,
            )  # fmt: skip
        console.print(table)
        return
    key = find_metric(runs, metric)
    points = series(runs, key)
    table = Table(title=key, title_justify="left")
    for column in ("time", "commit", "items", "p50", "p95", "vs previous"):
        table.add_column(column)
    previous = math.nan
    for p in points:
        change = f"{p.p50 / previous - 1:+.1%}" if math.isfinite(previous) and previous else ""
        table.add_row(
            p.run.time[:19],
            p.run.label,
            f"{p.run.options.get('items') or 0:,}",
            fmt(p.p50, p.unit),
            fmt(p.p95, p.unit),
            change,
        )
        previous = p.p50
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``ailab history`` to ``app``."""
    app.command("history")(history_cmd)
