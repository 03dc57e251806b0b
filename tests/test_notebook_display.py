"""Notebook-native objects: charts that render as images, rich HTML reprs, clean progress and outputs."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.formatters import DisplayFormatter
from rich.console import Console
from sqlalchemy.engine import Engine

from ailab.cli.steps import animated, steps
from ailab.notebook.outputs import image_count, notebook_problems, output_problems
from ailab.notebook.progress import Progress, plain_env, run_command, strip_ansi
from ailab.perf.bench.workloads import CellResult
from ailab.perf.harness.registry import Measurement
from ailab.perf.harness.targets import DATABASE_QUERY, REVIEW_TABLE, SYNC_PER_ITEM
from ailab.perf.report import charts
from ailab.perf.report.run import ReportResult
from ailab.perf.report.scorecard import target_rows
from ailab.perf.tools.compare import BASE, Comparison
from ailab.perf.tools.loadtest import LATEST_FILE, LoadTestSummary, latest_summary

PNG = b"\x89PNG\r\n\x1a\n"
# rich's spinner as it reached notebook 04's saved output
SPINNER = "\x1b[2K\x1b[32m⠴\x1b[0m running Locust: 100 users for 60 s\r\x1b[2K\x1b[32m⠦\x1b[0m running Locust"
HISTORY_HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
    "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
    "Total Min Response Time,Total Max Response Time,Total Average Content Size"
)


def _mimes(obj: object) -> dict[str, object]:
    data, _metadata = DisplayFormatter().format(obj)
    return dict(data)


def _self_contained(html: str) -> None:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    assert [r for r in refs if not r.startswith("data:")] == []
    assert "<script" not in html and "<link" not in html and "<style" not in html
    assert "http://" not in html and "https://" not in html


def _comparison() -> Comparison:
    cells = [
        CellResult(engine, workload, clients, BASE, seconds=1.0, ops=ops * clients, p50_ms=1.0, p95_ms=2.0)
        for engine, ops in (("sqlite", 900), ("postgresql", 600))
        for workload in ("read-only", "write-heavy")
        for clients in (1, 4)
    ]
    meta = {"items": 300, "clients": 4, "seconds_per_cell": 1.0, "postgres": "embedded", "rounds": 1}
    return Comparison(meta=meta, cells=cells)


def _loadtest(reports: Path, passed: bool = True) -> LoadTestSummary:
    run = reports / "loadtest" / "run1"
    run.mkdir(parents=True, exist_ok=True)
    rows = [f"{1000 + t},{5 * t},,Aggregated,{90 + t},0,3,4,5,5,8,{10 + t},12,14,20,20,20,{100 * t},0,3,4,1,20,900"
            for t in range(1, 6)]  # fmt: skip
    (run / "locust_stats_history.csv").write_text("\n".join([HISTORY_HEADER, *rows]) + "\n")
    summary = {
        "generated_at": "2026-01-01T00:00:00+00:00", "db": "sqlite", "items": 300, "run_dir": str(run),
        "config": {"users": 10, "duration_s": 5, "workers": 0},
        "thresholds": {"max_p95_ms": 50, "max_fail_ratio": 0, "min_rps": 80},
        "checks": [{"name": "p95_ms", "value": 12.0, "limit": 50, "op": "<=", "ok": True},
                   {"name": "rps", "value": 95.0, "limit": 80, "op": ">=", "ok": passed}],
        "passed": passed, "requests": 500, "failures": 0, "rps": 95.0, "p50_ms": 3, "p95_ms": 12,
        "endpoints": {"GET /": {"requests": 100, "failures": 0, "rps": 19, "p50_ms": 2, "p95_ms": 9},
                      "PATCH /api/work-items/{id}": {"requests": 400, "failures": 0, "rps": 76, "p50_ms": 3,
                                                     "p95_ms": 730}},
        "files": {"history_csv": str(run / "locust_stats_history.csv")},
    }  # fmt: skip
    (reports / LATEST_FILE).write_text(json.dumps(summary))
    loaded = latest_summary(reports)
    assert isinstance(loaded, LoadTestSummary)
    return loaded


# --- charts ------------------------------------------------------------------------------------


def test_every_chart_displays_as_a_png_without_pyplot(tmp_path: Path) -> None:
    cmp = _comparison()
    rows = [
        Measurement("database", "tag filter", "ms", 2.0, p95=4.0, target=DATABASE_QUERY),
        Measurement("sync", "re-sync per item", "ms", 3.0, baseline=1100.0, target=SYNC_PER_ITEM,
                    extra={"requests_per_item": 0.01, "baseline_requests_per_item": 2.0}),
    ]  # fmt: skip
    summary = _loadtest(tmp_path)

    class Timing:
        p50, p95 = 1.5, 3.0

    class Profile:
        name, timing = "item detail", Timing()

    made = [
        charts.comparison_chart(cmp),
        charts.workload_throughput_chart(cmp, BASE),
        charts.loadtest_chart([{"t": 0, "rps": 1, "p95_ms": 2, "users": 1}], summary["thresholds"]),
        charts.endpoint_p95_chart(summary["endpoints"], 50),
        charts.query_latency_chart([Profile()], 10.0, "queries"),  # type: ignore[list-item]
        charts.sync_per_item_chart([rows[1]], SYNC_PER_ITEM, 750),
        charts.rate_chart([("8 in flight", 120.0), ("16 in flight", 90.0)], SYNC_PER_ITEM, "calls/s"),
        *(charts.target_chart(t) for t in target_rows(rows, None)),
    ]
    assert len(made) == 7 + len(REVIEW_TABLE)
    for chart in made:
        mimes = _mimes(chart)  # what IPython sends the notebook: it calls _repr_png_
        assert isinstance(mimes.get("image/png"), bytes) and mimes["image/png"].startswith(PNG), type(chart)
        assert output_problems([{"output_type": "display_data", "data": mimes}], tags=["chart"]) == []


def test_a_bare_figure_as_text_is_caught() -> None:
    from matplotlib.figure import Figure

    bare = Figure()
    bare.subplots()
    mimes = _mimes(bare)
    assert "image/png" not in mimes  # what notebook 05 showed before: text only
    problems = output_problems([{"output_type": "execute_result", "data": mimes}], tags=["chart"])
    assert any("chart shown as text" in p for p in problems)
    assert any("tagged 'chart' shows no image" in p for p in problems)


# --- rich reprs -------------------------------------------------------------------------------


def test_report_result_shows_the_target_table_and_a_chart_per_metric(tmp_path: Path) -> None:
    _loadtest(tmp_path)
    rows = [
        Measurement("database", "tag filter page", "ms", 2.0, p95=4.0, target=DATABASE_QUERY),
        Measurement("database", "title search page", "ms", 9.0, p95=14.0, target=DATABASE_QUERY),
    ]
    result = ReportResult(
        rows, ["bench_x: RuntimeError: boom"], {"items": 300, "dialect": "sqlite"}, tmp_path
    )
    html = result._repr_html_()
    _self_contained(html)
    for target in REVIEW_TABLE:
        assert target.metric in html
    assert html.count("data:image/png;base64,") == len(REVIEW_TABLE)
    assert ">missed<" in html  # 14 ms p95 misses the 10 ms target: the worst figure decides
    assert "title search page" in html and "Claims ledger" in html and "failed: bench_x" in html
    assert "2 rows, 300 items on sqlite" in repr(result)


def test_comparison_shows_every_pair_and_its_chart() -> None:
    cmp = _comparison()
    html = cmp._repr_html_()
    _self_contained(html)
    assert html.count("<tr>") == 1 + len(cmp.pairs()) and "0.67x" in html
    assert html.count("data:image/png;base64,") == 1
    assert "Comparison: 4 cells" in repr(cmp)
    assert "no cell was run" in Comparison(meta={})._repr_html_()


@pytest.mark.parametrize("passed", [True, False])
def test_loadtest_summary_shows_verdict_endpoints_and_history(tmp_path: Path, passed: bool) -> None:
    summary = _loadtest(tmp_path, passed)
    html = summary._repr_html_()
    _self_contained(html)
    assert ("PASSED" if passed else "FAILED") in html
    assert "PATCH /api/work-items/{id}" in html and "all endpoints" in html
    assert html.count("data:image/png;base64,") == 1  # requests/s and p95 over time
    assert summary["endpoints"]["GET /"]["p95_ms"] == 9  # still the dict it always was
    Path(summary["files"]["history_csv"]).unlink()
    assert "data:image/png" not in summary._repr_html_()  # no history file: the tables only


# --- progress and outputs ----------------------------------------------------------------------


def test_strip_ansi_keeps_the_last_frame() -> None:
    assert strip_ansi(SPINNER) == "⠦ running Locust"
    assert strip_ansi("\x1b]8;;file:///x\x1b\\link\x1b]8;;\x1b\\ \x1b[1;31mred\x1b[0m") == "link red"


def test_progress_prints_plain_lines_at_most_every_few_seconds() -> None:
    now = [0.0]
    out = io.StringIO()
    say = Progress("compare", every=5.0, out=out, clock=lambda: now[0])
    for step in range(10):
        say(f"\x1b[32mstep {step}\x1b[0m")
        now[0] += 1.5
    say.done()
    lines = out.getvalue().splitlines()
    assert lines == [
        "[compare    0.0 s] step 0",
        "[compare    6.0 s] step 4",
        "[compare   12.0 s] step 8",
        "[compare   15.0 s] done (10 steps)",
    ]


def test_run_command_turns_colour_off_and_cleans_the_output() -> None:
    child = (
        "import os, sys; print(os.environ.get('FORCE_COLOR'), os.environ.get('NO_COLOR'));"
        "print('\\x1b[2K\\x1b[32mspin\\x1b[0m\\rdone'); print('to stderr', file=sys.stderr)"
    )
    out = io.StringIO()
    result = run_command([sys.executable, "-c", child], timeout=30, out=out)
    assert result.returncode == 0
    assert result.output.splitlines() == ["None 1", "done", "to stderr"]
    assert out.getvalue() == result.output and "\x1b" not in out.getvalue()
    assert "FORCE_COLOR" not in plain_env({"FORCE_COLOR": "1", "PATH": "/bin"})
    with pytest.raises(subprocess.TimeoutExpired):
        run_command([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5, echo=False)


def test_cli_steps_are_plain_lines_when_not_a_tty() -> None:
    # A Jupyter kernel's FORCE_COLOR makes rich treat a pipe as a terminal: no spinner even then.
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    assert not animated(console)
    with steps(console, "load testing...") as say:
        say("seeding 300 items on sqlite")
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert text == "... load testing...\n... seeding 300 items on sqlite\n"


def test_output_problems() -> None:
    clean = [{"output_type": "stream", "name": "stdout", "text": "12 rows\n"}]
    assert output_problems(clean) == []
    assert output_problems([{"output_type": "stream", "name": "stdout", "text": SPINNER}])
    assert output_problems([{"output_type": "error", "ename": "ValueError", "evalue": "x", "traceback": []}])
    assert output_problems(
        [{"output_type": "stream", "name": "stderr", "text": "Traceback (most recent call last):"}]
    )
    notebook = {"cells": [{"cell_type": "code", "metadata": {"tags": ["chart"]}, "outputs": clean},
                          {"cell_type": "markdown", "metadata": {}, "source": ""}]}  # fmt: skip
    assert list(notebook_problems(notebook)) == [0]
    embedded = {
        "output_type": "display_data",
        "data": {"text/html": '<div><img alt="x" src="data:image/png;base64,AA"></div>'},
    }
    assert output_problems([embedded], tags=["chart"]) == [] and image_count([embedded, embedded]) == 2


def test_import_ailab_stays_lean() -> None:
    code = (
        "import sys, ailab, ailab.db.trace; heavy = {'IPython', 'pandas', 'matplotlib'};"
        "loaded = heavy & {m.split('.')[0] for m in sys.modules}; assert not loaded, loaded;"
        "assert callable(ailab.load_ipython_extension)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_nan_figures_do_not_break_the_reprs(tmp_path: Path) -> None:
    summary = _loadtest(tmp_path)
    summary["checks"][0]["value"] = None
    summary["rps"] = math.nan
    assert "-" in summary._repr_html_()


def test_profile_view_is_pyinstruments_page_with_a_plain_text_fallback() -> None:
    from pyinstrument import Profiler

    from ailab.notebook.profiles import profile_view

    profiler = Profiler(interval=0.0001)
    with profiler:
        sum(i * i for i in range(200_000))
    view = profile_view(profiler, height=300)
    mimes = _mimes(view)
    page = str(mimes["text/html"])
    assert page.startswith("<iframe srcdoc=") and 'height="300"' in page and "&lt;html" in page.lower()
    assert "\x1b" not in str(mimes["text/plain"]) and "Recorded" in str(mimes["text/plain"])
    assert output_problems([{"output_type": "display_data", "data": mimes}]) == []


def test_in_process_dashboard_rows_run_inside_a_running_loop(sqlite_engine: Engine, tmp_path: Path) -> None:
    # A notebook kernel runs an event loop in its main thread; a second one cannot run there.
    import asyncio

    from ailab.db.seed import seed_database
    from ailab.perf.bench.web import _in_process
    from ailab.perf.harness.registry import BenchContext
    from ailab.settings import Settings

    seed_database(sqlite_engine, items=100, seed=3)
    ctx = BenchContext(Settings(), sqlite_engine.url.render_as_string(), 100, tmp_path, quick=True)

    async def in_a_kernel() -> list[Measurement]:
        return _in_process(ctx, baseline_ms=1.0)

    rows = asyncio.run(in_a_kernel())
    assert rows and all(r.n > 0 and r.p50 > 0 for r in rows)
