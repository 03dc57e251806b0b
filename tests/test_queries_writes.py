"""Writes through ailab.queries: validated, all-or-nothing, and every write bumps data_revision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab import queries
from ailab.clock import FakeClock
from ailab.db import connect, session
from ailab.errors import NotFoundError, ValidationError

TABLES = ("work_items", "tags", "work_item_tags", "work_item_dependencies", "acceptance_criteria", "blockers")


def snapshot(engine: Engine) -> dict[str, Any]:
    with connect(engine) as c:
        counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
        counts["revision"] = queries.current_revision(c)
        counts["titles"] = sorted(c.execute(text("SELECT title FROM work_items")).scalars())
    return counts


@pytest.fixture
def base(engine: Engine) -> dict[str, Any]:
    with connect(engine, readonly=False) as w:
        w.execute(
            text(
                "INSERT INTO projects (key, name, description, status, created_at, updated_at) "
                "VALUES ('P1', 'Project one', '', 'active', '2025-01-01', '2025-01-01')"
            )
        )
        a = queries.create_work_item(w, {"title": "A", "tags": ["api"]})
        b = queries.create_work_item(w, {"title": "B", "depends_on": [a["key"]]})
        c = queries.create_work_item(w, {"title": "C", "depends_on": [b["id"]]})
    return {"a": a, "b": b, "c": c}


def test_create_returns_the_full_item_and_bumps_the_revision(engine: Engine, base: dict[str, Any]) -> None:
    before = snapshot(engine)
    clock = FakeClock(start=1_750_000_000.0)
    with session(engine) as s:
        item = queries.create_work_item(
            s,
            {
                "title": "  Ship it  ",
                "status": "in_progress",
                "priority": "high",
                "tags": ["api", "new-tag"],
                "depends_on": [base["a"]["id"], base["c"]["key"]],
                "criteria": ["one", {"text": "two", "done": True}],
                "blockers": ["waiting"],
                "project": "P1",
                "due_date": "2026-01-02T03:04:05Z",
                "estimated_hours": 3,
            },
            clock=clock,
        )
    assert item["key"] == f"WI-{item['id']:06d}"
    assert item["title"] == "Ship it"
    assert item["tags"] == ["api", "new-tag"]
    assert [d["id"] for d in item["depends_on"]] == sorted([base["a"]["id"], base["c"]["id"]])
    assert [c["text"] for c in item["criteria"]] == ["one", "two"]
    assert item["blockers"][0] == {"position": 1, "text": "waiting", "resolved": False}
    assert item["project"] == {"key": "P1", "name": "Project one"}
    assert item["created_at"] == item["updated_at"]
    assert item["created_at"] == datetime(2025, 6, 15, 15, 6, 40)
    after = snapshot(engine)
    assert after["revision"] > before["revision"]
    assert after["tags"] == before["tags"] + 1  # "api" reused, "new-tag" created


def test_update_replaces_lists_and_keeps_the_rest(engine: Engine, base: dict[str, Any]) -> None:
    with connect(engine, readonly=False) as w:
        item = queries.update_work_item(
            w, base["c"]["key"], {"status": "done", "tags": ["x", "y"], "depends_on": [], "criteria": ["c1"]}
        )
    assert item["status"] == "done" and item["tags"] == ["x", "y"]
    assert item["depends_on"] == [] and item["title"] == "C"
    with connect(engine, readonly=False) as w:
        item = queries.update_work_item(w, item["id"], {"title": "C2"})
    assert item["tags"] == ["x", "y"] and item["criteria"][0]["text"] == "c1"


BAD_CREATES = [
    ({"status": "todo"}, ValidationError, "title is required"),
    ({"title": ""}, ValidationError, "title cannot be empty"),
    ({"title": "t", "status": "open"}, ValidationError, "Unknown status 'open'"),
    ({"title": "t", "priority": "urgent"}, ValidationError, "Unknown priority"),
    ({"title": "t", "tags": ["a", "a"]}, ValidationError, "listed twice"),
    ({"title": "t", "tags": ["ok", ""]}, ValidationError, "not a non-empty text"),
    ({"title": "t", "depends_on": ["WI-999999"]}, NotFoundError, "Dependencies not found"),
    ({"title": "t", "depends_on": ["__A__", 987654]}, NotFoundError, "987654"),
    ({"title": "t", "key": "K-1", "depends_on": ["K-1"]}, ValidationError, "cannot depend on itself"),
    ({"title": "t", "key": "__A__"}, ValidationError, "already exists"),
    ({"title": "t", "project": "NOPE"}, NotFoundError, "No project with key 'NOPE'"),
    ({"title": "t", "colour": "red"}, ValidationError, "Unknown or read-only fields"),
    ({"title": "t", "due_date": "tomorrow"}, ValidationError, "ISO 8601"),
    ({"title": "t", "criteria": [{"text": "x", "done": "yes"}]}, ValidationError, "boolean done"),
    ({"title": "t", "estimated_hours": -1}, ValidationError, "non-negative"),
]


def test_invalid_creates_write_nothing(engine: Engine, base: dict[str, Any]) -> None:
    before = snapshot(engine)
    for data, error, message in BAD_CREATES:
        data = {k: _swap(v, base) for k, v in data.items()}
        # The caller swallows the error and its transaction commits: still nothing may stay.
        with connect(engine, readonly=False) as w, pytest.raises(error, match=message):
            queries.create_work_item(w, {**data, "tags": data.get("tags", ["fresh-tag"])})
        assert snapshot(engine) == before, data


BAD_UPDATES = [
    ("__C__", {"status": "open"}, ValidationError, "Unknown status"),
    ("__C__", {"key": "NEW"}, ValidationError, "keys cannot be changed"),
    ("__A__", {"depends_on": ["__A__"]}, ValidationError, "cannot depend on itself"),
    ("__A__", {"depends_on": ["__C__"]}, ValidationError, "cycle"),
    ("__A__", {"tags": ["z"], "depends_on": ["__B__"]}, ValidationError, "cycle"),
    ("__B__", {"tags": ["z", "z"]}, ValidationError, "listed twice"),
    ("__B__", {"title": "x", "depends_on": ["WI-424242"]}, NotFoundError, "WI-424242"),
    ("WI-424242", {"title": "x"}, NotFoundError, "No work item 'WI-424242'"),
    ("__B__", {"parent": "__B__"}, ValidationError, "own parent"),
]


@pytest.mark.parametrize(("ref", "patch", "error", "message"), BAD_UPDATES)
def test_invalid_updates_write_nothing(
    engine: Engine,
    base: dict[str, Any],
    ref: str,
    patch: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    patch = {k: _swap(v, base) for k, v in patch.items()}
    before = snapshot(engine)
    with session(engine) as s, pytest.raises(error, match=message):
        queries.update_work_item(s, _swap(ref, base), {"title": "changed first", **patch})
    assert snapshot(engine) == before


def test_cycle_check_sees_long_chains(engine: Engine) -> None:
    with connect(engine, readonly=False) as w:
        ids = [queries.create_work_item(w, {"title": "n0"})["id"]]
        for n in range(1, 30):
            ids.append(queries.create_work_item(w, {"title": f"n{n}", "depends_on": [ids[-1]]})["id"])
        with pytest.raises(ValidationError, match="cycle"):
            queries.update_work_item(w, ids[0], {"depends_on": [ids[-1]]})
        queries.update_work_item(w, ids[-1], {"depends_on": [ids[0], ids[5]]})  # a diamond, not a cycle


def _swap(value: Any, base: dict[str, Any]) -> Any:
    names = {"__A__": base["a"]["key"], "__B__": base["b"]["key"], "__C__": base["c"]["key"]}
    if isinstance(value, list):
        return [names.get(v, v) if isinstance(v, str) else v for v in value]
    return names.get(value, value) if isinstance(value, str) else value
