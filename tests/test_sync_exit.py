"""Exit codes that tell the truth, and ``--json`` for cron jobs and CI."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from ailab.cli import app
from ailab.clock import FakeClock
from ailab.db import get_engine, session
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.settings import Secret, Settings
from ailab.sync.config import SyncConfig
from ailab.sync.simulator import FaultKind, FaultRule, SimulatorConfig
from ailab.sync.summary import EXIT_ITEMS_FAILED, EXIT_OK, EXIT_RATE_LIMITED
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub, compare_remote, serve

runner = CliRunner()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("syncexit") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(get_engine(url))
    seed_database(get_engine(url), items=6, seed=3)
    forget_engine(url)
    return path


@pytest.fixture
def db_url(template: Path, tmp_path: Path) -> Iterator[str]:
    target = tmp_path / "db.sqlite"
    shutil.copy(template, target)
    url = f"sqlite:///{target}"
    yield url
    forget_engine(url)


def retitle_all(url: str) -> None:
    with session(get_engine(url)) as db:
        db.execute(text("UPDATE work_items SET title = title || ' v2'"))


def test_github_failing_mid_run_exits_1_and_names_every_item_left(db_url: str) -> None:
    engine = get_engine(db_url)
    gh = SimulatedGitHub.in_process(clock=FakeClock(), batch_size=2)
    assert gh.run(engine).exit_code == EXIT_OK
    retitle_all(db_url)
    # The second update request and every one after it answer 502: GitHub is down part-way.
    gh.sim.add_fault(FaultRule(FaultKind.SERVER_ERROR, nth=2, times=1000, graphql_field="updateIssue"))
    summary = gh.run(engine)
    assert summary.exit_code == EXIT_ITEMS_FAILED and summary.stop is not None
    assert summary.updated == 2 and len(summary.left) == 4  # the first request's two items were done
    assert "502" in summary.stop.reason and "rerun" in summary.verdict()
    mismatched = {m.split(":")[0] for m in compare_remote(engine, gh).mismatches}
    assert mismatched == set(summary.left)  # exactly the items it named are the ones not done
    gh.sim.clear_faults()
    again = gh.run(engine)
    assert again.exit_code == EXIT_OK and again.updated == 4 and compare_remote(engine, gh).ok


class RefuseMutations(httpx.AsyncBaseTransport):
    """GitHub's secondary-limit refusal (403, retry-after) for every GraphQL mutation."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/graphql" and b"mutation" in request.content:
            body = {"message": "You have exceeded a secondary rate limit. Please wait."}
            return httpx.Response(403, json=body, headers={"retry-after": "60"})
        return await self.inner.handle_async_request(request)


def test_stopped_at_the_rate_limit_exits_3_and_says_when_to_rerun(db_url: str) -> None:
    engine = get_engine(db_url)
    clock = FakeClock()
    gh = SimulatedGitHub.in_process(clock=clock)
    gh.run(engine)
    retitle_all(db_url)
    summary = asyncio.run(gh.sync(engine, wrap=RefuseMutations))
    assert summary.exit_code == EXIT_RATE_LIMITED
    assert summary.stop is not None and summary.stop.rate_limited
    assert summary.stop.rerun_after is not None and summary.stop.rerun_after >= clock.time()
    assert len(summary.left) == 6 and "rerun after" in summary.verdict()
    document = summary.to_json()
    assert document["stopped"]["rerun_after"].endswith("Z") and document["exit_code"] == 3


def env(url: str, api: str) -> dict[str, str]:
    return {
        "AILAB_DATABASE_URL": url,
        "AILAB_GITHUB_API_URL": api,
        "AILAB_GITHUB_REPO": "octo/exit",
        "AILAB_GITHUB_WRITE_INTERVAL": "0",
        "AILAB_GITHUB_CREATES_PER_MINUTE": "5000",
        "AILAB_GITHUB_CREATES_PER_HOUR": "5000",
        "GITHUB_TOKEN": TEST_TOKEN,
        "AILAB_GITHUB_TOKEN": "",
    }


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's client without its real-time backoff between 5xx retries (keeps the test quick)."""
    original = SyncConfig.from_settings

    def quick(settings: Settings, **overrides: Any) -> SyncConfig:
        return original(settings, **overrides).with_(transient_backoff=0.0)

    monkeypatch.setattr(SyncConfig, "from_settings", quick)


@pytest.mark.usefixtures("no_backoff")
def test_json_summary_and_exit_codes_over_loopback(db_url: str) -> None:
    sim_config = SimulatorConfig(token=Secret(TEST_TOKEN), content_per_minute=5000, content_per_hour=5000)
    with serve(sim_config=sim_config, repository="octo/exit") as gh:
        done = runner.invoke(app, ["sync", "--json"], env=env(db_url, gh.url))
        assert done.exit_code == 0, done.output
        document = json.loads(done.stdout)
        assert document["ok"] is True and document["counts"]["created"] == 6
        assert document["failed"] == [] and document["left"] == []
        assert document["requests"]["total"] >= 1 and "rate_limit" in document["waits"]
        retitle_all(db_url)
        gh.sim.add_fault(FaultRule(FaultKind.SERVER_ERROR, times=1000, graphql_field="updateIssue"))
        broken = runner.invoke(app, ["sync", "--json"], env=env(db_url, gh.url))
        assert broken.exit_code == EXIT_ITEMS_FAILED, broken.output
        document = json.loads(broken.stdout)
        assert document["ok"] is False and document["exit_code"] == 1
        assert sorted(e["item"] for e in document["left"]) == [f"WI-{n:06d}" for n in range(1, 7)]
        assert all("rerun" in e["reason"] for e in document["left"])
        table = runner.invoke(app, ["sync"], env=env(db_url, gh.url))
        assert table.exit_code == EXIT_ITEMS_FAILED and "not attempted" in table.output
        assert "sync incomplete" in table.output
        bad = runner.invoke(app, ["sync", "--json"], env={**env(db_url, gh.url), "AILAB_GITHUB_REPO": "nope"})
        assert bad.exit_code == 2 and json.loads(bad.stdout)["error_type"] == "ConfigError"
        for result in (done, broken, table, bad):
            assert TEST_TOKEN not in result.output


def test_a_chunk_github_keeps_failing_waits_for_the_next_round_while_the_rest_goes_on(db_url: str) -> None:
    engine = get_engine(db_url)
    gh = SimulatedGitHub.in_process(clock=FakeClock(), batch_size=2)
    gh.run(engine)
    retitle_all(db_url)
    # The first update request fails every one of the client's tries; later ones are fine.
    tries = gh.config.transient_tries
    gh.sim.add_fault(FaultRule(FaultKind.SERVER_ERROR, nth=1, times=tries, graphql_field="updateIssue"))
    summary = gh.run(engine)
    assert summary.exit_code == EXIT_OK and summary.updated == 6 and summary.stop is None
    # Two items per request: the failed tries of the first chunk, then each of the three chunks once.
    assert gh.sim.counters.graphql_fields["mutation.updateIssue"] == 2 * (tries + 3)
    assert compare_remote(engine, gh).ok
