"""The dashboard in a real headless Chromium (Playwright driving the system browser).

Skips with a reason when no Chromium is installed, unless CI is set: then it fails, so a CI
image without a browser cannot silently drop the test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from sqlalchemy import text

from ailab.db import connect, get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.perf.bench.web import CHROMIUM_ARGS, CHROMIUM_PATHS, find_chromium
from ailab.settings import Settings
from ailab.testing.scratch import forget_engine
from ailab.testing.servers import UvicornThread
from ailab.web import create_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        reason = (
            f"no Chromium found (looked at {', '.join(CHROMIUM_PATHS)}; install: apt-get install chromium)"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """uvicorn serving a seeded SQLite database from a thread, on a free loopback port."""
    db_url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'browser.db'}"
    engine = get_engine(db_url)
    upgrade(engine)
    seed_database(engine, items=400, seed=5)
    app = create_app(Settings(database_url=db_url))
    server = UvicornThread(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    try:
        with server:
            yield server.url, db_url
    finally:
        forget_engine(db_url)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def wait_until(page: Any, predicate: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` (a JS function) from Python: Playwright's wait_for_function evaluates its
    predicate with eval inside the page, which the dashboard's CSP (rightly) forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {predicate}")
        page.wait_for_timeout(50)


NON_BLANK_PIXELS = """
() => {
  const canvas = document.getElementById("statusChart");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
  return { painted, total: canvas.width * canvas.height };
}
"""


def test_dashboard_in_a_real_browser(browser: Any, server_url: tuple[str, str]) -> None:
    base, db_url = server_url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    try:
        page.goto(f"{base}/?refresh=1")
        wait_until(page, "() => window.__statusChartPaintedAt !== undefined")

        # The status chart canvas has real pixels on it.
        pixels = page.evaluate(NON_BLANK_PIXELS)
        assert pixels["painted"] > 0.05 * pixels["total"], pixels

        # The metric cards show what the database holds.
        with connect(get_engine(db_url)) as conn:
            total = conn.execute(text("SELECT count(*) FROM work_items")).scalar()
            done = conn.execute(text("SELECT count(*) FROM work_items WHERE status = 'done'")).scalar()
            open_ = conn.execute(
                text("SELECT count(*) FROM work_items WHERE status NOT IN ('done', 'cancelled')")
            ).scalar()
        cards = {
            name: int(page.get_attribute(f"#card-{name}", "data-value"))
            for name in ("total", "open", "done", "blocked")
        }
        assert (cards["total"], cards["open"], cards["done"]) == (total, open_, done)
        assert 0 < cards["blocked"] <= total

        # A filter narrows the table.
        wait_until(page, "() => document.querySelector('#items-body tr[data-id]') !== null")
        statuses_before = set(
            page.eval_on_selector_all("#items-body tr[data-id]", "rows => rows.map(r => r.dataset.status)")
        )
        assert len(statuses_before) > 1
        page.select_option("#filter-status", "done")
        wait_until(
            page,
            """() => { const rows = [...document.querySelectorAll('#items-body tr[data-id]')];
                       return rows.length > 0 && rows.every(r => r.dataset.status === 'done'); }""",
        )

        # The auto-refresh indicator moves (refresh=1: every second).
        wait_until(
            page, "() => Number(document.getElementById('refresh-indicator').dataset.refreshes) >= 2", 15
        )
        assert page.text_content("#refresh-text").startswith("Updated")
        assert problems == []
    finally:
        page.close()
