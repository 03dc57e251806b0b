"""``ailab report --html``: one self-contained file with the target table, comparison, load test, ledger."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ailab.cli import app
from ailab.perf.bench.workloads import CellResult
from ailab.perf.harness.targets import REVIEW_TABLE
from ailab.perf.report.claims import build_ledger
from ailab.perf.report.render import NO_LOADTEST, render_html, render_markdown
from ailab.perf.report.run import ReportResult, result_from_json
from ailab.perf.tools.compare import BASE, Comparison, comparison_rows
from ailab.perf.tools.loadtest import LATEST_FILE

HISTORY_HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
    "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
    "Total Min Response Time,Total Max Response Time,Total Average Content Size"
)


def _fake_loadtest(reports: Path) -> None:
    run = reports / "loadtest" / "run1"
    run.mkdir(parents=True)
    rows = [f"{1000 + t},{min(10, 5 * t)},,Aggregated,{90 + t},0,3,4,5,5,8,{10 + t},12,14,20,20,20,{100 * t},0,3,4,1,20,900"
            for t in range(1, 6)]  # fmt: skip
    (run / "locust_stats_history.csv").write_text("\n".join([HISTORY_HEADER, *rows]) + "\n")
    summary = {
        "generated_at": "2026-01-01T00:00:00+00:00", "db": "sqlite", "items": 300,
        "config": {"users": 10, "duration_s": 5, "workers": 0},
        "thresholds": {"max_p95_ms": 50, "max_fail_ratio": 0, "min_rps": 80},
        "checks": [{"name": "rps", "value": 95.0, "limit": 80, "op": ">=", "ok": True}], "passed": True,
        "requests": 500, "failures": 0, "rps": 95.0, "p50_ms": 3, "p95_ms": 12,
        "endpoints": {"GET /": {"requests": 100, "failures": 0, "rps": 19, "p50_ms": 2, "p95_ms": 9},
                      "GET /api/summary": {"requests": 400, "failures": 0, "rps": 76, "p50_ms": 3, "p95_ms": 13}},
        "server": {"rss_mib": 75.5}, "files": {"history_csv": str(run / "locust_stats_history.csv")},
    }  # fmt: skip
    (reports / LATEST_FILE).write_text(json.dumps(summary))
    older = {**summary, "db": "postgres", "generated_at": "2025-12-31T00:00:00+00:00", "rps": 61.0}
    (reports / "loadtest_latest_postgres.json").write_text(json.dumps(older))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    _fake_loadtest(out)
    result = CliRunner().invoke(
        app, ["report", "--items", "300", "--quick", "--only", "claims", "--html", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert str((out / "report.html").resolve()) in result.output.replace("\n", "")
    assert "Claims ledger" in result.output
    return out


def _external_refs(html: str) -> list[str]:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    return [r for r in refs if not r.startswith(("data:", "#"))] + re.findall(r"https?://", html)


def test_html_is_self_contained(reports: Path) -> None:
    html = (reports / "report.html").read_text()
    assert _external_refs(html) == []
    assert "<link" not in html and "<script" not in html
    assert html.count("data:image/png;base64,") >= len(REVIEW_TABLE) + 1  # a chart per metric + load test


def test_html_has_every_target_row_and_every_claim(reports: Path) -> None:
    html = (reports / "report.html").read_text()
    data = json.loads((reports / "report.json").read_text())
    for target in REVIEW_TABLE:
        assert target.metric in html and target.target.replace("<", "&lt;") in html
    assert len(data["claims"]) >= 10
    for claim in data["claims"]:
        assert claim["claim"].replace("'", "&#x27;") in html
        assert claim["verdict"] in ("holds", "does not hold", "partly", "not measured")
    by_key = {c["key"]: c for c in data["claims"]}
    assert by_key["check-same-thread"]["verdict"] == "does not hold"  # measured by the claims rows
    assert by_key["microservices"]["verdict"] == "does not hold"
    assert by_key["postgres"]["figure"] == "not measured in this run"  # no comparison in this run
    assert [t["metric"] for t in data["target_table"]] == [t.metric for t in REVIEW_TABLE]


def test_html_shows_the_latest_load_test(reports: Path) -> None:
    html = (reports / "report.html").read_text()
    assert "Latest `ailab loadtest` on sqlite" in html and "GET /api/summary" in html
    assert "Latest `ailab loadtest` on postgres" in html  # each database's latest run
    md = (reports / "report.md").read_text()
    assert "## Load test" in md and "PASSED" in md


def _result(reports: Path) -> ReportResult:
    return result_from_json(json.loads((reports / "report.json").read_text()))


def test_comparison_section_and_missing_load_test(reports: Path, tmp_path: Path) -> None:
    result = _result(reports)
    cells = [
        CellResult(e, w, c, BASE, seconds=1.0, ops=ops, p50_ms=1.0, p95_ms=2.0)
        for e, ops in (("sqlite", 900), ("postgresql", 600))
        for w in ("read-only", "write-heavy")
        for c in (1, 4)
    ]
    cmp = Comparison(
        meta={"items": 300, "clients": 4, "seconds_per_cell": 1.0, "postgres": "embedded"}, cells=cells
    )
    result.measurements += comparison_rows(cmp)
    html = render_html(result, reports_dir=tmp_path)  # no load test in this folder
    assert "SQLite vs Postgres" in html and "0.67x" in html
    assert NO_LOADTEST.split(":")[0] in html
    assert _external_refs(html) == []
    ledger = {c.key: c for c in build_ledger(result.measurements)}
    assert ledger["postgres"].verdict == "does not hold"
    assert "| write-heavy | 4 |" in render_markdown(result, tmp_path)
