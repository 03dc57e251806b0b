"""A model-based test of the work-item reads (Hypothesis ``RuleBasedStateMachine``).

The detail page is one statement of JSON aggregates and the list page one statement of
concatenated relations, each written twice (SQLite and Postgres SQL). This drives them with
random creates and updates (awkward text, tags, dependencies, criteria, blockers) and, after
every step, compares what they read with a plain Python model of what was written:

* every item's detail: fields, tags by code point, ``depends_on`` and ``blocks`` by id, criteria
  and blockers by position, with their flags;
* every tag's list page, newest first, each row with its tags and dependency ids;
* a refused write (a dependency cycle) changes nothing.

Deterministic (``derandomize``) and small enough for ``make test`` on both engines.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import Engine

from ailab import queries
from ailab.db import connect
from ailab.errors import ConflictError
from ailab.vocab import PRIORITIES, STATUSES

# Text a client may send: anything printable, quotes and backslashes, non-ASCII and astral
# characters, separators JSON escapes; no surrogates or control characters (the API refuses them).
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x1f"), min_size=1, max_size=24
).filter(lambda s: s.strip() != "")
CHECKLIST = st.lists(st.tuples(TEXT, st.booleans()), max_size=3)
TAG_POOL = ("alpha", "Beta", "émoji-🐍", "zeta", "a b", 'quote"tag', "back\\slash")
_runs = itertools.count()


@dataclass
class Item:
    id: int
    key: str
    title: str
    status: str
    priority: str
    tags: set[str] = field(default_factory=set)
    depends_on: set[int] = field(default_factory=set)
    criteria: list[tuple[str, bool]] = field(default_factory=list)
    blockers: list[tuple[str, bool]] = field(default_factory=list)


def _checklist(rows: list[tuple[str, bool]], flag: str) -> list[dict[str, Any]]:
    return [{"text": text, flag: value} for text, value in rows]


def reads_match_the_model(engine: Engine) -> type[RuleBasedStateMachine]:
    class WorkItemReads(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Tags of this run only, so every tag page holds exactly the model's items.
            self.prefix = f"m{next(_runs)}-"
            self.items: dict[int, Item] = {}

        def tag(self, name: str) -> str:
            return self.prefix + name

        def reaches(self, start: int, target: int) -> bool:
            seen, todo = set(), [start]
            while todo:
                current = todo.pop()
                if current == target:
                    return True
                if current not in seen:
                    seen.add(current)
                    todo.extend(self.items[current].depends_on)
            return False

        @rule(
            title=TEXT,
            status=st.sampled_from(STATUSES),
            priority=st.sampled_from(PRIORITIES),
            tags=st.sets(st.sampled_from(TAG_POOL), max_size=4),
            deps=st.sets(st.integers(0, 50), max_size=3),
            criteria=CHECKLIST,
            blockers=CHECKLIST,
        )
        def create(
            self,
            title: str,
            status: str,
            priority: str,
            tags: set[str],
            deps: set[int],
            criteria: list[tuple[str, bool]],
            blockers: list[tuple[str, bool]],
        ) -> None:
            known = sorted(self.items)
            depends_on = {known[i % len(known)] for i in deps} if known else set()
            data = {
                "title": title,
                "status": status,
                "priority": priority,
                "tags": [self.tag(t) for t in tags],
                "depends_on": sorted(depends_on),
                "criteria": _checklist(criteria, "done"),
                "blockers": _checklist(blockers, "resolved"),
            }
            with connect(engine, readonly=False) as conn:
                made = queries.create_work_item(conn, data)
            self.items[made["id"]] = Item(
                made["id"],
                made["key"],
                title.strip(),
                status,
                priority,
                {self.tag(t) for t in tags},
                depends_on,
                [(t.strip(), d) for t, d in criteria],
                [(t.strip(), r) for t, r in blockers],
            )

        @precondition(lambda self: bool(self.items))
        @rule(
            pick=st.integers(0, 10**6),
            title=st.none() | TEXT,
            tags=st.none() | st.sets(st.sampled_from(TAG_POOL), max_size=4),
            criteria=st.none() | CHECKLIST,
            status=st.none() | st.sampled_from(STATUSES),
        )
        def update(
            self,
            pick: int,
            title: str | None,
            tags: set[str] | None,
            criteria: list[tuple[str, bool]] | None,
            status: str | None,
        ) -> None:
            item = self.items[sorted(self.items)[pick % len(self.items)]]
            patch: dict[str, Any] = {}
            if title is not None:
                patch["title"], item.title = title, title.strip()
            if tags is not None:
                patch["tags"], item.tags = [self.tag(t) for t in tags], {self.tag(t) for t in tags}
            if criteria is not None:
                patch["criteria"] = _checklist(criteria, "done")
                item.criteria = [(t.strip(), d) for t, d in criteria]
            if status is not None:
                patch["status"], item.status = status, status
            with connect(engine, readonly=False) as conn:
                queries.update_work_item(conn, item.key, patch, savepoint=False)

        @precondition(lambda self: len(self.items) >= 2)
        @rule(pick=st.integers(0, 10**6), other=st.integers(0, 10**6))
        def depend(self, pick: int, other: int) -> None:
            """Add a dependency; one that would close a cycle is refused and changes nothing."""
            ids = sorted(self.items)
            item, target = self.items[ids[pick % len(ids)]], ids[other % len(ids)]
            wanted = sorted(item.depends_on | {target})
            if target == item.id or self.reaches(target, item.id):
                with pytest.raises(ConflictError), connect(engine, readonly=False) as conn:
                    queries.update_work_item(conn, item.id, {"depends_on": wanted, "status": "done"})
                return
            with connect(engine, readonly=False) as conn:
                queries.update_work_item(conn, item.id, {"depends_on": wanted})
            item.depends_on = set(wanted)

        @invariant()
        def every_detail_matches(self) -> None:
            blocks: dict[int, set[int]] = {i: set() for i in self.items}
            for item in self.items.values():
                for dep in item.depends_on:
                    blocks[dep].add(item.id)

            def side(ids: set[int]) -> list[dict[str, Any]]:
                return [
                    {
                        "id": i,
                        "key": self.items[i].key,
                        "title": self.items[i].title,
                        "status": self.items[i].status,
                    }
                    for i in sorted(ids)
                ]

            with connect(engine) as conn:
                for item in self.items.values():
                    got = queries.get_work_item(conn, item.key if item.id % 2 else item.id)
                    assert (got["id"], got["key"], got["title"]) == (item.id, item.key, item.title)
                    assert (got["status"], got["priority"]) == (item.status, item.priority)
                    assert got["tags"] == sorted(item.tags)
                    assert got["depends_on"] == side(item.depends_on)
                    assert got["blocks"] == side(blocks[item.id])
                    assert got["criteria"] == [
                        {"position": n, "text": t, "done": d} for n, (t, d) in enumerate(item.criteria, 1)
                    ]
                    assert got["blockers"] == [
                        {"position": n, "text": t, "resolved": r} for n, (t, r) in enumerate(item.blockers, 1)
                    ]

        @invariant()
        def every_tag_page_matches(self) -> None:
            with connect(engine) as conn:
                for name in TAG_POOL:
                    tag = self.tag(name)
                    page = queries.list_work_items(conn, tags_all=[tag], limit=200)
                    expected = sorted((i for i in self.items.values() if tag in i.tags), key=lambda i: -i.id)
                    assert [row["id"] for row in page.items] == [i.id for i in expected]
                    for row, item in zip(page.items, expected, strict=True):
                        assert row["tags"] == sorted(item.tags)
                        assert row["depends_on"] == sorted(item.depends_on)
                        assert row["blocks"] == sorted(
                            i.id for i in self.items.values() if item.id in i.depends_on
                        )

    return WorkItemReads


def test_reads_match_a_model_of_the_writes(engine: Engine) -> None:
    machine = reads_match_the_model(engine)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=12,
            stateful_step_count=12,
            derandomize=True,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
