"""How the toolkit's results display in a notebook (``_repr_html_``): tables, verdicts and charts.

Each function returns one self-contained HTML fragment: inline styles, charts as PNG ``data:``
URIs, no script and no external asset, so a saved notebook shows it anywhere. The classes
(``ReportResult``, ``Comparison``, ``LoadTestSummary``) call these from their ``_repr_html_``.
The table cells are the same as the Markdown and HTML report's (``ailab.perf.report.render``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ailab.display import block, esc, heading, note, png, table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ailab.perf.report.run import ReportResult
    from ailab.perf.tools.compare import Comparison

CHART_GRID = "display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:4px"


def chart_html(fig: Figure, alt: str) -> str:
    """``fig`` as an ``<img>`` with ``alt`` text, its PNG embedded as a ``data:`` URI."""
    from ailab.perf.report.charts import to_png

    return png(to_png(fig), alt)


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def report_html(result: ReportResult) -> str:
    """The target table with one chart per metric, then the claims and every row (folded)."""
    from ailab.perf.report import charts
    from ailab.perf.report.render import COLUMNS, TARGET_HEADER, Sections, _target_cells, row_cells

    meta = result.meta
    sections = Sections(result, result.reports_dir)
    parts = [
        heading(
            f"ailab report: {len(result.measurements)} rows, {meta.get('items', 0):,} items on "
            f"{meta.get('dialect')}" + (f", {meta.get('seconds')} s" if meta.get("seconds") else "")
        ),
        table(TARGET_HEADER, [_target_cells(t) for t in sections.targets], verdict_columns=[5]),
        f'<div style="{CHART_GRID}">'
        + "".join(chart_html(charts.target_chart(t), t.review.metric) for t in sections.targets)
        + "</div>",
        _details(
            f"Claims ledger ({len(sections.claims)} claims)",
            table(
                ["claim", "figure", "verdict", "why"],
                [[c.claim, c.figure, c.verdict, c.why] for c in sections.claims],
                verdict_columns=[2],
            ),
        ),
        _details(
            f"All {len(result.measurements)} measurements",
            table(list(COLUMNS), [row_cells(m) for m in result.measurements], verdict_columns=[8]),
        ),
    ]
    if result.failures:
        parts.append(
            '<div style="color:#c62828;font-weight:600">'
            + "<br>".join(f"failed: {esc(f)}" for f in result.failures)
            + "</div>"
        )
    return block(*parts)


def comparison_html(cmp: Comparison) -> str:
    """Every cell pair (ops/s, ratio, p95, errors) and the side-by-side chart."""
    from ailab.perf.report import charts
    from ailab.perf.report.render import COMPARE_HEADER, _compare_cells, _comparison_caption

    if not cmp.cells:
        return block(note("An empty comparison: no cell was run."))
    return block(
        heading(f"SQLite vs Postgres: {len(cmp.pairs())} cells"),
        note(_comparison_caption(cmp)),
        table(COMPARE_HEADER, _compare_cells(cmp)),
        chart_html(charts.comparison_chart(cmp), "SQLite vs Postgres"),
    )


def _history(summary: dict[str, Any]) -> list[dict[str, float]]:
    from ailab.perf.report.render import Sections

    return Sections.history(summary)


def loadtest_html(summary: dict[str, Any]) -> str:
    """The verdict and its thresholds, the per-endpoint table, and requests/s and p95 over time."""
    from ailab.perf.report import charts
    from ailab.perf.report.render import LOADTEST_HEADER, _loadtest_lines, _loadtest_title, fmt

    head, rows = _loadtest_lines(summary)
    passed = bool(summary.get("passed"))
    checks = [
        [c["name"], fmt(c["value"]) if c.get("value") is not None else "-", c["op"], f"{c['limit']:g}",
         "ok" if c["ok"] else "missed"]
        for c in summary.get("checks", [])
    ]  # fmt: skip
    aggregate = [
        "all endpoints",
        f"{int(summary.get('requests', 0)):,}",
        f"{int(summary.get('failures', 0)):,}",
        fmt(summary.get("rps", math.nan)),
        fmt(summary.get("p50_ms", math.nan)),
        fmt(summary.get("p95_ms", math.nan)),
    ]
    parts = [
        heading(_loadtest_title(summary)),
        f'<div style="font-weight:600;color:{"#0a7d32" if passed else "#c62828"}">'
        f"{'PASSED' if passed else 'FAILED'}: {fmt(summary.get('rps', math.nan))} req/s, p95 "
        f"{fmt(summary.get('p95_ms', math.nan))} ms, {summary.get('failures', 0)} failures</div>",
        table(["threshold", "value", "", "limit", "verdict"], checks, verdict_columns=[4]),
        table(LOADTEST_HEADER, [*rows, aggregate]),
        note(head),
    ]
    history = _history(summary)
    if history:
        title = _loadtest_title(summary)
        parts.append(chart_html(charts.loadtest_chart(history, summary.get("thresholds", {}), title), title))
    run_dir = summary.get("run_dir")
    if run_dir:
        parts.append(note(f"Locust's files: {Path(str(run_dir))}"))
    return block(*parts)
