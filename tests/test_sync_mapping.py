"""Pure parts of the sync: item <-> issue mapping, content hashes, the three-way plan, pull."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from ailab.errors import ConfigError
from ailab.settings import Secret, Settings
from ailab.sync.apply import dependency_order, sent_hashes
from ailab.sync.config import SyncConfig, parse_repo, repo_from_url
from ailab.sync.mapping import (
    GroupHashes,
    IssueFields,
    IssueRef,
    LocalItem,
    find_marker,
    group_hashes,
    parse_body,
    parse_labels,
    parse_title,
    render,
)
from ailab.sync.mutations import Batch, state_from_hash, update_input
from ailab.sync.plan import ItemState, Kind, plan_item
from ailab.sync.pull import item_change
from ailab.sync.remote import RemoteIssue
from ailab.sync.store import Link

REPO = "octo/tracker"


def item(key: str = "WI-000001", **changes: object) -> LocalItem:
    base = LocalItem(
        id=1, key=key, title="Add cache", description="Make it fast.", status="todo", priority="high",
        type="task", tags=("perf", "backend"), criteria=(("p95 under 10 ms", False), ("documented", True)),
        depends_on=("WI-000002",), repository=REPO,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


REFS = {"WI-000002": IssueRef(REPO, 7, "NODE7"), "WI-000003": IssueRef("other/repo", 3, "NODE3")}


def test_render_title_body_labels_and_marker() -> None:
    fields = render(item(), REFS)
    assert fields.title == "[WI-000001] Add cache"
    assert "- [ ] p95 under 10 ms" in fields.body and "- [x] documented" in fields.body
    assert "- #7 WI-000002" in fields.body
    assert fields.body.rstrip().endswith("<!-- ailab:item=WI-000001 -->")
    assert find_marker(fields.body) == "WI-000001"
    assert fields.labels == {"perf", "backend", "status:todo", "priority:high", "type:task"}
    assert (fields.state, fields.state_reason) == ("open", None)
    assert fields.edges == {"WI-000002"}


def test_cross_repository_and_unlinked_dependencies() -> None:
    fields = render(item(depends_on=("WI-000003", "WI-000009")), REFS)
    assert "- other/repo#3 WI-000003" in fields.body
    assert "- WI-000009 (no issue yet)" in fields.body
    assert fields.edges == {"WI-000003"}  # only linked dependencies become native relations


@pytest.mark.parametrize(
    ("status", "state", "reason"),
    [("done", "closed", "completed"), ("cancelled", "closed", "not_planned"), ("blocked", "open", None)],
)
def test_status_maps_to_state(status: str, state: str, reason: str | None) -> None:
    fields = render(item(status=status), REFS)
    assert (fields.state, fields.state_reason) == (state, reason)
    assert state_from_hash(group_hashes(fields).state) == (state, reason)


def test_parse_round_trip() -> None:
    original = item()
    fields = render(original, REFS)
    body = parse_body(fields.body)
    assert body.description == original.description
    assert body.criteria == original.criteria
    assert parse_title(fields.title, original.key) == original.title
    labels = parse_labels(fields.labels)
    assert labels.tags == tuple(sorted(original.tags))
    assert (labels.status, labels.priority, labels.type) == ("todo", "high", "task")


def test_hash_groups_tell_what_changed() -> None:
    before = group_hashes(render(item(), REFS))
    after = group_hashes(render(item(title="Other", status="done"), REFS))
    assert before.differing(after) == {"title", "state", "labels"}  # the status label moves too
    packed = str(before)
    assert len(packed) == 60 and GroupHashes.parse(packed) == before
    # Windows line endings and trailing spaces added by an editor do not count as a change.
    fields = render(item(), REFS)
    edited = replace(fields, body=fields.body.replace("\n", " \r\n"))
    assert group_hashes(edited).body == before.body


def remote_of(fields: IssueFields, **changes: object) -> RemoteIssue:
    issue = RemoteIssue(7, 1007, "NODE1", fields.title, fields.body, fields.labels, fields.state,
                        fields.state_reason, datetime(2026, 1, 1), datetime(2026, 1, 1))  # fmt: skip
    return replace(issue, **changes)  # type: ignore[arg-type]


def linked(base: IssueFields) -> Link:
    return Link(1, REPO, 7, 1007, "NODE1", "linked", str(group_hashes(base)), None, datetime(2026, 1, 1))


def test_plan_create_recover_unchanged() -> None:
    local = render(item(), REFS)
    assert plan_item(ItemState(item(), None, local), pull=False, prefer_remote=False).kinds == {Kind.CREATE}
    pending = Link(1, REPO, None, None, None, "pending", None, None, datetime(2026, 1, 1))
    assert plan_item(ItemState(item(), pending, local), pull=False, prefer_remote=False).kinds == {
        Kind.RECOVER
    }
    same = plan_item(
        ItemState(item(), linked(local), local, remote_of(local)), pull=False, prefer_remote=False
    )
    assert same.kinds == {Kind.UNCHANGED} and not same.push


def test_plan_local_change_is_pushed() -> None:
    base = render(item(), REFS)
    local = render(item(title="New title", status="done"), REFS)
    plan = plan_item(ItemState(item(), linked(base), local), pull=False, prefer_remote=False)
    assert plan.kinds == {Kind.UPDATE, Kind.CLOSE}
    assert plan.push == {"title", "labels", "state"}


def test_plan_remote_change_waits_without_pull_and_is_pulled_with_it() -> None:
    base = render(item(), REFS)
    remote = remote_of(base, title="[WI-000001] Edited on GitHub")
    plan = plan_item(ItemState(item(), linked(base), base, remote), pull=False, prefer_remote=False)
    assert plan.kinds == {Kind.WAITING} and plan.waiting == {"title"} and not plan.push
    plan = plan_item(ItemState(item(), linked(base), base, remote), pull=True, prefer_remote=False)
    assert plan.kinds == {Kind.PULL} and plan.pull == {"title"}


def test_conflict_rule_state_remote_content_local() -> None:
    base = render(item(), REFS)
    local = render(item(title="Local title", status="done"), REFS)
    remote = remote_of(base, title="[WI-000001] Remote title", state="closed", state_reason="not_planned")
    plan = plan_item(ItemState(item(), linked(base), local, remote), pull=True, prefer_remote=False)
    winners = {c.group: c.winner for c in plan.conflicts}
    assert winners["title"] == "local" and winners["state"] == "remote"
    assert "title" in plan.push and "state" in plan.pull
    preferred = plan_item(ItemState(item(), linked(base), local, remote), pull=True, prefer_remote=True)
    assert {"title", "state"} <= preferred.pull and "title" not in preferred.push


def test_plan_edges_changed_means_relink() -> None:
    base = render(item(depends_on=()), REFS)
    local = render(item(), REFS)
    plan = plan_item(ItemState(item(), linked(base), local, None), pull=False, prefer_remote=False)
    assert plan.relink and Kind.RELINK in plan.kinds


def test_pull_turns_remote_fields_into_item_changes() -> None:
    local = item(status="done")
    remote = remote_of(
        render(local, REFS),
        title="[WI-000001] Renamed",
        body="New text\n\n### Acceptance criteria\n\n- [x] one\n- [ ] two\n\n<!-- ailab:item=WI-000001 -->",
        labels=frozenset({"ux", "priority:low", "status:in_progress", "type:bug"}),
        state="open",
        state_reason="reopened",
    )
    change = item_change(local, remote, frozenset({"title", "body", "labels", "state"}))
    assert change is not None
    assert change.title == "Renamed" and change.description == "New text"
    assert change.criteria == (("one", True), ("two", False))
    assert change.tags == ("ux",) and change.priority == "low" and change.type == "bug"
    assert change.status == "in_progress"  # reopened: the open status its label names
    closed = replace(remote, state="closed", state_reason="not_planned")
    assert (item_change(local, closed, frozenset({"state"})) or change).status == "cancelled"


def test_updates_send_only_pushed_groups() -> None:
    fields = render(item(), REFS)
    payload = update_input("NODE1", fields, frozenset({"title"}), ["L1"])
    assert payload == {"id": "NODE1", "title": fields.title}
    batch = Batch()
    batch.add(("updateIssue", "UpdateIssueInput", "issue { id }"), payload, "owner")
    query, variables = batch.document()
    assert "m0: updateIssue(input: $m0)" in query and variables == {"m0": payload}
    assert fields.title not in query  # user text travels in variables, never in the query


def test_new_issue_hashes_are_open_without_edges() -> None:
    hashes = sent_hashes(render(item(status="done"), REFS))
    assert state_from_hash(hashes.state) == ("open", None)


def test_dependency_order_puts_blockers_first() -> None:
    a, b, c = item("A", depends_on=("B",)), item("B", depends_on=("C",)), item("C", depends_on=())
    assert [i.key for i in dependency_order([a, b, c])] == ["C", "B", "A"]
    cyclic = [item("X", depends_on=("Y",)), item("Y", depends_on=("X",))]
    assert {i.key for i in dependency_order(cyclic)} == {"X", "Y"}


def test_config_names_what_to_fix() -> None:
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        SyncConfig.from_settings(Settings(github_repo="o/r"))
    with pytest.raises(ConfigError, match="AILAB_GITHUB_REPO='nope' is not"):
        SyncConfig.from_settings(Settings(github_repo="nope", github_token=Secret("t")))
    config = SyncConfig.from_settings(Settings(github_token=Secret("t")))
    with pytest.raises(ConfigError, match="AILAB_GITHUB_REPO=owner/name"):
        config.repository_for(None)
    assert str(repo_from_url("https://github.com/HerrSensei/ai-lab-framework-web-dashboard")) == (
        "HerrSensei/ai-lab-framework-web-dashboard"
    )
    assert str(repo_from_url("git@github.com:octo/tracker.git")) == "octo/tracker"
    assert parse_repo("octo/tracker").owner == "octo"
    with pytest.raises(ConfigError, match="repository_url of project P1"):
        config.repository_for("https://gitlab.com/x", "P1")


def test_report_rows_from_figures() -> None:
    from ailab.perf.baselines.sync import BaselineRun
    from ailab.perf.bench.sync import SyncFigures, extrapolated_push_hours, measurements
    from ailab.sync.summary import SyncSummary

    probe = {"octo-org/tracker": {"verdict": "agreed", "requests": 1}}
    unchanged = SyncSummary(requests=2, reads=2, not_modified=1, seconds=0.8, probe=probe)
    changed = SyncSummary(
        requests=51, reads=1, writes=50, write_requests=50, items_written=1000, seconds=50.0
    )
    grants = [(float(t), 1) for t in range(0, 31)]  # one creation every 0.75 s would be 80/min
    creation = SyncSummary(requests=32, creation_grants=[(t * 0.75, n) for t, n in grants], seconds=23.0)
    figures = SyncFigures(
        items=10_000, latency_ms=50, unchanged=unchanged, changed=changed, changed_items=1000,
        creation=creation, created_items=31, baseline=BaselineRun(8, 8.4, 8), read_calls=100,
        read_seconds=0.8, unchanged_runs=[0.8, 0.9, 1.0], content_ops_per_item=2.5,
    )  # fmt: skip
    rows = {m.name: m for m in measurements(figures, 100_000)}
    assert rows["re-sync 10,000 items, nothing changed"].verdict() == "met"
    assert rows["re-sync, nothing changed: read requests per 100 items"].p50 == pytest.approx(0.02)
    drift_probe = rows["re-sync 10,000 items, nothing changed: drift probe requests"]
    assert drift_probe.p50 == 1 and drift_probe.verdict() == "met" and "agreed" in drift_probe.note
    per_changed = rows["re-sync 10,000 items, 10% changed: per changed item"]
    assert per_changed.p50 == pytest.approx(50.0) and per_changed.ratio == pytest.approx(21.0)
    assert per_changed.verdict() == "met"  # <= 100 ms and <= baseline / 20
    assert rows["initial push: creation rate, % of the 80/min budget"].p50 == pytest.approx(100.0)
    creation_row = rows["initial push: issue creation, per item (sample of 31)"]
    assert creation_row.verdict() == "missed" and "impossible" in creation_row.note
    assert extrapolated_push_hours(100_000, 2.5) == pytest.approx(500.0)
    assert extrapolated_push_hours(100, 1.0) == pytest.approx(75 / 3600)
