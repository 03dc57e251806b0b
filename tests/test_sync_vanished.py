"""A remote that changed under the sync: restarted empty, issues and labels deleted, transfers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ailab.clock import FakeClock
from ailab.db import get_engine, session
from ailab.db.migrate import upgrade
from ailab.db.models import GitHubLink, WorkItem
from ailab.db.seed import seed_database
from ailab.settings import Secret
from ailab.sync.simulator import SimulatorConfig
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub, compare_remote


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vanish") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(get_engine(url))
    seed_database(get_engine(url), items=20, seed=5)
    forget_engine(url)
    return path


@pytest.fixture
def synced(template: Path, tmp_path: Path) -> Iterator[tuple[Engine, SimulatedGitHub]]:
    """20 items synced twice (the second run leaves the drift probe its baseline)."""
    target = tmp_path / "db.sqlite"
    shutil.copy(template, target)
    url = f"sqlite:///{target}"
    engine = get_engine(url)
    gh = SimulatedGitHub.in_process(
        clock=FakeClock(), sim_config=SimulatorConfig(token=Secret(TEST_TOKEN)), creates_per_minute=5000
    )
    assert gh.run(engine).ok and gh.run(engine).ok
    yield engine, gh
    forget_engine(url)


def links(engine: Engine) -> dict[str, tuple[str, int]]:
    with session(engine, readonly=True) as db:
        rows = db.execute(
            select(WorkItem.key, GitHubLink.repository, GitHubLink.issue_number).join(
                GitHubLink, GitHubLink.work_item_id == WorkItem.id
            )
        ).all()
    return {key: (repo, number) for key, repo, number in rows}


def test_a_simulator_restarted_empty_is_noticed_and_every_issue_recreated(
    synced: tuple[Engine, SimulatedGitHub],
) -> None:
    engine, gh = synced
    gh.sim.reset()
    summary = gh.run(engine)
    assert summary.ok, summary.to_json()
    assert summary.recreated == 20 and sorted(summary.recreated_keys) == sorted(links(engine))
    assert "recreated" in summary.probe[gh.repository]["verdict"]
    check = compare_remote(engine, gh)
    assert check.ok and check.issues == 20, check
    again = gh.run(engine)
    assert again.ok and again.writes == 0 and again.probe[gh.repository]["verdict"] == "agreed"


def test_deleted_issues_and_labels_are_recreated_in_one_run(synced: tuple[Engine, SimulatedGitHub]) -> None:
    engine, gh = synced
    before = links(engine)
    doomed = ["WI-000003", "WI-000011"]
    for key in doomed:
        gh.sim.delete_issue(gh.repository, before[key][1])
    for label in ("status:todo", "priority:high"):
        gh.sim.delete_label(gh.repository, label)
    summary = gh.run(engine)  # nothing changed locally: only the probe can notice
    assert summary.ok, summary.to_json()
    assert sorted(summary.recreated_keys) == doomed and summary.created == 2
    assert summary.probe[gh.repository]["verdict"].startswith("disagreed")
    check = compare_remote(engine, gh)
    assert check.ok and check.issues == 20, check
    assert {label["name"] for label in gh.sim.labels(gh.repository)} >= {"status:todo", "priority:high"}
    assert gh.run(engine).writes == 0


def test_a_transferred_issue_is_followed_and_its_link_updated(synced: tuple[Engine, SimulatedGitHub]) -> None:
    engine, gh = synced
    number = links(engine)["WI-000004"][1]
    moved = gh.sim.transfer_issue(gh.repository, number, "octo-org/elsewhere")
    summary = gh.run(engine)
    assert summary.ok and summary.moved == 1 and summary.created == 0, summary.to_json()
    assert links(engine)["WI-000004"] == ("octo-org/elsewhere", moved["number"])
    check = compare_remote(engine, gh)
    assert check.ok and check.issues == 20, check
    assert gh.run(engine).writes == 0


def test_a_duplicate_marker_fails_the_item_and_an_orphan_is_reported(
    synced: tuple[Engine, SimulatedGitHub],
) -> None:
    engine, gh = synced
    original = gh.sim.issue(gh.repository, links(engine)["WI-000002"][1])
    gh.sim.seed_issue(gh.repository, "copy", original["body"])
    gh.sim.seed_issue(gh.repository, "stranger", "<!-- ailab:item=GONE-1 -->")
    summary = gh.run(engine)
    assert summary.exit_code == 1 and list(summary.failed) == ["WI-000002"]
    assert "marker is also on #" in summary.failed["WI-000002"]
    assert summary.probe[gh.repository]["orphans"] == ["#22: GONE-1"]
    assert not summary.recreated  # no issue of ours vanished: nothing was created
