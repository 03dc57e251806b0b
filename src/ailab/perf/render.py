"""Render a report as a rich table, Markdown and self-contained HTML (no external assets)."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

from rich.table import Table

from ailab.perf.registry import Measurement
from ailab.perf.targets import REVIEW_TABLE

if TYPE_CHECKING:
    from ailab.perf.report import ReportResult

COLUMNS = ("group", "metric", "p50", "p95", "baseline p50", "ratio", "target", "goal", "verdict", "note")


def fmt(value: float, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


def row_cells(m: Measurement) -> list[str]:
    ratio = "-" if math.isnan(m.ratio) else f"{m.ratio:,.1f}x"
    baseline = fmt(m.baseline, m.unit) + (f" ({m.baseline_label})" if m.baseline_label else "")
    return [
        m.group, m.name, fmt(m.p50, m.unit), fmt(m.p95, m.unit), baseline if not math.isnan(m.baseline) else "-",
        ratio, m.target.describe() if m.target else "-", m.goal.describe() if m.goal else "-", m.verdict(), m.note,
    ]  # fmt: skip


def rich_table(result: ReportResult) -> Table:
    meta = result.meta
    table = Table(
        title=f"ailab report: {meta.get('items', 0):,} items on {meta.get('dialect')}",
        caption="p50/p95 measured in one run; ratio = how many times better than the old approach",
    )
    for col in COLUMNS:
        table.add_column(col, overflow="fold", max_width=48 if col == "note" else None)
    for m in result.measurements:
        cells = row_cells(m)
        verdict = cells[8]
        cells[8] = {"met": "[green]met[/]", "missed": "[red]missed[/]"}.get(verdict, verdict)
        table.add_row(*cells)
    return table


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: ReportResult) -> str:
    meta = result.meta
    lines = [
        f"# ailab report: {meta.get('items', 0):,} items on {meta.get('dialect')}",
        "",
        f"Generated {meta.get('generated_at')} on {meta.get('machine')}, Python {meta.get('python')}, "
        f"in {meta.get('seconds')} s. Figures are p50/p95 from one run; ratios compare with the old "
        "approach measured in the same run.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row_cells(m)) + " |" for m in result.measurements]
    lines += [
        "",
        "## The review's target table",
        "",
        "| metric | claimed current | target |",
        "|---|---|---|",
    ]
    lines += [f"| {t.metric} | {t.claimed_current} | {t.target} |" for t in REVIEW_TABLE]
    if result.failures:
        lines += ["", "## Failed benchmarks", ""] + [f"- {_md_escape(f)}" for f in result.failures]
    return "\n".join(lines) + "\n"


def render_html(result: ReportResult) -> str:
    meta = result.meta
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        f'<tr class="{html.escape(m.verdict())}">'
        + "".join(f"<td>{html.escape(c)}</td>" for c in row_cells(m))
        + "</tr>"
        for m in result.measurements
    )
    failures = "".join(f"<li>{html.escape(f)}</li>" for f in result.failures)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>ailab report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #d9e2ec;padding:.3rem .5rem;font-size:.85rem;text-align:left}}th{{background:#f0f4f8}}
tr.met td:nth-child(9){{color:#0a7d32;font-weight:600}}tr.missed td:nth-child(9){{color:#c62828;font-weight:600}}</style>
</head><body><h1>ailab report: {meta.get("items", 0):,} items on {html.escape(str(meta.get("dialect")))}</h1>
<p>Generated {html.escape(str(meta.get("generated_at")))}, {meta.get("seconds")} s.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
{"<h2>Failed benchmarks</h2><ul>" + failures + "</ul>" if failures else ""}
</body></html>"""
