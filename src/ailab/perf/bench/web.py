"""Report rows for the dashboard (issue 4): API latency, page load in Chromium, server memory.

Measured at ``ctx.items`` items on the report's scratch database:

* ``/api/summary`` uncached and cached, and a 50-item list page, p50/p95, both in-process
  (``httpx.ASGITransport``: the app's own cost) and over loopback HTTP to ``python -m ailab.web``
  in a subprocess (what a browser sees, minus the network).
* The page load in headless Chromium: navigation start to the status chart painted (the page
  records ``performance.now()`` then, in ``window.__statusChartPaintedAt``). Skipped with a note
  when no Chromium is installed.
* The server's RSS after that warm-up (psutil on the subprocess).

Baseline, measured in the same run: the old script that read every row of the JSON-column
table, counted in Python and wrote a static HTML file (``baselines.dashboard``); it had to run
again for fresh numbers, so its run time stands against both the summary and the page load.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ailab.db import get_engine
from ailab.db.revision import bump_revision
from ailab.perf.baselines.core import build_json_table
from ailab.perf.baselines.dashboard import generate_static_dashboard
from ailab.perf.harness.registry import BenchContext, Measurement, Target, benchmark
from ailab.perf.harness.targets import DASHBOARD_LOAD, MEMORY
from ailab.perf.harness.timing import Timing, measure
from ailab.testing.servers import free_port, stop_process, wait_until_healthy

# Our own goals (issue 4), for 100k items on SQLite.
SUMMARY_UNCACHED_GOAL = Target(20.0, "ms", "<=", source="issue")
SUMMARY_CACHED_GOAL = Target(2.0, "ms", "<=", source="issue")
LIST_PAGE_GOAL = Target(15.0, "ms", "<=", source="issue")
PAGE_LOAD_GOAL = Target(300.0, "ms", "<=", source="issue")
RSS_GOAL = Target(100.0, "MiB", "<=", source="issue")
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIST_QUERIES = (
    {"limit": "50"},
    {"limit": "50", "status": "todo", "priority": "high"},
    {"limit": "50", "tag": "api"},
    {"limit": "50", "status": "in_progress,review"},
)


def _goal(ctx: BenchContext, target: Target) -> Target | None:
    """The issue's goals are stated for SQLite; on other backends the row has no goal."""
    return target if ctx.database_url.startswith("sqlite") else None


def _row(ctx: BenchContext, name: str, timing: Timing, **kw: Any) -> Measurement:
    return Measurement(
        group="dashboard", name=name, unit="ms", p50=timing.p50, p95=timing.p95, n=timing.n, **kw
    )


def _sampling(ctx: BenchContext) -> dict[str, Any]:
    return {"min_samples": 10, "min_seconds": 0.1, "max_seconds": 2.0} if ctx.quick else {"min_seconds": 0.6}


def _rotating(calls: list[Callable[[], Any]]) -> Callable[[], Any]:
    state = {"i": 0}

    def call() -> Any:
        state["i"] += 1
        return calls[state["i"] % len(calls)]()

    return call


def _baseline(ctx: BenchContext) -> tuple[float, dict[str, float]]:
    """Seconds the old static-dashboard script takes on the same items (median of a few runs)."""
    with tempfile.TemporaryDirectory(prefix="ailab-oldboard-") as tmp:
        json_db = Path(tmp) / "old.db"
        build_json_table(get_engine(ctx.database_url), json_db)
        runs = [
            generate_static_dashboard(json_db, Path(tmp) / "dashboard.html")
            for _ in range(1 if ctx.quick else 3)
        ]
    runs.sort(key=lambda r: r.seconds)
    median = runs[len(runs) // 2]
    return median.seconds * 1000.0, median.phases


def _in_process(ctx: BenchContext, baseline_ms: float) -> list[Measurement]:
    """The in-process rows, on an event loop of their own; from inside a running loop (a notebook
    kernel runs one), in a worker thread, since a second loop cannot run in the same thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _in_process_on_new_loop(ctx, baseline_ms)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ailab-bench-web") as pool:
        return pool.submit(_in_process_on_new_loop, ctx, baseline_ms).result()


def _in_process_on_new_loop(ctx: BenchContext, baseline_ms: float) -> list[Measurement]:
    from ailab.web import create_app

    settings = ctx.settings.with_(database_url=ctx.database_url, summary_cache_seconds=3600.0, api_token=None)
    app = create_app(settings)
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    try:
        loop.run_until_complete(lifespan.__aenter__())

        def get(path: str, params: dict[str, str] | None = None) -> None:
            response = loop.run_until_complete(client.get(path, params=params))
            response.raise_for_status()

        def uncached() -> None:
            app.state.ctx.cache.clear()
            get("/api/summary")

        sampling = _sampling(ctx)
        miss = measure(uncached, **{**sampling, "min_samples": 10 if ctx.quick else 30})
        hit = measure(lambda: get("/api/summary"), **sampling)
        page = measure(
            _rotating([functools.partial(get, "/api/work-items", p) for p in LIST_QUERIES]), **sampling
        )
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()
    label = "old script: read all rows, json.loads, count in Python"
    return [
        _row(ctx, "/api/summary uncached, in-process", miss, baseline=baseline_ms, baseline_label=label,
             goal=_goal(ctx, SUMMARY_UNCACHED_GOAL), note="revision check + the kept counts (ailab.db.derived): 3 statements"),
        _row(ctx, "/api/summary cached, in-process", hit, baseline=baseline_ms, baseline_label=label,
             goal=_goal(ctx, SUMMARY_CACHED_GOAL), note="1 primary-key lookup, cached JSON bytes"),
        _row(ctx, "list page of 50, in-process", page, goal=_goal(ctx, LIST_PAGE_GOAL),
             note="rotating: no filter, status+priority, tag, two statuses; 3 statements"),
    ]  # fmt: skip


@contextmanager
def running_server(database_url: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m ailab.web`` on a free loopback port; stopped (by its pid) on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ailab.web", "--port", str(port), "--database-url", database_url],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, timeout=30)
        yield base, proc
    finally:
        stop_process(proc)


def _loopback(ctx: BenchContext, baseline_ms: float) -> list[Measurement]:
    import psutil

    token = secrets.token_urlsafe(24)
    env = {"AILAB_API_TOKEN": token, "AILAB_SUMMARY_CACHE_SECONDS": "3600"}
    rows: list[Measurement] = []
    with (
        running_server(ctx.database_url, env) as (base, proc),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        sampling = _sampling(ctx)
        auth = {"Authorization": f"Bearer {token}"}
        first = client.get("/api/work-items", params={"limit": "1"}).json()["items"][0]

        # Uncached: another process's write (untimed) moves the data revision before each timed
        # load, so the server must recompute. A write through the API does the same (the "after
        # our write" row): the next load recomputes from the kept counts.
        engine = get_engine(ctx.database_url)
        samples: list[float] = []
        after_write: list[float] = []
        for _ in range(10 if ctx.quick else 40):
            with engine.begin() as conn:
                bump_revision(conn)
            started = time.perf_counter_ns()
            client.get("/api/summary").raise_for_status()
            samples.append((time.perf_counter_ns() - started) / 1e6)
            client.patch(f"/api/work-items/{first['key']}", json={"title": first["title"]}, headers=auth)
            started = time.perf_counter_ns()
            client.get("/api/summary").raise_for_status()
            after_write.append((time.perf_counter_ns() - started) / 1e6)
        miss = Timing(tuple(samples))
        own_write = Timing(tuple(after_write))
        hit = measure(lambda: client.get("/api/summary").raise_for_status(), **sampling)
        page = measure(
            _rotating([functools.partial(client.get, "/api/work-items", params=p) for p in LIST_QUERIES]),
            **sampling,
        )
        label = "old script: read all rows, json.loads, count in Python"
        rows += [
            _row(ctx, "/api/summary uncached, loopback HTTP", miss, baseline=baseline_ms, baseline_label=label,
                 goal=_goal(ctx, SUMMARY_UNCACHED_GOAL), note="after another process's write: full recompute"),
            _row(ctx, "/api/summary right after our own write, loopback HTTP", own_write, baseline=baseline_ms,
                 baseline_label=label, goal=_goal(ctx, SUMMARY_UNCACHED_GOAL),
                 note="the write moved the revision: recomputed from the kept counts, 3 statements"),
            _row(ctx, "/api/summary cached, loopback HTTP", hit, baseline=baseline_ms, baseline_label=label,
                 goal=_goal(ctx, SUMMARY_CACHED_GOAL)),
            _row(ctx, "list page of 50, loopback HTTP", page, goal=_goal(ctx, LIST_PAGE_GOAL)),
        ]  # fmt: skip
        rows.append(_page_load(ctx, base, baseline_ms))
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        rows.append(
            Measurement(
                group="dashboard",
                name="server RSS after warm-up",
                unit="MiB",
                p50=rss,
                target=MEMORY,
                goal=RSS_GOAL,
                note="python -m ailab.web after the requests above",
            )
        )
    return rows


def find_chromium() -> str | None:
    """A Chromium executable: ``AILAB_CHROMIUM``, else the usual install paths, else ``chromium`` on PATH."""
    for path in (os.environ.get("AILAB_CHROMIUM"), *CHROMIUM_PATHS, shutil.which("chromium")):
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    return None


def _browser_paint_times(base: str, chromium: str, samples: int) -> list[float]:
    """Milliseconds from navigation start to the status chart painted, one per fresh page."""
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for i in range(samples + 2):  # two warm-up loads
                page = context.new_page()
                page.goto(f"{base}/")
                deadline = time.monotonic() + 10
                painted = None
                while painted is None:
                    painted = page.evaluate("() => window.__statusChartPaintedAt ?? null")
                    if painted is None:
                        if time.monotonic() > deadline:
                            raise RuntimeError("the status chart was not painted within 10 s")
                        page.wait_for_timeout(10)
                if i >= 2:
                    times.append(float(painted))
                page.close()
        finally:
            browser.close()
    return times


def _page_load(ctx: BenchContext, base: str, baseline_ms: float) -> Measurement:
    name = "dashboard load in Chromium (navigation to status chart painted)"
    label = "old script: regenerate the static HTML (CDN assets not counted)"
    chromium = find_chromium()
    if chromium is None:
        return Measurement(group="dashboard", name=name, unit="ms", p50=math.nan, target=DASHBOARD_LOAD,
                           goal=PAGE_LOAD_GOAL, note="skipped: no Chromium found (apt-get install chromium)")  # fmt: skip
    # Playwright's sync API refuses to run in a thread that has an asyncio loop (notebooks).
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["times"] = _browser_paint_times(base, chromium, 5 if ctx.quick else 20)
        except Exception as err:  # reported in the row's note, not swallowed
            result["error"] = err

    worker = threading.Thread(target=run, name="bench-web-chromium")
    worker.start()
    worker.join()
    if "error" in result:
        return Measurement(group="dashboard", name=name, unit="ms", p50=math.nan, target=DASHBOARD_LOAD,
                           goal=PAGE_LOAD_GOAL, note=f"failed: {result['error']}")  # fmt: skip
    timing = Timing(tuple(result["times"]))
    return _row(ctx, name, timing, baseline=baseline_ms, baseline_label=label, target=DASHBOARD_LOAD,
                goal=PAGE_LOAD_GOAL, note="headless Chromium, fresh page per load, loopback")  # fmt: skip


@benchmark("dashboard", order=60)
def bench_dashboard(ctx: BenchContext) -> list[Measurement]:
    """Dashboard rows: API latency in-process and over loopback HTTP, page load in Chromium and
    server RSS, against the old static script run on the same items."""
    baseline_ms, phases = _baseline(ctx)
    rows = _in_process(ctx, baseline_ms)
    rows += _loopback(ctx, baseline_ms)
    rows.append(
        Measurement(
            group="dashboard",
            name="old static dashboard script (baseline)",
            unit="ms",
            p50=baseline_ms,
            note="read all rows + json.loads + count in Python + write HTML with CDN assets",
            extra={f"{k} ms": v * 1000.0 for k, v in phases.items()},
        )
    )
    return rows
