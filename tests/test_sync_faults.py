"""Faults and crashes: whatever fails and wherever the process dies, reruns converge.

For many seeds: random injected faults (5xx before or after applying, timeouts after applying,
dropped connections), plus a kill at a random request (before it is sent, or after GitHub
answered but before the sync saw the answer). Then reruns until one completes. The end state
must have zero duplicate issues, zero lost updates and the remote equal to local.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ailab.clock import FakeClock
from ailab.db import get_engine, session
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.errors import GitHubError
from ailab.settings import Secret
from ailab.sync.simulator import FaultConfig, FaultKind, FaultRule, SimulatorConfig
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub, compare_remote

SEEDS = range(24)


class Killed(BaseException):
    """The process died (not an Exception: nothing in the sync may catch it)."""


class KillSwitch(httpx.AsyncBaseTransport):
    """Dies at the ``kill_at``-th request: before sending it, or after its answer arrived."""

    def __init__(self, inner: httpx.AsyncBaseTransport, kill_at: int, after_answer: bool) -> None:
        self.inner = inner
        self.kill_at = kill_at
        self.after_answer = after_answer
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count == self.kill_at and not self.after_answer:
            raise Killed
        response = await self.inner.handle_async_request(request)
        if self.count == self.kill_at:
            await response.aread()
            raise Killed
        return response


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("syncfaults") / "template.db"
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=14, seed=21)
    forget_engine(url)
    return path


def run_until_done(gh: SimulatedGitHub, engine: Any, rng: random.Random, *, kill: bool) -> None:
    """One run that may be killed, then reruns (faults still on) until a run finishes cleanly."""
    if kill:
        switch: dict[str, KillSwitch] = {}

        def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
            switch["it"] = KillSwitch(inner, rng.randint(1, 60), after_answer=rng.random() < 0.5)
            return switch["it"]

        with contextlib.suppress(Killed, GitHubError):
            asyncio.run(gh.sync(engine, wrap=wrap))
    for _ in range(12):
        try:
            summary = gh.run(engine)
        except GitHubError:
            continue  # a fault outlasted the retries: the next run resumes
        if summary.ok:
            return
    raise AssertionError("the sync did not converge in 12 reruns")


@pytest.mark.parametrize("seed", SEEDS)
def test_random_faults_and_a_kill_then_rerun_converges(template: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    target = tmp_path / "db.sqlite"
    shutil.copy(template, target)
    url = f"sqlite:///{target}"
    engine = get_engine(url)
    faults = FaultConfig(
        seed=seed,
        server_error_rate=0.04,
        server_error_after_write_rate=0.04,
        timeout_after_write_rate=0.04,
        reset_rate=0.04,
    )
    sim_config = SimulatorConfig(token=Secret(TEST_TOKEN), faults=faults)
    gh = SimulatedGitHub.in_process(clock=FakeClock(), sim_config=sim_config, batch_size=rng.choice((3, 20)))
    try:
        run_until_done(gh, engine, rng, kill=True)  # the initial push: creates
        check = compare_remote(engine, gh)
        assert check.ok, check
        with session(engine) as db:  # local edits: updates, closes, reopens
            db.execute(text("UPDATE work_items SET title = title || ' v2' WHERE id % 2 = 0"))
            db.execute(text("UPDATE work_items SET status = CASE WHEN status = 'done' THEN 'todo' ELSE 'done' END "
                            "WHERE id % 3 = 0"))  # fmt: skip
        run_until_done(gh, engine, rng, kill=True)
        check = compare_remote(engine, gh)
        assert not check.duplicates and not check.unlinked, check
        assert check.mismatches == [], check  # no update lost
        assert check.issues == 14
    finally:
        forget_engine(url)


@pytest.mark.parametrize(
    "kind", [FaultKind.TIMEOUT_AFTER_WRITE, FaultKind.SERVER_ERROR_AFTER_WRITE, FaultKind.RESET]
)
def test_an_ambiguous_create_is_resolved_by_marker_not_resent(
    template: Path, tmp_path: Path, kind: FaultKind
) -> None:
    target = tmp_path / "db.sqlite"
    shutil.copy(template, target)
    url = f"sqlite:///{target}"
    engine = get_engine(url)
    gh = SimulatedGitHub.in_process(clock=FakeClock())
    gh.sim.add_fault(FaultRule(kind, nth=2, graphql_field="createIssue"))
    try:
        summary = gh.run(engine)
        assert gh.sim.counters.faults[kind.value] == 1
        assert summary.created == 14 and summary.ok
        check = compare_remote(engine, gh)
        assert check.ok and check.issues == 14, check
    finally:
        forget_engine(url)
