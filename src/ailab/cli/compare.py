"""``ailab compare``: SQLite vs Postgres on the same workloads, side by side."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ailab.cli.steps import steps

if TYPE_CHECKING:
    from ailab.perf.tools.compare import Comparison

console = Console(width=None if Console().is_terminal else 200)


def _fmt_errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0"


def comparison_table(cmp: Comparison) -> Table:
    """``cmp`` as a rich table: a row per workload, clients and variant; SQLite and Postgres side by side."""
    meta = cmp.meta
    table = Table(
        title=f"SQLite vs Postgres: {meta.get('items', 0):,} items, {meta.get('seconds_per_cell')} s per cell in {meta.get('rounds', 1)} interleaved rounds",
        caption=f"Postgres: {meta.get('postgres')}. ratio = Postgres / SQLite throughput (>1: Postgres faster)",
    )
    for col in (
        "workload",
        "clients",
        "variant",
        "SQLite ops/s",
        "PG ops/s",
        "ratio",
        "SQLite p50/p95 ms",
        "PG p50/p95 ms",
        "SQLite errors",
        "PG errors",
    ):
        table.add_column(col, overflow="fold")
    for pair in cmp.pairs():
        s, p = pair.sqlite, pair.postgresql
        ratio = "-" if math.isnan(pair.throughput_ratio) else f"{pair.throughput_ratio:.2f}x"
        table.add_row(
            pair.spec.workload,
            str(pair.spec.clients),
            pair.spec.variant,
            f"{s.throughput:,.0f}",
            f"{p.throughput:,.0f}",
            ratio,
            f"{s.p50_ms:.2f} / {s.p95_ms:.2f}",
            f"{p.p50_ms:.2f} / {p.p95_ms:.2f}",
            _fmt_errors(s.errors),
            _fmt_errors(p.errors),
        )
    return table


def compare_cmd(
    items: int = typer.Option(100_000, "--items", min=10, help="Work items seeded in each scratch database."),
    postgres_url: str | None = typer.Option(
        None,
        "--postgres-url",
        help="Postgres server to compare on (a scratch schema is created and dropped). "
        "Default: an embedded pgserver in a temporary directory.",
    ),
    clients: int = typer.Option(
        16, "--clients", min=1, help="Concurrent clients (threads) for the N-client cells."
    ),
    seconds: float = typer.Option(3.0, "--seconds", min=0.1, help="Run time of each cell on each engine."),
    variants: bool = typer.Option(
        True, "--variants/--no-variants", help="Also run pool 20+30, async sessions and engine-per-call."
    ),
    rounds: int = typer.Option(
        3, "--rounds", min=1, help="Interleaved rounds each cell's time is split into."
    ),
    out: Path = typer.Option(Path("reports"), "--out", help="Folder for compare.json."),
) -> None:
    """Run read-only, read-mostly and write-heavy workloads on SQLite and Postgres (never your data)."""
    from ailab.extras import require_lab

    require_lab("ailab compare")
    from ailab.perf.tools.compare import COMPARE_FILE, run_comparison

    with steps(console, "comparing...") as say:
        cmp = run_comparison(
            items=items,
            postgres_url=postgres_url,
            clients=clients,
            seconds=seconds,
            variants=variants,
            rounds=rounds,
            on_progress=say,
        )
    console.print(comparison_table(cmp))
    path = cmp.save(out / COMPARE_FILE)
    console.print(f"json: {path.resolve()}")


def register(app: typer.Typer) -> None:
    """Add ``ailab compare`` to ``app``."""
    app.command("compare")(compare_cmd)
