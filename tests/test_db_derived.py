"""The derived data the triggers keep (ailab.db.derived) stays exact through every write path.

Each test changes the rows one way (the API's writes, raw SQL, the ORM, cascades, TRUNCATE,
a bulk load, the migration's backfill) and then holds the kept values to a recompute from the
rows: ``drift`` is all zero and the O(1) ``summary`` equals ``live_summary``.
"""

from __future__ import annotations

import importlib
import random
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ailab import queries
from ailab.db import derived
from ailab.db.migrate import downgrade, upgrade
from ailab.db.models import Tag, WorkItem
from ailab.db.seed import seed_database
from ailab.db.session import connect
from ailab.legacy.importer import import_legacy
from ailab.legacy.writer import BULK_DERIVED_ROWS
from ailab.testing.legacy_synth import generate
from ailab.vocab import PRIORITIES, STATUSES

summary_module = importlib.import_module("ailab.queries.summary")


def assert_exact(engine: Engine) -> None:
    with connect(engine) as conn:
        off = derived.drift(conn)
        assert not any(off.values()), off
        assert summary_module.summary(conn) == summary_module.live_summary(conn)


def _random_writes(conn: Connection, rng: random.Random, steps: int) -> None:
    tag_pool = [f"t{n}" for n in range(8)]
    ids: list[int] = []
    start = datetime(2025, 1, 6)
    for step in range(steps):
        action = rng.random()
        if action < 0.35 or len(ids) < 3:
            item = queries.create_work_item(
                conn,
                {
                    "title": f"item {step}",
                    "status": rng.choice(STATUSES),
                    "priority": rng.choice(PRIORITIES),
                    "created_at": start + timedelta(days=rng.randrange(400), hours=rng.randrange(24)),
                    "tags": rng.sample(tag_pool, rng.randint(0, 3)),
                    "depends_on": rng.sample(ids, min(len(ids), rng.randint(0, 2))),
                },
            )
            ids.append(item["id"])
        elif action < 0.7:
            target = rng.choice(ids)
            patch: dict[str, Any] = {rng.choice(("status", "priority", "tags")): None}
            if "status" in patch:
                patch["status"] = rng.choice(STATUSES)
            if "priority" in patch:
                patch["priority"] = rng.choice(PRIORITIES)
            if "tags" in patch:
                patch["tags"] = rng.sample(tag_pool, rng.randint(0, 3))
            queries.update_work_item(conn, target, patch)
        elif action < 0.8:
            # Dependencies replaced as a whole, only on earlier items (no cycles).
            target = rng.choice(ids[1:])
            earlier = [i for i in ids if i < target]
            queries.update_work_item(conn, target, {"depends_on": rng.sample(earlier, min(len(earlier), 2))})
        elif action < 0.9:
            # Behind the API's back: a created_at move and a bulk status change over several rows.
            conn.execute(
                text("UPDATE work_items SET created_at = :c WHERE id = :i"),
                {"c": start + timedelta(days=rng.randrange(400)), "i": rng.choice(ids)},
            )
            conn.execute(
                text("UPDATE work_items SET status = :s WHERE id IN (:a, :b)"),
                {"s": rng.choice(STATUSES), "a": rng.choice(ids), "b": rng.choice(ids)},
            )
        else:
            # A delete: its links and edges go by cascade, its dependants lose a dependency.
            victim = ids.pop(rng.randrange(len(ids)))
            conn.execute(text("DELETE FROM work_items WHERE id = :i"), {"i": victim})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writes_keep_every_derived_value_exact(engine: Engine, seed: int) -> None:
    with connect(engine, readonly=False) as conn:
        _random_writes(conn, random.Random(seed), 120)
    assert_exact(engine)
    with connect(engine) as conn:
        counts = summary_module.summary(conn)
    assert counts["total"] > 0 and counts["blocked"] >= 0


def test_blocked_follows_the_dependency_status(engine: Engine) -> None:
    with connect(engine, readonly=False) as w:
        a = queries.create_work_item(w, {"title": "a", "status": "todo"})["id"]
        b = queries.create_work_item(w, {"title": "b", "status": "todo", "depends_on": [a]})["id"]

    def blocked() -> int:
        with connect(engine) as c:
            return int(summary_module.summary(c)["blocked"])

    assert blocked() == 1  # b waits on a
    with connect(engine, readonly=False) as w:
        queries.update_work_item(w, a, {"status": "done"})
    assert blocked() == 0  # a finished: b no longer waits
    with connect(engine, readonly=False) as w:
        queries.update_work_item(w, a, {"status": "review"})
    assert blocked() == 1  # reopened
    with connect(engine, readonly=False) as w:
        queries.update_work_item(w, b, {"status": "cancelled"})
    assert blocked() == 0  # a cancelled item waits for nothing
    with connect(engine, readonly=False) as w:
        queries.update_work_item(w, b, {"status": "todo"})
        w.execute(text("DELETE FROM work_items WHERE id = :a"), {"a": a})
    assert blocked() == 0  # its dependency is gone
    assert_exact(engine)


def test_orm_link_rows_get_the_item_created_at(engine: Engine) -> None:
    created = datetime(2024, 5, 17, 9, 30)
    with Session(engine) as session, session.begin():
        tag = Tag(name="orm-tag")
        session.add(WorkItem(key="ORM-1", title="via the ORM", created_at=created, tags=[tag]))
    with connect(engine) as conn:
        row = conn.execute(
            text(
                "SELECT item_created_at, (SELECT item_count FROM tags WHERE name = 'orm-tag') FROM work_item_tags"
            )
        ).one()
        page = queries.list_work_items(conn, tags_any=["orm-tag"])
    assert row[1] == 1
    assert [i["key"] for i in page.items] == ["ORM-1"]
    assert_exact(engine)


def test_tag_delete_cascades_and_counts_follow(engine: Engine) -> None:
    with connect(engine, readonly=False) as w:
        for n in range(3):
            queries.create_work_item(w, {"title": f"x{n}", "tags": ["keep", "drop"]})
        w.execute(text("DELETE FROM tags WHERE name = 'drop'"))
    with connect(engine) as conn:
        assert summary_module.summary(conn)["top_tags"] == [{"name": "keep", "count": 3}]
    assert_exact(engine)


def test_truncate_on_postgres_rebuilds(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is Postgres'; SQLite's DELETE without WHERE fires row triggers")
    with connect(engine, readonly=False) as w:
        _random_writes(w, random.Random(7), 40)
        w.execute(text("TRUNCATE work_item_tags, work_item_dependencies"))
    assert_exact(engine)
    with connect(engine, readonly=False) as w:
        w.execute(text("TRUNCATE work_items CASCADE"))
    assert_exact(engine)
    with connect(engine) as conn:
        assert summary_module.summary(conn)["total"] == 0


def test_bulk_load_rebuilds_and_a_failed_one_keeps_the_triggers(engine: Engine) -> None:
    seed_database(engine, 400, seed=5)
    assert_exact(engine)
    with (
        pytest.raises(RuntimeError, match="mid-load"),
        connect(engine, readonly=False) as w,
        derived.triggers_suspended(w),
    ):
        w.execute(text("UPDATE work_items SET status = 'done'"))
        raise RuntimeError("mid-load failure")
    # Rolled back with the load: the triggers are still there and still keep the counts.
    with connect(engine, readonly=False) as w:
        w.execute(text("UPDATE work_items SET status = 'done' WHERE id % 3 = 0"))
    assert_exact(engine)


def test_migration_backfills_an_existing_database(db_url: str, engine: Engine) -> None:
    seed_database(engine, 300, seed=9)
    with connect(engine) as conn:
        before = summary_module.live_summary(conn)
    downgrade(engine, "0001")
    upgrade(engine)
    assert_exact(engine)
    with connect(engine) as conn:
        assert summary_module.summary(conn) == before


def test_cli_check_reports_drift_and_repairs_it(db_url: str, engine: Engine) -> None:
    from typer.testing import CliRunner

    from ailab.cli import app

    seed_database(engine, 50, seed=3)
    runner = CliRunner()
    ok = runner.invoke(app, ["db", "check", "--database-url", db_url])
    assert ok.exit_code == 0 and "summary_counts: exact" in ok.output
    with connect(engine, readonly=False) as w:  # a value knocked off behind the triggers' back
        w.execute(text("UPDATE summary_counts SET n = n + 5 WHERE kind = 'status' AND key = 'todo'"))
    off = runner.invoke(app, ["db", "check", "--database-url", db_url])
    assert off.exit_code == 1 and "summary_counts: 1 value differs" in off.output and "--repair" in off.output
    fixed = runner.invoke(app, ["db", "check", "--repair", "--database-url", db_url])
    assert fixed.exit_code == 0 and "recomputed" in fixed.output
    assert_exact(engine)


def test_legacy_imports_keep_derived_exact(engine: Engine, tmp_path: Path, shared_dir: Path) -> None:
    # The real file (78 items: row triggers), then a synthetic one large enough for the bulk
    # path (triggers suspended, one rebuild), then an edited re-import.
    import_legacy(shared_dir / "legacy" / "ai_lab.db", engine)
    assert_exact(engine)
    source = tmp_path / "synthetic.db"
    generate(source, items=BULK_DERIVED_ROWS + 200, generation=2, seed=4, messes=True)
    import_legacy(source, engine, replace=True)  # another file over the same ids: asked for
    assert_exact(engine)


def test_concurrent_api_writers_keep_counts_exact(engine: Engine) -> None:
    # Items that depend on each other, flipped open/closed by 4 threads at once: each write
    # takes the revision lock first, so the counter rows see one writer at a time.
    with connect(engine, readonly=False) as w:
        ids: list[int] = []
        for n in range(12):
            ids.append(queries.create_work_item(w, {"title": f"c{n}", "depends_on": ids[-2:]})["id"])
    errors: list[BaseException] = []

    def flip(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(25):
                with connect(engine, readonly=False) as w:
                    queries.update_work_item(w, rng.choice(ids), {"status": rng.choice(STATUSES)})
        except BaseException as err:  # reported below, with the thread's seed
            errors.append(err)

    threads = [threading.Thread(target=flip, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_exact(engine)
