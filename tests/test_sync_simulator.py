"""The sync end to end against the in-process GitHub simulator (FakeClock: no real waiting)."""

from __future__ import annotations

import importlib
import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import Engine

from ailab.clock import FakeClock
from ailab.db import connect, derived, get_engine, session
from ailab.db.migrate import upgrade
from ailab.db.models import (
    AcceptanceCriterion,
    GitHubLink,
    Project,
    Tag,
    WorkItem,
    WorkItemDependency,
    WorkItemTag,
)
from ailab.db.seed import seed_database
from ailab.settings import Secret
from ailab.sync.simulator import SimulatorConfig
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub, compare_remote

summary_module = importlib.import_module("ailab.queries.summary")

_copies = itertools.count()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated database with 40 seeded items, copied per test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("sync") / "template.db"
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=40, seed=11)
    forget_engine(url)
    yield path


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    urls: list[str] = []

    def make() -> Engine:
        target = tmp_path / f"copy{next(_copies)}.db"
        shutil.copy(template, target)
        urls.append(f"sqlite:///{target}")
        return get_engine(urls[-1])

    yield make
    for url in urls:
        forget_engine(url)


def github(**sim: Any) -> SimulatedGitHub:
    return SimulatedGitHub.in_process(
        clock=FakeClock(), sim_config=SimulatorConfig(token=Secret(TEST_TOKEN), **sim)
    )


def edit(engine: Engine, key: str, **values: Any) -> None:
    with session(engine) as db:
        item = db.scalars(select(WorkItem).where(WorkItem.key == key)).one()
        for name, value in values.items():
            setattr(item, name, value)


def test_initial_push_then_resyncs_cost_no_writes(fresh: Callable[[], Engine]) -> None:
    engine, gh = fresh(), github()
    first = gh.run(engine)
    assert first.created == 40 and first.ok
    check = compare_remote(engine, gh)
    assert check.ok, check
    assert check.issues == 40 and first.closed > 0 and first.edges_added > 0
    gh.sim.reset_counters()
    for _ in range(3):
        again = gh.run(engine)
        assert again.writes == 0 and again.unchanged == 40
    assert gh.sim.counters.writes == 0
    # One conditional read answered 304, and the drift probe's one GraphQL query, which agreed.
    assert again.requests == 2 and again.not_modified == 1
    assert again.probe[gh.repository]["verdict"] == "agreed"


def test_update_close_reopen_and_edges(fresh: Callable[[], Engine]) -> None:
    engine, gh = fresh(), github()
    gh.run(engine)
    with session(engine) as db:
        items = {i.key: i for i in db.scalars(select(WorkItem))}
    done = next(k for k, i in items.items() if i.status == "done")
    todo = next(k for k, i in items.items() if i.status == "todo")
    edit(engine, done, status="in_progress")  # reopen
    edit(engine, todo, status="cancelled", title="Dropped")  # close as not planned + retitle
    with session(engine) as db:  # a new dependency and a removed one
        db.execute(delete(WorkItemDependency).where(WorkItemDependency.work_item_id == items["WI-000040"].id))
        db.execute(insert(WorkItemDependency).values(work_item_id=items["WI-000002"].id,
                                                     depends_on_id=items["WI-000001"].id))  # fmt: skip
    summary = gh.run(engine)
    assert summary.reopened == 1 and summary.closed == 1 and summary.relinked >= 1
    assert compare_remote(engine, gh).ok
    links = _links(engine)
    reopened = gh.sim.issue(gh.repository, links[done])
    closed = gh.sim.issue(gh.repository, links[todo])
    assert reopened["state"] == "open"
    assert (closed["state"], closed["state_reason"]) == ("closed", "not_planned")
    assert closed["title"] == f"[{todo}] Dropped"


def test_updates_are_batched(fresh: Callable[[], Engine]) -> None:
    engine, gh = fresh(), github()
    gh.run(engine)
    with session(engine) as db:
        db.execute(text("UPDATE work_items SET title = title || ' (v2)'"))
    summary = gh.run(engine)
    assert summary.updated == 40 and summary.write_requests == 2  # 20 items per aliased mutation
    assert compare_remote(engine, gh).ok


def test_pagination_and_full_reads_every_page_without_conditional_headers(
    fresh: Callable[[], Engine],
) -> None:
    engine = fresh()
    seed_database(engine, items=200, seed=12)  # 240 items: three pages of 100
    gh = github()
    for _ in range(3):  # the first run read an empty repository; the next ones settle the watermark
        gh.run(engine)
    gh.sim.reset_counters()
    unchanged = gh.run(engine)
    assert unchanged.requests == 2 and unchanged.not_modified == 1  # a 304, and the drift probe
    gh.sim.reset_counters()
    summary = gh.run(engine, full=True)
    assert summary.writes == 0 and summary.not_modified == 0  # no ETag may hide a different remote
    assert gh.sim.counters.received["GET /repos/{owner}/{repo}/issues"] == 3
    assert summary.probe[gh.repository]["reconciled"] is True
    assert compare_remote(engine, gh).ok


def test_dry_run_and_limit(fresh: Callable[[], Engine]) -> None:
    engine, gh = fresh(), github()
    plan = gh.run(engine, dry_run=True)
    assert plan.plans[gh.repository].counts()["create"] == 40
    assert gh.sim.counters.writes == 0 and not _links(engine)
    limited = gh.run(engine, limit=5)
    assert limited.created == 5 and len(gh.sim.issues(gh.repository)) == 5
    gh.run(engine)
    assert compare_remote(engine, gh).ok


def test_pull_and_conflict_rule(fresh: Callable[[], Engine]) -> None:
    engine, gh = fresh(), github()
    gh.run(engine)
    links = _links(engine)
    repo = gh.repository
    gh.sim.edit_issue(repo, links["WI-000003"], title="[WI-000003] Renamed on GitHub")
    gh.sim.edit_issue(repo, links["WI-000004"], state="closed", state_reason="not_planned")
    # Both sides change WI-000005's title: local wins for content.
    gh.sim.edit_issue(repo, links["WI-000005"], title="[WI-000005] Remote title")
    edit(engine, "WI-000005", title="Local title")
    push_only = gh.run(engine)
    assert push_only.waiting == 2  # remote-only changes are never overwritten by a push
    assert gh.sim.issue(repo, links["WI-000003"])["title"] == "[WI-000003] Renamed on GitHub"
    assert [c.key for c in push_only.conflicts] == ["WI-000005"]
    pulled = gh.run(engine, pull=True)
    assert pulled.pulled == 2
    with session(engine) as db:
        items = {i.key: i for i in db.scalars(select(WorkItem))}
    assert items["WI-000003"].title == "Renamed on GitHub"
    assert items["WI-000004"].status == "cancelled"
    assert items["WI-000005"].title == "Local title"
    assert compare_remote(engine, gh).ok
    assert gh.run(engine).writes == 0


def test_items_of_a_project_with_its_own_repository_sync_there(fresh: Callable[[], Engine]) -> None:
    engine, gh = fresh(), github()
    with session(engine) as db:
        project = Project(key="OWN", name="Own", repository_url="https://github.com/octo-org/own-repo")
        db.add(project)
        db.flush()
        db.execute(text("UPDATE work_items SET project_id = :p WHERE id <= 3"), {"p": project.id})
    gh.run(engine)
    assert len(gh.sim.issues("octo-org/own-repo")) == 3
    assert len(gh.sim.issues(gh.repository)) == 37
    assert compare_remote(engine, gh).ok


def _links(engine: Engine) -> dict[str, int]:
    with session(engine, readonly=True) as db:
        rows = db.execute(
            select(WorkItem.key, GitHubLink.issue_number).join(
                GitHubLink, GitHubLink.work_item_id == WorkItem.id
            )
        ).all()
    return {key: number for key, number in rows if number is not None}


# -- property: any local change set, once synced, leaves the remote equal to local -------------
CHANGE = st.sampled_from(["title", "status", "tags", "criteria", "description", "dep_add", "dep_drop", "new"])
STATUSES = ("todo", "in_progress", "review", "blocked", "done", "cancelled")


def apply_change(engine: Engine, kind: str, n: int, draw: int) -> None:
    key = f"WI-{n:06d}"
    with session(engine) as db:
        item = db.scalars(select(WorkItem).where(WorkItem.key == key)).one()
        if kind == "title":
            item.title = f"Changed {draw}"
        elif kind == "status":
            item.status = STATUSES[draw % len(STATUSES)]
        elif kind == "description":
            item.description = f"New description {draw}\nwith two lines"
        elif kind == "tags":
            tag = db.scalars(select(Tag).where(Tag.name == f"prop-{draw % 3}")).first()
            if tag is None:
                tag = Tag(name=f"prop-{draw % 3}")
                db.add(tag)
                db.flush()
            db.execute(delete(WorkItemTag).where(WorkItemTag.work_item_id == item.id))
            db.add(WorkItemTag(work_item_id=item.id, tag_id=tag.id))
        elif kind == "criteria":
            db.execute(delete(AcceptanceCriterion).where(AcceptanceCriterion.work_item_id == item.id))
            db.add(
                AcceptanceCriterion(work_item_id=item.id, position=0, text=f"crit {draw}", done=draw % 2 == 0)
            )
        elif kind == "dep_add" and n > 1:
            target = 1 + draw % (n - 1)
            db.execute(
                text("INSERT OR IGNORE INTO work_item_dependencies VALUES (:a, :b)"),
                {
                    "a": item.id,
                    "b": db.scalars(select(WorkItem.id).where(WorkItem.key == f"WI-{target:06d}")).one(),
                },
            )
        elif kind == "dep_drop":
            db.execute(delete(WorkItemDependency).where(WorkItemDependency.work_item_id == item.id))
        elif kind == "new":
            db.add(
                WorkItem(key=f"NEW-{draw}", title=f"New {draw}", status=STATUSES[draw % 6], priority="low")
            )


@pytest.fixture(scope="module")
def small_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("syncprop") / "small.db"
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=8, seed=5)
    forget_engine(url)
    return path


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(CHANGE, st.integers(1, 8), st.integers(0, 99)), max_size=8))
def test_any_local_change_set_leaves_remote_equal_to_local(
    small_template: Path, tmp_path: Path, changes: list[tuple[str, int, int]]
) -> None:
    target = tmp_path / f"prop{next(_copies)}.db"
    shutil.copy(small_template, target)
    url = f"sqlite:///{target}"
    engine = get_engine(url)
    try:
        gh = github()
        gh.run(engine)
        for kind, n, draw in changes:
            if kind == "new":
                with session(engine, readonly=True) as db:
                    if db.scalars(select(WorkItem.id).where(WorkItem.key == f"NEW-{draw}")).first():
                        continue
            apply_change(engine, kind, n, draw)
        summary = gh.run(engine)
        assert summary.ok
        check = compare_remote(engine, gh)
        assert check.ok, check
        assert gh.run(engine).writes == 0  # and nothing left to do
    finally:
        forget_engine(url)


def test_sync_on_each_backend(engine: Engine) -> None:
    """The store's bulk SQL on SQLite and PostgreSQL (``engine`` comes from conftest)."""
    seed_database(engine, items=12, seed=4)
    gh = github()
    assert gh.run(engine).created == 12
    edit(engine, "WI-000002", title="Edited", status="done")
    gh.sim.edit_issue(gh.repository, _links(engine)["WI-000003"], title="[WI-000003] From GitHub")
    gh.sim.edit_issue(gh.repository, _links(engine)["WI-000004"], state="closed", state_reason="completed")
    summary = gh.run(engine, pull=True)
    # WI-000002 pushed; WI-000004 pulled as done, then pushed once for its status label.
    assert summary.updated == 2 and summary.pulled == 2
    assert compare_remote(engine, gh).ok
    assert gh.run(engine).writes == 0
    # The pull's bulk writes went through the triggers: the dashboard's kept counts are exact.
    with connect(engine) as conn:
        off = derived.drift(conn)
        assert not any(off.values()), off
        assert summary_module.summary(conn) == summary_module.live_summary(conn)


def test_a_lost_links_table_is_rebuilt_by_marker_without_duplicates(fresh: Callable[[], Engine]) -> None:
    engine, gh = fresh(), github()
    gh.run(engine)
    with session(engine) as db:
        db.execute(delete(GitHubLink))
    summary = gh.run(engine)
    assert summary.created == 0 and summary.adopted == 40 and summary.writes == 0
    check = compare_remote(engine, gh)
    assert check.ok and check.issues == 40, check


def test_a_cached_node_id_github_no_longer_resolves_is_looked_up_again(fresh: Callable[[], Engine]) -> None:
    engine, gh = fresh(), github()
    gh.run(engine)
    with session(engine) as db:
        db.execute(text("UPDATE work_items SET title = title || ' (v2)'"))
        bad = db.scalars(select(WorkItem.id).where(WorkItem.key == "WI-000007")).one()
        db.execute(
            text("UPDATE github_links SET node_id = 'MDU6SXNzdWU5OTk5OTk=' WHERE work_item_id = :i"),
            {"i": bad},
        )
    gh.sim.reset_counters()
    summary = gh.run(engine)
    assert summary.ok and summary.updated == 40 and summary.recreated == 0
    # 40 in the first round; the one GitHub could not resolve is found by number and sent again.
    assert gh.sim.counters.graphql_fields["mutation.updateIssue"] == 41
    assert gh.sim.counters.received["GET /repos/{owner}/{repo}/issues/{issue_number}"] == 1
    check = compare_remote(engine, gh)
    assert check.ok and check.issues == 40, check
