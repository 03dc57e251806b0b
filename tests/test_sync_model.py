"""A model-based test of the sync against the simulator (Hypothesis ``RuleBasedStateMachine``).

In process, on a fake clock. Rules: local edits (through the dashboard's write path), remote
edits, random faults, issues transferred or deleted and labels deleted on GitHub, and sync runs
with and without ``--pull``. After every run:

* never two issues for one item;
* a run that exits 0 leaves remote and local agreeing on everything its plan covers (items
  with remote changes a push-only run leaves waiting are the plan's own exception);
* a run that exits non-zero names every item it left behind (failed or not attempted);
* ``--check`` reports exactly the drift the model sees in the simulator's state.

Deterministic (``derandomize``) and small in ``make test``; ``AILAB_SYNC_SOAK_EXAMPLES`` (and
``AILAB_SYNC_SOAK_STEPS``) make it a long soak (``make soak``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ailab import queries
from ailab.clock import FakeClock
from ailab.db import connect, get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.settings import Secret
from ailab.sync.audit import check
from ailab.sync.mapping import IssueRef, find_marker, render
from ailab.sync.simulator import FaultConfig, SimulatorConfig
from ailab.sync.simulator.faults import FaultInjector
from ailab.sync.store import SyncStore
from ailab.sync.summary import SyncSummary
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub

ITEMS = 6
OTHER_REPO = "octo-org/elsewhere"
EXAMPLES = int(os.environ.get("AILAB_SYNC_SOAK_EXAMPLES", "8"))
STEPS = int(os.environ.get("AILAB_SYNC_SOAK_STEPS", "20"))
STATUSES = ("todo", "in_progress", "review", "done", "cancelled")
steps_taken = [0]  # across examples, for the soak's report

_template: Path | None = None


def template() -> Path:
    global _template
    if _template is None:
        path = Path(tempfile.mkdtemp(prefix="ailab-model-")) / "template.db"
        url = f"sqlite:///{path}"
        upgrade(get_engine(url))
        seed_database(get_engine(url), items=ITEMS, seed=13)
        forget_engine(url)
        _template = path
    return _template


def model_drift(gh: SimulatedGitHub, store: SyncStore) -> set[tuple[str, str]]:
    """``(item or issue, kind)`` read straight from the simulator's state (no HTTP), as the model."""
    items = store.load_items(lambda url, key: gh.config.repository_for(url, key).full_name)
    links = store.load_links()
    by_id = {i.id: i for i in items}
    refs = {
        by_id[w].key: IssueRef(link.repository, int(link.issue_number), link.node_id)
        for w, link in links.items()
        if link.linked and w in by_id and link.issue_number is not None
    }
    key_of = {(r.repository.lower(), r.number): k for k, r in refs.items()}
    drift: set[tuple[str, str]] = set()
    markers: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for repo in gh.sim.world.repos.values():
        for issue in repo.issues.values():
            key = find_marker(issue.body)
            if key:
                markers[key].append((repo.full_name, issue.number))
    keys = {i.key for i in items}
    for key, where in markers.items():
        if key not in keys:
            drift |= {(f"{r}#{n}", "orphan") for r, n in where}
        else:
            per_repo: dict[str, int] = defaultdict(int)
            for r, _n in where:
                per_repo[r] += 1
            if any(count > 1 for count in per_repo.values()):
                drift.add((key, "duplicate"))
    for item in items:
        ref = refs.get(item.key)
        if ref is None:
            drift.add((item.key, "unsynced"))
            continue
        repo = gh.sim.repo(ref.repository)
        issue = repo.issues.get(ref.number)
        if issue is None:
            drift.add((item.key, "moved" if _still_somewhere(repo.moved.get(ref.number)) else "missing"))
            continue
        want = render(item, refs)
        labels = {label.name.lower() for label in issue.labels.values()}
        if issue.title != want.title:
            drift.add((item.key, "title"))
        if (issue.body or "").strip() != want.body.strip():
            drift.add((item.key, "body"))
        if labels != {n.lower() for n in want.labels}:
            drift.add((item.key, "labels"))
        if issue.state != want.state or (want.state == "closed" and issue.state_reason != want.state_reason):
            drift.add((item.key, "state"))
        edges = {
            key_of.get((b.repo.full_name.lower(), b.number), f"#{b.number}")
            for b in issue.blocked_by.values()
        }
        if edges != set(want.edges or ()):
            drift.add((item.key, "edges"))
    return drift


def _still_somewhere(issue: Any) -> bool:
    """A transferred issue that still exists (it may have moved on, or been deleted since)."""
    for _ in range(100):
        if issue is None:
            return False
        if issue.repo.issues.get(issue.number) is issue:
            return True
        issue = issue.repo.moved.get(issue.number)
    return False


class SyncModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="ailab-model-run-"))
        shutil.copy(template(), self.dir / "db.sqlite")
        self.url = f"sqlite:///{self.dir / 'db.sqlite'}"
        self.engine = get_engine(self.url)
        self.store = SyncStore(self.engine)
        self.clock = FakeClock()
        self.gh = SimulatedGitHub.in_process(
            clock=self.clock, sim_config=SimulatorConfig(token=Secret(TEST_TOKEN)), creates_per_minute=5000
        )
        self.new_items = 0

    def teardown(self) -> None:
        forget_engine(self.url)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _step(self) -> None:
        steps_taken[0] += 1
        self.clock.advance(5)

    def _issue_of(self, n: int) -> tuple[str, int] | None:
        link = self.store.load_links().get(n)
        if link is None or not link.linked or link.issue_number is None:
            return None
        found = self.gh.sim.world.repos.get(link.repository.lower())
        if found is None or link.issue_number not in found.issues:
            return None
        return link.repository, int(link.issue_number)

    # -- rules -----------------------------------------------------------------------------------
    @rule(n=st.integers(1, ITEMS), kind=st.sampled_from(["title", "status", "tags"]), draw=st.integers(0, 9))
    def local_edit(self, n: int, kind: str, draw: int) -> None:
        self._step()
        patch: dict[str, Any] = {
            "title": {"title": f"Local title {draw}"},
            "status": {"status": STATUSES[draw % len(STATUSES)]},
            "tags": {"tags": [f"model-{draw % 3}"]},
        }[kind]
        with connect(self.engine, readonly=False) as conn:
            queries.update_work_item(conn, n, patch, clock=self.clock)

    @rule(draw=st.integers(0, 99))
    def local_new(self, draw: int) -> None:
        self._step()
        self.new_items += 1
        with connect(self.engine, readonly=False) as conn:
            queries.create_work_item(
                conn, {"title": f"New {draw}", "key": f"NEW-{self.new_items}"}, clock=self.clock
            )

    @rule(n=st.integers(1, ITEMS), kind=st.sampled_from(["title", "close", "reopen"]), draw=st.integers(0, 9))
    def remote_edit(self, n: int, kind: str, draw: int) -> None:
        self._step()
        where = self._issue_of(n)
        if where is None:
            return
        if kind == "title":
            self.gh.sim.edit_issue(*where, title=f"[WI-{n:06d}] Remote title {draw}")
        else:
            self.gh.sim.edit_issue(*where, state="closed" if kind == "close" else "open")

    @rule(n=st.integers(1, ITEMS))
    def delete_issue(self, n: int) -> None:
        self._step()
        where = self._issue_of(n)
        if where is not None:
            self.gh.sim.delete_issue(*where)

    @rule(n=st.integers(1, ITEMS))
    def transfer_issue(self, n: int) -> None:
        self._step()
        where = self._issue_of(n)
        if where is not None and where[0] != OTHER_REPO:
            self.gh.sim.transfer_issue(*where, OTHER_REPO)

    @rule(pick=st.integers(0, 99))
    def delete_label(self, pick: int) -> None:
        self._step()
        repo = self.gh.sim.world.repos.get(self.gh.repository.lower())
        if repo is not None and repo.labels:
            names = sorted(repo.labels)
            self.gh.sim.delete_label(self.gh.repository, names[pick % len(names)])

    @rule(seed=st.integers(0, 1000), heavy=st.booleans())
    def faults(self, seed: int, heavy: bool) -> None:
        rates = (0.2, 0.15, 0.1) if heavy else (0.05, 0.05, 0.05)
        self.gh.sim.faults = FaultInjector(
            FaultConfig(
                seed=seed, server_error_rate=rates[0], timeout_after_write_rate=rates[1], reset_rate=rates[2]
            )
        )

    @rule()
    def calm(self) -> None:
        self.gh.sim.faults = FaultInjector(FaultConfig())

    @rule(pull=st.booleans())
    def sync(self, pull: bool) -> None:
        self._step()
        summary = self.gh.run(self.engine, pull=pull)
        faults, self.gh.sim.faults = self.gh.sim.faults, FaultInjector(FaultConfig())
        try:
            self._after_run(summary, pull)
        finally:
            self.gh.sim.faults = faults

    def _after_run(self, summary: SyncSummary, pull: bool) -> None:
        drift = model_drift(self.gh, self.store)
        assert not {d for d in drift if d[1] == "duplicate"}, drift  # never two issues for one item
        waiting = {p.key for plan in summary.plans.values() for p in plan.items if p.waiting}
        behind = {key for key, kind in drift if kind != "orphan" and key not in waiting}
        if summary.exit_code == 0:
            assert not behind, (behind, drift, summary.to_json())
        else:
            named = set(summary.failed) | set(summary.left)
            assert behind <= named, (behind - named, summary.to_json())
        audit = check(self.engine, self.gh.config, clock=self.clock, transport=self.gh.transport())
        assert {(d.item, d.kind) for d in audit.drift} == drift, (audit.drift, drift)

    @invariant()
    def never_two_issues_for_one_item(self) -> None:
        seen: dict[str, int] = defaultdict(int)
        for repo in self.gh.sim.world.repos.values():
            for issue in repo.issues.values():
                key = find_marker(issue.body)
                if key:
                    seen[key] += 1
        assert all(n == 1 for n in seen.values()), dict(seen)


@pytest.fixture(scope="module", autouse=True)
def report_steps() -> Any:
    yield
    print(f"\nsync model: {EXAMPLES} examples x up to {STEPS} steps, {steps_taken[0]} steps taken")


SyncModel.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
TestSyncModel = SyncModel.TestCase
