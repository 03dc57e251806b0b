"""``ailab report``: run every registered benchmark on a scratch database and render the rows.

The scratch database is never the user's: a new SQLite file in a temporary directory by default,
or, with ``--database-url`` pointing at Postgres, a new schema that is dropped afterwards.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.perf.harness.registry import BenchContext, Measurement, Target, nan_to_none, registered
from ailab.settings import Settings
from ailab.testing.scratch import scratch_database

log = logging.getLogger(__name__)

SEED_GOAL = Target(10.0, "s", "<=", source="issue")


@dataclass
class ReportResult:
    """A report run: its rows, the benchmarks that failed (``name: error``), the run's metadata, and
    where the latest load test is looked up."""

    measurements: list[Measurement]
    failures: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    reports_dir: Path | None = None  # where the latest load test is looked up (None: nowhere)

    def to_json(self) -> dict[str, Any]:
        """Meta, rows (NaN as None) and failures, as written to ``report.json``."""
        return {
            "meta": self.meta,
            "rows": [nan_to_none(m.to_dict()) for m in self.measurements],
            "failures": self.failures,
        }

    def _repr_html_(self) -> str:
        """In a notebook: the target table with a chart per metric, the claims and every row."""
        from ailab.perf.report.reprs import report_html

        return report_html(self)

    def __repr__(self) -> str:
        meta = self.meta
        return (
            f"<ReportResult: {len(self.measurements)} rows, {meta.get('items', 0):,} items on "
            f"{meta.get('dialect')}, {len(self.failures)} failures>"
        )


def result_from_json(data: dict[str, Any], reports_dir: Path | None = None) -> ReportResult:
    """A ``ReportResult`` read back from ``report.json`` (for notebooks and re-rendering)."""
    fields = set(Measurement.__dataclass_fields__)
    rows = []
    for raw in data.get("rows", []):
        values: dict[str, Any] = {k: v for k, v in raw.items() if k in fields}
        for key in ("target", "goal"):
            values[key] = Target(**values[key]) if isinstance(values.get(key), dict) else None
        for key in ("p50", "p95", "baseline"):  # NaN was written as null
            if values.get(key) is None:
                values[key] = math.nan
        rows.append(Measurement(**values))
    return ReportResult(rows, list(data.get("failures", [])), dict(data.get("meta", {})), reports_dir)


def run_report(
    *,
    items: int = 100_000,
    database_url: str | None = None,
    reports_dir: Path = Path("reports"),
    quick: bool = False,
    groups: set[str] | None = None,
    settings: Settings | None = None,
    on_progress: Any = None,
) -> ReportResult:
    """Seed a scratch database with ``items`` items (the seeding is the first row), then run the
    benchmarks of ``groups`` (the default ones when None) on it. A benchmark that raises becomes a
    line of ``failures``; the others still run."""
    settings = settings or Settings.from_env()
    chosen = registered(groups)  # an unknown group fails here, before any work
    reports_dir.mkdir(parents=True, exist_ok=True)
    measurements: list[Measurement] = []
    failures: list[str] = []
    started = time.perf_counter()
    # Scratch files (the old-JSON baseline copies, 10-50 MB) live here and go with it, whether the
    # run succeeds, fails or is interrupted.
    with (
        tempfile.TemporaryDirectory(prefix="ailab-report-") as scratch_dir,
        scratch_database(database_url, "report") as url,
    ):
        engine = get_engine(url)
        upgrade(engine)
        if on_progress:
            on_progress(f"seeding {items:,} items on {engine.dialect.name}")
        seeded = seed_database(engine, items=items, seed=42)
        measurements.append(
            Measurement(
                group="database",
                name=f"seed {items:,} items (+tags, deps, criteria)",
                unit="s",
                p50=seeded.seconds,
                goal=SEED_GOAL if items >= 100_000 else None,
                note=f"{seeded.items_per_second:,.0f} items/s, {seeded.rows / seeded.seconds:,.0f} rows/s",
                extra={"rows": seeded.rows, "dialect": seeded.dialect},
            )
        )
        ctx = BenchContext(
            settings=settings,
            database_url=url,
            items=items,
            reports_dir=reports_dir,
            quick=quick,
            scratch_dir=Path(scratch_dir),
        )
        for bench in chosen:
            if on_progress:
                on_progress(f"running {bench.name}")
            try:
                measurements.extend(bench.fn(ctx))
            except Exception as err:  # reported as a failed row and in the exit code, never hidden
                log.error("benchmark %s failed:\n%s", bench.name, traceback.format_exc())
                failures.append(f"{bench.name}: {type(err).__name__}: {err}")
        dialect = engine.dialect.name
        server_version = ".".join(str(v) for v in engine.dialect.server_version_info or ())
    meta = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "items": items,
        "dialect": dialect,
        "server_version": server_version,
        "quick": quick,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "seconds": round(time.perf_counter() - started, 1),
    }
    return ReportResult(measurements, failures, meta, reports_dir)


def write_outputs(result: ReportResult, reports_dir: Path, html: bool = False) -> dict[str, Path]:
    """Write JSON and Markdown (and HTML) under ``reports_dir``; return the paths."""
    from ailab.perf.report.render import Sections, render_html, render_markdown

    reports_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": reports_dir / "report.json", "markdown": reports_dir / "report.md"}
    data = result.to_json()
    sections = Sections(result, reports_dir)  # target table, ledger, latest load test
    data["target_table"] = [t.to_dict() for t in sections.targets]
    data["claims"] = [c.to_dict() for c in sections.claims]
    paths["json"].write_text(json.dumps(nan_to_none(data), indent=2))
    paths["markdown"].write_text(render_markdown(result, reports_dir))
    if html:
        paths["html"] = reports_dir / "report.html"
        paths["html"].write_text(render_html(result, reports_dir))
    return paths
