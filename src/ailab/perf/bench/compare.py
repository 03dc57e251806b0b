"""Report rows: SQLite vs Postgres on the same workloads (a modest run, or a fresh ``ailab compare``).

The report must stay within 5 minutes at 100k items, so it does not repeat the full comparison:
it reuses ``reports/compare.json`` when ``ailab compare`` wrote one recently (``AILAB_COMPARE_MAX_AGE_HOURS``,
default 24; 0 = never reuse), labelled as such, and otherwise runs a short one at a modest size.
"""

from __future__ import annotations

from ailab.perf.harness.registry import BenchContext, Measurement, benchmark
from ailab.perf.tools.compare import comparison_rows, fresh_comparison, run_comparison
from ailab.settings import parse_database_url

REPORT_ITEMS = 20_000
REPORT_CLIENTS = 8
REPORT_SECONDS = 1.0


@benchmark("compare", order=900)
def bench_compare(ctx: BenchContext) -> list[Measurement]:
    """SQLite vs Postgres rows: a recent ``ailab compare`` result when there is one (never in quick
    mode), else a short comparison at a modest size."""
    max_age = ctx.settings.compare_max_age_hours
    if not ctx.quick:
        latest = fresh_comparison(ctx.reports_dir, max_age)
        if latest is not None:
            source = f"reused from `ailab compare` ({ctx.reports_dir / 'compare.json'})"
            latest.meta["source"] = source
            return comparison_rows(latest, source=source)
    given = parse_database_url(ctx.database_url).get_backend_name() == "postgresql"
    cmp = run_comparison(
        items=min(ctx.items, 1_000 if ctx.quick else REPORT_ITEMS),
        postgres_url=ctx.database_url if given else None,
        clients=2 if ctx.quick else REPORT_CLIENTS,
        seconds=0.3 if ctx.quick else REPORT_SECONDS,
        settings=ctx.settings,
    )
    cmp.meta["source"] = "run by this report at a modest size (run `ailab compare` for the full one)"
    return comparison_rows(cmp, source="")
