"""ailab.queries on SQLite and Postgres: results match the data, pages are exact, budgets hold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ailab import queries
from ailab.db import connect, get_engine, trace
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.errors import NotFoundError, ValidationError
from ailab.queries import items as items_module
from ailab.testing.scratch import forget_engine, scratch_schema
from ailab.vocab import CLOSED_STATUSES, OPEN_STATUSES

LIST_BUDGET = 3
DETAIL_BUDGET = 1  # the related lists come aggregated as JSON in the item's row
SUMMARY_BUDGET = 5
BLOCKERS_BUDGET = 2


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def read_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One seeded database per backend for this module's read-only tests (seeding per test is slow)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('queries') / 'read.db'}"
        yield _seeded(url)
        forget_engine(url)
    else:
        with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_testq") as url:
            yield _seeded(url)


def _seeded(url: str) -> Engine:
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=300, seed=7)
    return engine


@pytest.fixture
def conn(read_engine: Engine) -> Iterator[Connection]:
    with connect(read_engine) as c:
        yield c


def all_items(conn: Connection) -> list[dict[str, Any]]:
    """Every item with its tags, newest first, computed the slow obvious way."""
    rows = conn.execute(
        text(
            "SELECT w.id, w.key, w.title, w.status, w.priority, w.created_at, p.key AS project "
            "FROM work_items w LEFT JOIN projects p ON p.id = w.project_id"
        )
    ).all()
    tag_rows = conn.execute(
        text("SELECT l.work_item_id, t.name FROM work_item_tags l JOIN tags t ON t.id = l.tag_id")
    ).all()
    tags: dict[int, set[str]] = {}
    for item_id, name in tag_rows:
        tags.setdefault(item_id, set()).add(name)
    result = [dict(r._mapping) | {"tags": tags.get(r.id, set())} for r in rows]
    # created_at may come back as text on SQLite (raw SQL); ids break ties either way.
    by_id = {r["id"]: r for r in result}
    ordered = conn.execute(text("SELECT id FROM work_items ORDER BY created_at DESC, id DESC")).scalars()
    return [by_id[i] for i in ordered]


def collect(conn: Connection, limit: int = 7, **filters: Any) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(1000):
        page = queries.list_work_items(conn, limit=limit, cursor=cursor, **filters)
        assert len(page.items) <= limit
        ids += [item["id"] for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


def popular_and_rare_tags(conn: Connection) -> tuple[str, str]:
    counts = conn.execute(
        text(
            "SELECT t.name, count(*) AS n FROM work_item_tags l JOIN tags t ON t.id = l.tag_id "
            "GROUP BY t.name ORDER BY n DESC, t.name"
        )
    ).all()
    return counts[0][0], counts[-1][0]


def test_first_page_is_newest_first_with_tags_and_dependencies(conn: Connection) -> None:
    expected = all_items(conn)
    page = queries.list_work_items(conn, limit=50)
    assert [i["id"] for i in page.items] == [e["id"] for e in expected[:50]]
    assert page.next_cursor is not None
    for item, exp in zip(page.items, expected, strict=False):
        assert set(item["tags"]) == exp["tags"] and item["tags"] == sorted(item["tags"])
        assert item["project"] == exp["project"]
    deps = conn.execute(text("SELECT work_item_id, depends_on_id FROM work_item_dependencies")).all()
    for item in page.items:
        assert item["depends_on"] == sorted(d for w, d in deps if w == item["id"])
        assert item["blocks"] == sorted(w for w, d in deps if d == item["id"])


@pytest.mark.parametrize(
    "filters",
    [
        {"status": ["todo"]},
        {"status": ["in_progress", "review"], "priority": ["high"]},
        {"priority": ["critical"]},
        {"project": "DEMO-2"},
        {"project": "NO-SUCH-PROJECT"},
        {"q": "cache"},
        {"q": "%"},
        {"tags_any": ["__popular__", "__rare__"]},
        {"tags_all": ["__popular__"]},
        {"tags_all": ["__popular__", "__rare__"]},
        {"tags_all": ["no-such-tag"]},
        {"status": ["todo", "done"], "tags_any": ["__popular__"], "q": "a"},
    ],
)
def test_filters_match_the_data_across_all_pages(conn: Connection, filters: dict[str, Any]) -> None:
    popular, rare = popular_and_rare_tags(conn)
    swap = {"__popular__": popular, "__rare__": rare}
    for name in ("tags_any", "tags_all"):
        if name in filters:
            filters[name] = [swap.get(t, t) for t in filters[name]]

    def keep(item: dict[str, Any]) -> bool:
        return (
            ("status" not in filters or item["status"] in filters["status"])
            and ("priority" not in filters or item["priority"] in filters["priority"])
            and ("project" not in filters or item["project"] == filters["project"])
            and ("q" not in filters or filters["q"].lower() in item["title"].lower())
            and ("tags_any" not in filters or bool(item["tags"] & set(filters["tags_any"])))
            and ("tags_all" not in filters or set(filters["tags_all"]) <= item["tags"])
        )

    expected = [i["id"] for i in all_items(conn) if keep(i)]
    got = collect(conn, limit=13, **filters)
    assert got == expected
    assert len(set(got)) == len(got)


@pytest.mark.parametrize("rare_tag_links", [0, 5, 2000])
def test_both_tag_plans_return_the_same_pages(
    conn: Connection, monkeypatch: pytest.MonkeyPatch, rare_tag_links: int
) -> None:
    """The page statement switches plan on a candidate count; each branch must be exact."""
    monkeypatch.setattr(items_module, "RARE_TAG_LINKS", rare_tag_links)
    popular, rare = popular_and_rare_tags(conn)
    everything = all_items(conn)
    for tag in (popular, rare):
        assert collect(conn, limit=9, tags_all=[tag]) == [i["id"] for i in everything if tag in i["tags"]]


def test_keyset_pages_have_no_duplicates_or_gaps_while_rows_are_inserted(seeded_engine: Engine) -> None:
    with connect(seeded_engine) as c:
        before = [i["id"] for i in all_items(c)]
    seen: list[int] = []
    cursor = None
    newest = datetime(2030, 1, 1)
    page_no = 0
    while True:
        with connect(seeded_engine) as c:
            page = queries.list_work_items(c, limit=40, cursor=cursor)
        seen += [i["id"] for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
        page_no += 1
        # New items land both before the reading position (newer) and inside the range still to read.
        with connect(seeded_engine, readonly=False) as w:
            queries.create_work_item(
                w, {"title": f"newer {page_no}", "created_at": newest + timedelta(days=page_no)}
            )
    assert seen == before
    assert len(seen) == len(set(seen))


def test_cursor_equal_timestamps_break_ties_by_id(engine: Engine) -> None:
    same = datetime(2025, 5, 5, 12, 0, 0)
    with connect(engine, readonly=False) as w:
        for n in range(5):
            queries.create_work_item(w, {"title": f"tie {n}", "created_at": same})
    with connect(engine) as c:
        ids = collect(c, limit=2)
        assert ids == sorted(ids, reverse=True) and len(ids) == 5


def test_bad_inputs_raise_validation_errors(conn: Connection) -> None:
    with pytest.raises(ValidationError, match="Unknown status 'open'"):
        queries.list_work_items(conn, status=["open"])
    with pytest.raises(ValidationError, match="Unknown priority"):
        queries.list_work_items(conn, priority=["urgent"])
    for cursor in ("garbage", "!!!", queries.encode_cursor(datetime(2024, 1, 1), 1)[:-3] + "AAA", "e30"):
        with pytest.raises(ValidationError, match="Invalid cursor"):
            queries.list_work_items(conn, cursor=cursor)
    for limit in (0, 201, -1):
        with pytest.raises(ValidationError, match="limit"):
            queries.list_work_items(conn, limit=limit)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": ["todo"], "priority": ["high"]},
        {"tags_all": ["api", "backend"], "tags_any": ["ci", "docs"]},
    ],
)
def test_list_statement_budget(conn: Connection, filters: dict[str, Any]) -> None:
    first = queries.list_work_items(conn, limit=50, **filters)
    with trace() as t:
        page = queries.list_work_items(conn, limit=50, cursor=first.next_cursor, **filters)
    assert t.count <= LIST_BUDGET, t.summary()
    assert page.items or first.next_cursor is None


def test_get_work_item_has_everything(seeded_engine: Engine) -> None:
    with connect(seeded_engine, readonly=False) as w:
        a = queries.create_work_item(w, {"title": "upstream", "tags": ["x"]})
        b = queries.create_work_item(
            w,
            {
                "title": "the item",
                "tags": ["beta", "alpha"],
                "depends_on": [a["key"]],
                "criteria": ["works", {"text": "fast", "done": True}],
                "blockers": [{"text": "waiting on infra", "resolved": False}],
                "project": "DEMO-1",
            },
        )
        queries.create_work_item(w, {"title": "downstream", "depends_on": [b["id"]]})
        w.execute(
            text(
                "INSERT INTO github_links (work_item_id, repository, issue_number, state, created_at) "
                "VALUES (:id, 'o/r', 12, 'linked', :now)"
            ),
            {"id": b["id"], "now": datetime(2025, 1, 1)},
        )
    with connect(seeded_engine) as c, trace() as t:
        item = queries.get_work_item(c, b["key"])
    assert t.count <= DETAIL_BUDGET, t.summary()
    assert item["tags"] == ["alpha", "beta"]
    assert [d["key"] for d in item["depends_on"]] == [a["key"]]
    assert [d["title"] for d in item["blocks"]] == ["downstream"]
    assert item["criteria"] == [
        {"position": 1, "text": "works", "done": False},
        {"position": 2, "text": "fast", "done": True},
    ]
    assert item["blockers"] == [{"position": 1, "text": "waiting on infra", "resolved": False}]
    assert item["project"]["key"] == "DEMO-1"
    assert item["github"]["url"] == "https://github.com/o/r/issues/12"
    with connect(seeded_engine) as c:
        assert queries.get_work_item(c, b["id"])["key"] == b["key"]
        assert queries.get_work_item(c, str(b["id"]))["key"] == b["key"]
        with pytest.raises(NotFoundError, match="No work item 'WI-999999'"):
            queries.get_work_item(c, "WI-999999")


AWKWARD_TEXT = 'say "hi" \\ back\\slash, {json: [1]}, naïve café 漢字 🐍, line\u2028sep, tab\tend'


def test_get_work_item_keeps_awkward_text_exactly(seeded_engine: Engine) -> None:
    """The detail's lists travel as JSON built by the database: quotes, backslashes, non-ASCII
    and characters JSON escapes come back exactly, in the API's order (by id, by position)."""
    with connect(seeded_engine, readonly=False) as w:
        ups = [queries.create_work_item(w, {"title": f"{AWKWARD_TEXT} {n}"}) for n in range(3)]
        item = queries.create_work_item(
            w,
            {
                "title": "awkward",
                "tags": ["zeta", "Alpha", "émoji-🐍"],
                "depends_on": [u["key"] for u in reversed(ups)],
                "criteria": [AWKWARD_TEXT, {"text": "second", "done": True}],
                "blockers": [{"text": AWKWARD_TEXT, "resolved": True}],
            },
        )
    with connect(seeded_engine) as c, trace() as t:
        got = queries.get_work_item(c, item["key"])
    assert t.count == DETAIL_BUDGET, t.summary()
    # Plain str keys (not a str subclass such as Core's quoted_name): strict JSON encoders take them.
    assert {type(key) for key in got} == {str}
    assert got["tags"] == sorted(["zeta", "Alpha", "émoji-🐍"])  # by code point
    assert [d["id"] for d in got["depends_on"]] == sorted(u["id"] for u in ups)
    assert [d["title"] for d in got["depends_on"]] == [f"{AWKWARD_TEXT} {n}" for n in range(3)]
    assert got["criteria"] == [
        {"position": 1, "text": AWKWARD_TEXT, "done": False},
        {"position": 2, "text": "second", "done": True},
    ]
    assert got["blockers"] == [{"position": 1, "text": AWKWARD_TEXT, "resolved": True}]
    assert got["blocks"] == [] and got["github"] is None
    with connect(seeded_engine) as c:
        assert queries.get_work_item(c, ups[0]["id"])["blocks"] == [
            {"id": item["id"], "key": item["key"], "title": "awkward", "status": item["status"]}
        ]


def test_summary_matches_the_data(conn: Connection) -> None:
    with trace() as t:
        result = queries.summary(conn)
    assert t.count <= SUMMARY_BUDGET, t.summary()
    everything = all_items(conn)
    statuses = Counter(i["status"] for i in everything)
    assert result["total"] == len(everything)
    assert result["by_status"] == {s: statuses.get(s, 0) for s in result["by_status"]}
    assert result["by_priority"] == {
        p: sum(1 for i in everything if i["priority"] == p) for p in result["by_priority"]
    }
    assert result["open"] == sum(statuses[s] for s in OPEN_STATUSES)
    tag_counts = Counter(t for i in everything for t in i["tags"])
    top = sorted(tag_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [(t["name"], t["count"]) for t in result["top_tags"]] == top
    status_of = {i["id"]: i["status"] for i in everything}
    deps = conn.execute(text("SELECT work_item_id, depends_on_id FROM work_item_dependencies")).all()
    blocked = {
        w for w, d in deps if status_of[d] not in CLOSED_STATUSES and status_of[w] not in CLOSED_STATUSES
    }
    assert result["blocked"] == len(blocked)
    weekly = result["created_per_week"]
    assert len(weekly["weeks"]) == len(weekly["counts"]) == 52
    assert weekly["counts"][-1] > 0  # anchored on the newest item's week


def test_weekly_buckets_are_monday_weeks_ending_with_the_newest_item(engine: Engine) -> None:
    # 2025-03-05 is a Wednesday; its week starts Monday 2025-03-03.
    stamps = [
        datetime(2025, 3, 5, 10),
        datetime(2025, 3, 3, 0, 0),
        datetime(2025, 3, 2, 23, 59),
        datetime(2023, 1, 1),
    ]
    with connect(engine, readonly=False) as w:
        for n, stamp in enumerate(stamps):
            queries.create_work_item(w, {"title": f"w{n}", "created_at": stamp})
    with connect(engine) as c:
        weekly = queries.summary(c)["created_per_week"]
    assert weekly["weeks"][-1] == "2025-03-03"
    assert weekly["weeks"][0] == "2024-03-11"
    assert weekly["counts"][-1] == 2 and weekly["counts"][-2] == 1
    assert sum(weekly["counts"]) == 3  # 2023 is outside the 52 weeks


def test_empty_database_summary(engine: Engine) -> None:
    with connect(engine) as c:
        result = queries.summary(c)
    assert result["total"] == 0 and result["blocked"] == 0 and result["top_tags"] == []
    assert sum(result["created_per_week"]["counts"]) == 0


def test_transitive_blockers_terminate_on_a_cycle(engine: Engine) -> None:
    with connect(engine, readonly=False) as w:
        keys = [queries.create_work_item(w, {"title": f"n{n}"})["id"] for n in range(5)]
        a, b, c, d, e = keys
        # a -> b -> c -> d -> b (a cycle written behind the validation's back), e is unrelated.
        for src, dst in ((a, b), (b, c), (c, d), (d, b)):
            w.execute(
                text("INSERT INTO work_item_dependencies (work_item_id, depends_on_id) VALUES (:s, :d)"),
                {"s": src, "d": dst},
            )
    with connect(engine) as conn, trace() as t:
        chain = queries.transitive_blockers(conn, a)
    assert t.count <= BLOCKERS_BUDGET, t.summary()
    assert [(r["id"], r["depth"]) for r in chain] == [(b, 1), (c, 2), (d, 3)]
    with connect(engine) as conn:
        assert [r["id"] for r in queries.transitive_blockers(conn, a, max_depth=2)] == [b, c]
        assert queries.transitive_blockers(conn, e) == []
        # b's walk comes back round to b; the item itself is not its own blocker.
        assert [r["id"] for r in queries.transitive_blockers(conn, b)] == [c, d]
        # A bounded walk keeps the nearest blockers and says it stopped early.
        short = queries.blocker_chain(conn, a, max_edges=2)
        assert short.truncated and [r["id"] for r in short.blockers] == [b, c]
        assert not queries.blocker_chain(conn, a).truncated


def test_explain_shows_index_use_on_sqlite(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        pytest.skip("index names in EXPLAIN QUERY PLAN are SQLite's; Postgres plans depend on table size")
    stmt, params = items_module.page_query("sqlite", status=["todo"], priority=["high"])
    plan = queries.explain(conn, stmt, params)
    assert "ix_work_items_status_priority_created" in plan, plan
    # The index order serves the page's ORDER BY; the only sort left is the outer one over the
    # <= limit+1 page rows that carries their aggregated relations.
    page_block = plan.split("SCAN page")[0]
    assert "TEMP B-TREE" not in page_block, plan
    # One tag: a walk down (tag_id, item_created_at, work_item_id), no sort, no table scan.
    stmt, params = items_module.page_query("sqlite", tags_all=["api"])
    plan = queries.explain(conn, stmt, params)
    assert "ix_work_item_tags_tag_created (tag_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan.split("SCAN page")[0], plan
    assert "SCAN work_items" not in plan, plan
    # Several tags (any of): the rare/common plan pair, still no full scan of work_items.
    stmt, params = items_module.page_query("sqlite", tags_any=["api", "ci"])
    plan = queries.explain(conn, stmt, params)
    assert "ix_work_item_tags_tag_created (tag_id=?)" in plan, plan
    assert "SCAN work_items" not in plan.replace("SCAN work_items USING INDEX ix_work_items_created", ""), (
        plan
    )


def test_explain_runs_on_postgres_too(conn: Connection) -> None:
    stmt, params = items_module.page_query(conn.dialect.name, tags_all=["api"], status=["todo"])
    plan = queries.explain(conn, stmt, params)
    assert plan.strip()
