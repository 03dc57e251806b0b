"""Report row: how fast a legacy database imports (``ailab db import-legacy``).

A synthetic generation 2 legacy database of 100,000 work items (``ctx.items`` in quick mode),
with the usual messes, is imported into a fresh scratch database on the report's backend. The
figure is source rows per second over the whole import (read, map, write, commit); the issue's
goal is 100,000 items in at most 30 s. A second, unchanged run is timed too (it must write
nothing).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.legacy.importer import import_legacy
from ailab.perf.harness.registry import BenchContext, Measurement, Target, benchmark
from ailab.testing.legacy_synth import generate
from ailab.testing.scratch import scratch_database

FULL_SIZE = 100_000
GOAL_SECONDS = 30.0


@benchmark("legacy", order=80)
def bench_legacy_import(ctx: BenchContext) -> list[Measurement]:
    """Legacy import rate in source rows/s on a synthetic generation 2 database, plus an unchanged
    re-run that must write nothing."""
    items = ctx.items if ctx.quick else FULL_SIZE
    with tempfile.TemporaryDirectory(prefix="ailab-legacy-bench-") as tmp:
        source = Path(tmp) / "legacy.db"
        synth = generate(source, items=items, generation=2, seed=42, messes=True)
        with scratch_database(ctx.database_url, "legacy_bench") as url:
            engine = get_engine(url)
            upgrade(engine)
            first = import_legacy(source, engine)
            again = import_legacy(source, engine)
    source_rows = sum(first.source_rows.values())
    written = sum(c.inserted for c in first.target.values())
    rate = source_rows / first.seconds
    goal = None
    if items >= FULL_SIZE:
        # 100,000 items in <= 30 s, expressed as the rate this database needs.
        goal = Target(round(source_rows / GOAL_SECONDS), "rows/s", ">=", source="issue")
    return [
        Measurement(
            group="legacy",
            name=f"legacy import, {items:,}-item synthetic database (generation 2, with messes)",
            unit="rows/s",
            p50=rate,
            goal=goal,
            higher_is_better=True,
            note=(
                f"{first.seconds:.1f} s for {source_rows:,} source rows ({written:,} target rows, "
                f"{len(first.anomalies):,} anomalies reported); unchanged re-run {again.seconds:.1f} s, "
                f"{'wrote nothing' if not again.changed else 'WROTE CHANGES'}"
            ),
            extra={
                "dialect": engine.dialect.name,
                "items": items,
                "seconds": round(first.seconds, 3),
                "rerun_seconds": round(again.seconds, 3),
                "rerun_changed": again.changed,
                "source_rows": source_rows,
                "target_rows": written,
                "anomalies": len(first.anomalies),
                "generate_seconds": round(synth.seconds, 3),
                "timings": {k: round(v, 3) for k, v in first.timings.items()},
            },
        )
    ]
