"""Render a report as a rich table, Markdown and one self-contained HTML file.

The HTML has every row of the review's target table (old baseline, now, target) with one chart per
metric, all measurements, the SQLite vs Postgres comparison, the latest load test and the claims
ledger. Charts are embedded PNG ``data:`` URIs and styles are inline: no external assets.
"""

from __future__ import annotations

import csv
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ailab.perf.harness.registry import Measurement

if TYPE_CHECKING:
    from ailab.perf.report.claims import Claim
    from ailab.perf.report.run import ReportResult
    from ailab.perf.report.scorecard import TargetRow
    from ailab.perf.tools.compare import Comparison

COLUMNS = ("group", "metric", "p50", "p95", "baseline p50", "ratio", "target", "goal", "verdict", "note")


def fmt(value: float, unit: str = "") -> str:
    """``value`` and ``unit``, with fewer decimals the larger it is (thousands separators from 1,000);
    ``-`` for None or NaN."""
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
    """One measurement as the cells of ``COLUMNS`` (every table of the report)."""
    ratio = "-" if math.isnan(m.ratio) else f"{m.ratio:,.1f}x"
    baseline = fmt(m.baseline, m.unit) + (f" ({m.baseline_label})" if m.baseline_label else "")
    return [
        m.group,
        m.name,
        fmt(m.p50, m.unit),
        fmt(m.p95, m.unit),
        baseline if not math.isnan(m.baseline) else "-",
        ratio,
        m.target.describe() if m.target else "-",
        m.goal.describe() if m.goal else "-",
        m.verdict(),
        m.note,
    ]


def rich_table(result: ReportResult) -> Table:
    """Every measurement in a ``rich`` table for the terminal, verdicts coloured."""
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


def claims_table(claims: list[Claim]) -> Table:
    """The claims ledger as a ``rich`` table, verdicts coloured."""
    table = Table(title="Claims ledger: every claim of the review, measured")
    for col in ("claim", "figure", "verdict", "why"):
        table.add_column(col, overflow="fold", max_width=60 if col != "verdict" else 14)
    colors = {"holds": "green", "does not hold": "red", "partly": "yellow"}
    for c in claims:
        color = colors.get(c.verdict, "dim")
        table.add_row(c.claim, c.figure, f"[{color}]{c.verdict}[/]", c.why)
    return table


# --- what the report shows beside its rows -----------------------------------------------------


def _same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("db", "generated_at", "run_dir")
    return all(a.get(k) == b.get(k) for k in keys)


class Sections:
    """Everything derived from a report's rows plus the latest load test under ``reports_dir``."""

    def __init__(self, result: ReportResult, reports_dir: Path | None) -> None:
        from ailab.perf.report.claims import build_ledger
        from ailab.perf.report.scorecard import target_rows
        from ailab.perf.tools.compare import comparison_from_rows
        from ailab.perf.tools.loadtest import latest_by_db, latest_summary

        self.result = result
        self.loadtest: dict[str, Any] | None = latest_summary(reports_dir) if reports_dir else None
        # Every database's latest run (SQLite and Postgres side by side); the overall latest first.
        self.loadtests: list[dict[str, Any]] = list(latest_by_db(reports_dir).values()) if reports_dir else []
        latest = self.loadtest
        if latest and not any(_same_run(lt, latest) for lt in self.loadtests):
            self.loadtests.insert(0, latest)
        self.comparison: Comparison | None = comparison_from_rows(result.measurements)
        self.targets: list[TargetRow] = target_rows(result.measurements, self.loadtest)
        self.claims: list[Claim] = build_ledger(
            result.measurements, loadtest=self.loadtest, comparison=self.comparison
        )

    @staticmethod
    def history(loadtest: dict[str, Any]) -> list[dict[str, float]]:
        """A load test's per-second aggregate rows from Locust's history CSV; empty when the file is
        missing or unreadable."""
        from ailab.perf.tools.locust_results import read_history

        path = Path(str(loadtest.get("files", {}).get("history_csv", "")))
        try:
            return read_history(path) if path.is_file() else []
        except (OSError, csv.Error, KeyError):
            return []


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]


def _target_cells(t: TargetRow) -> list[str]:
    unit = t.target.unit
    return [
        t.review.metric,
        t.review.claimed_current,
        fmt(t.old, unit),
        fmt(t.now, unit),
        t.review.target,
        t.verdict,
        f"{sum(bool(t.target.met(p.now)) for p in t.points)} of {len(t.points)} figures meet it"
        + (f" ({t.points[0].source})" if t.points and t.points[0].source != "report" else ""),
    ]


TARGET_HEADER = [
    "metric",
    "review: current",
    "old approach measured here",
    "now (worst figure)",
    "target",
    "verdict",
    "figures",
]
COMPARE_HEADER = [
    "workload",
    "clients",
    "variant",
    "SQLite ops/s",
    "Postgres ops/s",
    "PG/SQLite",
    "SQLite p95 ms",
    "Postgres p95 ms",
    "SQLite errors",
    "Postgres errors",
]


def _compare_cells(cmp: Comparison) -> list[list[str]]:
    rows = []
    for p in cmp.pairs():
        s, g = p.sqlite, p.postgresql
        rows.append(
            [
                p.spec.workload,
                str(p.spec.clients),
                p.spec.variant,
                fmt(s.throughput),
                fmt(g.throughput),
                "-" if math.isnan(p.throughput_ratio) else f"{p.throughput_ratio:.2f}x",
                fmt(s.p95_ms),
                fmt(g.p95_ms),
                _errors(s.errors),
                _errors(g.errors),
            ]
        )
    return rows


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0"


def _loadtest_title(lt: dict[str, Any]) -> str:
    cfg = lt.get("config", {})
    items = f", {lt['items']:,} items" if lt.get("items") else ""
    return f"Load test on {lt.get('db')}{items}: {cfg.get('users')} users, {lt.get('generated_at')}"


def _loadtest_lines(lt: dict[str, Any]) -> tuple[str, list[list[str]]]:
    cfg = lt.get("config", {})
    checks = "; ".join(
        f"{c['name']} {fmt(c['value'])} {c['op']} {c['limit']:g}: {'ok' if c['ok'] else 'MISSED'}"
        for c in lt.get("checks", [])
    )
    server = lt.get("server", {})
    head = (
        f"Latest `ailab loadtest` on {lt.get('db')} ({lt.get('generated_at')}): {cfg.get('users')} users for "
        f"{cfg.get('duration_s')} s on {lt.get('db')}"
        + (f" with {lt['items']:,} items" if lt.get("items") else "")
        + (f", {cfg.get('workers')} Locust workers" if cfg.get("workers") else "")
        + f": {fmt(lt.get('rps', math.nan))} req/s, p50 {fmt(lt.get('p50_ms', math.nan))} ms, "
        f"p95 {fmt(lt.get('p95_ms', math.nan))} ms, {lt.get('failures', 0)} failures of {lt.get('requests', 0):,}. "
        f"Thresholds: {checks}. Result: {'PASSED' if lt.get('passed') else 'FAILED'}."
        + (f" Server RSS after the run: {fmt(server.get('rss_mib', math.nan))} MiB." if server else "")
        + (
            f" Machine load average {fmt(load.get('before', math.nan))} before, {fmt(load.get('after', math.nan))}"
            " after (other processes share the cores)."
            if (load := lt.get("load_average"))
            else ""
        )
        + "".join(
            f" Failure: {f['request']}: {f['error']} (x{f['occurrences']})."
            for f in lt.get("failure_reasons", [])[:3]
        )
    )
    rows = [
        [
            name,
            f"{int(e['requests']):,}",
            f"{int(e['failures']):,}",
            fmt(e["rps"]),
            fmt(e["p50_ms"]),
            fmt(e["p95_ms"]),
        ]
        for name, e in lt.get("endpoints", {}).items()
    ]
    return head, rows


LOADTEST_HEADER = ["endpoint", "requests", "failures", "req/s", "p50 ms", "p95 ms"]
NO_LOADTEST = (
    "No load test found under the reports folder: run `ailab loadtest` (it is not part of `ailab report`, "
    "which must stay within 5 minutes)."
)


def render_markdown(result: ReportResult, reports_dir: Path | None = None) -> str:
    """The report as Markdown: target table, every row, the comparison, the latest load tests under
    ``reports_dir`` and the claims ledger."""
    meta = result.meta
    s = Sections(result, reports_dir)
    lines = [
        f"# ailab report: {meta.get('items', 0):,} items on {meta.get('dialect')}",
        "",
        f"Generated {meta.get('generated_at')} on {meta.get('machine')}, Python {meta.get('python')}, "
        f"in {meta.get('seconds')} s. Figures are p50/p95 from one run; ratios compare with the old "
        "approach measured in the same run.",
        "",
        "## The review's target table",
        "",
        *_md_table(TARGET_HEADER, [_target_cells(t) for t in s.targets]),
        "",
        "## All measurements",
        "",
        *_md_table(list(COLUMNS), [row_cells(m) for m in result.measurements]),
        "",
        "## SQLite vs Postgres",
        "",
    ]
    if s.comparison is not None:
        lines += [
            _comparison_caption(s.comparison),
            "",
            *_md_table(COMPARE_HEADER, _compare_cells(s.comparison)),
        ]
    else:
        lines.append(
            "The comparison was not part of this run (`ailab report --only compare`, or `ailab compare`)."
        )
    lines += ["", "## Load test", ""]
    for lt in s.loadtests:
        head, rows = _loadtest_lines(lt)
        lines += [head, "", *_md_table(LOADTEST_HEADER, rows), ""]
    if not s.loadtests:
        lines.append(NO_LOADTEST)
    lines += ["", "## Claims ledger", ""]
    lines += _md_table(
        ["claim", "measurement", "figure", "verdict", "why"],
        [[c.claim, c.measurement, c.figure, c.verdict, c.why] for c in s.claims],
    )
    if result.failures:
        lines += ["", "## Failed benchmarks", ""] + [f"- {_md_escape(f)}" for f in result.failures]
    return "\n".join(lines) + "\n"


def _comparison_caption(cmp: Comparison) -> str:
    m = cmp.meta
    source = m.get("source") or "run by this report"
    return (
        f"{m.get('items', 0):,} items per engine, {m.get('seconds_per_cell')} s per cell in {m.get('rounds', 1)} "
        f"interleaved rounds, N = {m.get('clients')} "
        f"client threads; Postgres: {m.get('postgres')}; {source}; generated {m.get('generated_at')}. "
        "Workloads: "
        + ", ".join(f"{k} ({v})" for k, v in (m.get("workloads") or {}).items())
        + "."
        + (
            f" Machine load average {fmt(load.get('before', math.nan))} before, {fmt(load.get('after', math.nan))} after."
            if (load := m.get("load_average"))
            else ""
        )
    )


# --- HTML -------------------------------------------------------------------------------------

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933;max-width:1400px}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
td,th{border:1px solid #d9e2ec;padding:.3rem .5rem;font-size:.85rem;text-align:left;vertical-align:top}
th{background:#f0f4f8}.met,.holds{color:#0a7d32;font-weight:600}.missed,.does-not-hold{color:#c62828;font-weight:600}
.partly{color:#b7791f;font-weight:600}.not-measured{color:#7b8794}img{max-width:100%;margin:.3rem 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:.5rem}
p.note{color:#52606d;font-size:.85rem}"""


def _h(text: object) -> str:
    return html.escape(str(text))


def _html_table(header: list[str], rows: list[list[str]], classes: dict[int, str] | None = None) -> str:
    head = "".join(f"<th>{_h(c)}</th>" for c in header)
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cls = f' class="{_h(c.replace(" ", "-"))}"' if classes and i in classes else ""
            cells.append(f"<td{cls}>{_h(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(fig: Any, alt: str) -> str:
    from ailab.perf.report.charts import png_data_uri

    return f'<img alt="{_h(alt)}" src="{png_data_uri(fig)}">'


def render_html(result: ReportResult, reports_dir: Path | None = None) -> str:
    """``render_markdown``'s sections as one self-contained HTML page, charts embedded as ``data:`` URIs."""
    from ailab.perf.report import charts

    meta = result.meta
    s = Sections(result, reports_dir)
    parts = [
        f"<h1>ailab report: {meta.get('items', 0):,} items on {_h(meta.get('dialect'))}</h1>",
        f"<p class=note>Generated {_h(meta.get('generated_at'))} on {_h(meta.get('machine'))}, Python "
        f"{_h(meta.get('python'))}, in {_h(meta.get('seconds'))} s. p50/p95 from one run; ratios compare with "
        "the old approach measured in the same run. Each target row is judged on its worst figure.</p>",
        "<h2>The review's target table</h2>",
        _html_table(TARGET_HEADER, [_target_cells(t) for t in s.targets], classes={5: "verdict"}),
        '<div class="charts">'
        + "".join(_img(charts.target_chart(t), t.review.metric) for t in s.targets)
        + "</div>",
        "<h2>All measurements</h2>",
        _html_table(list(COLUMNS), [row_cells(m) for m in result.measurements], classes={8: "verdict"}),
        "<h2>SQLite vs Postgres</h2>",
    ]
    if s.comparison is not None:
        parts += [
            f"<p class=note>{_h(_comparison_caption(s.comparison))}</p>",
            _html_table(COMPARE_HEADER, _compare_cells(s.comparison)),
            _img(charts.comparison_chart(s.comparison), "SQLite vs Postgres"),
        ]
    else:
        parts.append("<p>The comparison was not part of this run.</p>")
    parts.append("<h2>Load test</h2>")
    for lt in s.loadtests:
        head, rows = _loadtest_lines(lt)
        parts += [f"<h3>{_h(lt.get('db'))}</h3>", f"<p>{_h(head)}</p>", _html_table(LOADTEST_HEADER, rows)]
        history = s.history(lt)
        if history:
            parts.append(
                _img(
                    charts.loadtest_chart(history, lt.get("thresholds", {}), _loadtest_title(lt)),
                    f"load test {lt.get('db')}",
                )
            )
    if not s.loadtests:
        parts.append(f"<p>{_h(NO_LOADTEST)}</p>")
    parts += [
        "<h2>Claims ledger</h2>",
        _html_table(
            ["claim", "measurement", "figure", "verdict", "why"],
            [[c.claim, c.measurement, c.figure, c.verdict, c.why] for c in s.claims],
            classes={3: "v"},
        ),
    ]
    if result.failures:
        parts.append(
            "<h2>Failed benchmarks</h2><ul>" + "".join(f"<li>{_h(f)}</li>" for f in result.failures) + "</ul>"
        )
    body = "\n".join(parts)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>ailab report</title><style>{STYLE}</style>'
        f"</head><body>\n{body}\n</body></html>\n"
    )
