"""``ailab sync --watch`` in-process: the lock, pushing after a local change, polling, stopping."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab.clock import FakeClock
from ailab.db import connect, get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.db.tables import utcnow
from ailab.queries.writes import update_work_item
from ailab.settings import Secret
from ailab.sync.engine import SyncSummary
from ailab.sync.simulator import SimulatorConfig
from ailab.sync.status import sync_status
from ailab.sync.store import SyncStore
from ailab.sync.watch import (
    Watcher,
    WatchLockedError,
    WatchOptions,
    acquire_lock,
    heartbeat,
    pending_local,
    release_lock,
)
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub, compare_remote

pytestmark = pytest.mark.anyio
REPO = "octo-org/tracker"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=6, seed=9)
    yield engine
    forget_engine(url)


def github() -> SimulatedGitHub:
    return SimulatedGitHub.in_process(clock=FakeClock(), sim_config=SimulatorConfig(token=Secret(TEST_TOKEN)))


def test_one_watcher_per_repository_and_the_refusal_names_the_holder(engine: Engine) -> None:
    acquire_lock(engine, [REPO, "octo-org/other"], "host-a pid 1", stale_after=60)
    with pytest.raises(WatchLockedError, match="host-a pid 1"):
        acquire_lock(engine, [REPO], "host-b pid 2", stale_after=60)
    assert heartbeat(engine, [REPO, "octo-org/other"], "host-a pid 1")
    # A watcher that died: its lock is taken over once its heartbeat is older than stale_after.
    later = utcnow() + timedelta(seconds=120)
    acquire_lock(engine, [REPO], "host-b pid 2", stale_after=60, now=later)
    assert not heartbeat(engine, [REPO, "octo-org/other"], "host-a pid 1")  # A learns it lost REPO
    with connect(engine) as conn:
        watcher = {
            r["repository"]: r["watcher"] for r in sync_status(conn, webhooks_enabled=False)["repositories"]
        }
    assert watcher[REPO]["holder"] == "host-b pid 2"
    release_lock(engine, [REPO], "host-b pid 2")
    release_lock(engine, ["octo-org/other"], "host-a pid 1")
    acquire_lock(engine, [REPO], "host-c pid 3", stale_after=60)


async def test_watch_pushes_local_changes_and_polls_remote_ones(seeded: Engine) -> None:
    gh = github()
    clock = gh.clock
    assert isinstance(clock, FakeClock)
    steps: list[str] = []
    stop = asyncio.Event()
    store = SyncStore(seeded)
    key = "WI-000002"

    def on_run(kind: str, summary: SyncSummary) -> None:
        steps.append(f"{kind}:{summary.created}/{summary.updated}/{summary.pulled}")
        if len(steps) == 1:  # the first run catches up: every item gets its issue
            assert summary.created == 6
            with connect(seeded, readonly=False) as conn:  # a dashboard edit
                update_work_item(conn, key, {"title": "Edited in the dashboard"}, clock=clock)
        elif len(steps) == 2:  # pushed shortly after, without waiting for the poll
            assert kind == "push" and summary.updated == 1
            link = store.load_links()
            number = next(int(v.issue_number or 0) for v in link.values() if v.work_item_id == 2)
            assert gh.sim.issue(gh.repository, number)["title"] == f"[{key}] Edited in the dashboard"
            clock.advance(2)
            gh.sim.edit_issue(gh.repository, number, title=f"[{key}] Edited on GitHub")
        elif len(steps) == 3:  # the next poll brings the remote edit in
            assert kind == "poll" and summary.pulled == 1
            stop.set()

    watcher = Watcher(
        seeded,
        gh.config,
        WatchOptions(poll_seconds=5, debounce=0.5, revision_check=0.25),
        clock=clock,
        transport=gh.transport(),
        holder="test watcher",
        on_run=on_run,
    )
    task = asyncio.create_task(watcher.run(stop))
    await asyncio.wait_for(watcher.started.wait(), timeout=30)
    # A second watcher for the same repository is refused, naming the first.
    with pytest.raises(WatchLockedError, match="test watcher"):
        await Watcher(seeded, gh.config, clock=clock, transport=gh.transport(), holder="second").run(
            asyncio.Event()
        )
    report = await asyncio.wait_for(task, timeout=60)
    assert [s.split(":")[0] for s in steps] == ["poll", "push", "poll"]
    assert report.runs == 3 and report.pushes >= 2
    with connect(seeded) as conn:
        title = conn.execute(text("SELECT title FROM work_items WHERE key = :k"), {"k": key}).scalar()
        status = sync_status(conn, webhooks_enabled=False)
    assert title == "Edited on GitHub"
    assert compare_remote(seeded, gh).ok
    assert pending_local(store, gh.config) == {gh.repository: 0}
    repo = next(r for r in status["repositories"] if r["repository"] == gh.repository)
    assert repo["watcher"] is None  # released on stop
    assert repo["last_push_at"] and repo["last_pull_at"] and repo["pending_local_changes"] == 0
    assert repo["budget"]["limit"] == 5000 and repo["budget"]["remaining"] < 5000


async def test_a_stop_during_a_long_run_abandons_it_safely_after_the_grace(seeded: Engine) -> None:
    gh = SimulatedGitHub.in_process(
        clock=FakeClock(), sim_config=SimulatorConfig(token=Secret(TEST_TOKEN)), creates_per_minute=1
    )
    stop = asyncio.Event()
    watcher = Watcher(
        seeded, gh.config, WatchOptions(grace=0.0), clock=gh.clock, transport=gh.transport(), holder="w"
    )

    async def stop_soon() -> None:
        while not gh.sim.counters.writes:  # once the first create went out, ask to stop
            await asyncio.sleep(0)
        stop.set()

    stopper = asyncio.create_task(stop_soon())
    report = await asyncio.wait_for(watcher.run(stop), timeout=60)
    await stopper
    assert report.abandoned and report.runs == 0
    # Nothing was lost or doubled: the next run adopts what was created and creates the rest once.
    summary = await gh.sync(seeded)
    assert not summary.failed
    assert compare_remote(seeded, gh).ok


def test_a_second_watch_from_the_command_line_exits_5_naming_the_holder(seeded: Engine) -> None:
    from typer.testing import CliRunner

    from ailab.cli import app

    acquire_lock(seeded, [REPO], "ops-box pid 4242", stale_after=120)
    env = {
        "AILAB_DATABASE_URL": str(seeded.url),
        "GITHUB_TOKEN": TEST_TOKEN,
        "AILAB_GITHUB_REPO": REPO,
        "AILAB_GITHUB_API_URL": "http://127.0.0.1:9",  # never reached: the lock is refused first
    }
    result = CliRunner().invoke(app, ["sync", "--watch"], env=env)
    assert result.exit_code == 5
    assert "ops-box pid 4242" in result.output and TEST_TOKEN not in result.output
