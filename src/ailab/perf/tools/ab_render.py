"""The A/B result as a terminal table (rich) and as self-contained HTML (page or notebook repr)."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Literal

from rich.table import Table

from ailab.perf.report.render import fmt
from ailab.perf.tools.ab_stats import MetricAB

if TYPE_CHECKING:
    from ailab.perf.tools.ab import ABResult

HEADER = [
    "metric",
    "base median",
    "head median",
    "head/base",
    "95% interval",
    "min/max",
    "verdict",
    "resolves ≥",
]
PAGE_STYLE = "body{font-family:system-ui,sans-serif;margin:1.2rem;color:#1f2933}"
STYLE = """table.ab{border-collapse:collapse;font-size:.82rem;margin:.4rem 0}
table.ab th,table.ab td{border:1px solid #cbd2d9;padding:.2rem .45rem;text-align:left;vertical-align:top}
table.ab th{background:#f0f4f8}.slower{color:#c62828;font-weight:600}.faster{color:#2e7d32;font-weight:600}
.within-noise{color:#52606d}.only-in-base,.only-in-head{color:#b7791f}p.note{color:#52606d;font-size:.85rem}
.ab-charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:.4rem}img{max-width:100%}"""


def cells(m: MetricAB) -> list[str]:
    """One metric's table cells in ``HEADER`` order ("-" where a figure is not finite)."""
    ratio = f"{m.ratio:.3f}x ({m.change:+.1%})" if math.isfinite(m.ratio) else "-"
    interval = f"{m.ci_low:.3f} - {m.ci_high:.3f}" if math.isfinite(m.ci_low) else "-"
    resolves = f"{m.resolution:.0%}" if math.isfinite(m.resolution) else "-"
    return [
        m.key, fmt(m.base_median, m.unit), fmt(m.head_median, m.unit), ratio, interval,
        m.separated or "overlap", m.verdict, resolves,
    ]  # fmt: skip


def rich_table(result: ABResult) -> Table:
    """The result as a rich table for the terminal, verdicts coloured."""
    table = Table(
        title=f"A/B: head {result.head.describe()} vs base {result.base.describe()}", title_justify="left"
    )
    for column in HEADER:
        table.add_column(column, overflow="fold")
    styles = {"slower": "bold red", "faster": "bold green", "within noise": "dim"}
    for m in result.metrics:
        row = cells(m)
        row[6] = f"[{styles.get(m.verdict, 'yellow')}]{m.verdict}[/]"
        table.add_row(*row)
    return table


def _what(groups: list[str]) -> str:
    if groups == ["smoke"]:
        return "the smoke suite (this checkout's bench_smoke against each side's code)"
    return f"`ailab report --only {','.join(groups)}`"


def notes(result: ABResult) -> list[str]:
    """The lines under the table: what ran, the resolution, and what the verdicts mean."""
    o = result.options
    lines = [
        f"{result.rounds} rounds (A B A B ...) of {_what(list(o.get('groups', [])))}"
        f" at {o.get('items', 0):,} items{' (quick)' if o.get('quick') else ''} per side, in {result.seconds:.0f} s.",
        f"slower/faster: the bootstrap 95% interval of the ratio lies wholly outside 1 ± {result.margin:.0%},"
        " or every head run is beyond every base run by the margin (min/max rule); else within noise.",
    ]
    planned = int(o.get("planned_rounds", result.rounds))
    if result.rounds > planned:
        lines.append(
            f"extended from {planned} to {result.rounds} rounds: a metric looked slower than the margin"
            " but was not clear of the noise."
        )
    res = result.resolution
    if res:
        lines.append(res.describe(result.rounds))
    lines += [
        f"inconclusive: {m.key} looked {m.ratio - 1:+.0%} but the noise hides whether it is"
        f" (interval {m.ci_low:.2f} - {m.ci_high:.2f}, after {result.rounds} rounds)."
        for m in result.suspects
    ]
    lines += [f"failed: {f}" for f in result.failures]
    return lines


def _h(text: object) -> str:
    return html.escape(str(text))


def _table_html(result: ABResult) -> str:
    head = "".join(f"<th>{_h(c)}</th>" for c in HEADER)
    rows = []
    for m in result.metrics:
        c = cells(m)
        tds = "".join(
            f'<td class="{_h(m.verdict.replace(" ", "-"))}">{_h(v)}</td>' if i == 6 else f"<td>{_h(v)}</td>"
            for i, v in enumerate(c)
        )
        rows.append(f'<tr title="{_h(m.why)}">{tds}</tr>')
    return f'<table class="ab"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def result_html(
    result: ABResult, charts: Literal["none", "summary", "all"] = "summary", page: bool = False
) -> str:
    """The result as HTML with charts embedded as data URIs: a notebook repr or a whole page."""
    from ailab.perf.report.charts import png_data_uri
    from ailab.perf.tools.ab_charts import ab_metric_chart, ab_summary_chart

    verdict = (
        f'<span class="slower">{len(result.regressions)} slower: exit 1</span>'
        if result.regressions
        else '<span class="faster">no regression</span>'
    )
    parts = [
        f"<h3>A/B: head {_h(result.head.describe())} vs base {_h(result.base.describe())}: {verdict}</h3>",
        _table_html(result),
        *(f'<p class="note">{_h(line)}</p>' for line in notes(result)),
    ]
    if charts != "none" and result.metrics:
        fig = ab_summary_chart(result.metrics, result.margin)
        parts.append(f'<img alt="ratios and intervals" src="{png_data_uri(fig)}">')
    if charts == "all":
        imgs = "".join(
            f'<img alt="{_h(m.key)}" src="{png_data_uri(ab_metric_chart(m, result.base.ref, result.head.ref))}">'
            for m in result.metrics
        )
        parts.append(f'<h3>Each metric: both commits\' runs</h3><div class="ab-charts">{imgs}</div>')
    body = "\n".join(parts)
    if not page:
        return f"<div><style>{STYLE}</style>{body}</div>"
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>ailab ab</title><style>{PAGE_STYLE}{STYLE}</style>'
        f"</head><body>\n{body}\n</body></html>\n"
    )
