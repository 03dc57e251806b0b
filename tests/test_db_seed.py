from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab.db import connect
from ailab.db.seed import seed_database
from ailab.vocab import PRIORITIES, STATUSES


def _rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with connect(engine) as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_seed_is_deterministic_and_realistic(engine: Engine) -> None:
    result = seed_database(engine, items=500, seed=3)
    assert result.items == 500
    assert _rows(engine, "SELECT COUNT(*) FROM work_items") == [(500,)]
    statuses = dict(_rows(engine, "SELECT status, COUNT(*) FROM work_items GROUP BY status"))
    assert set(statuses) <= set(STATUSES) and statuses["todo"] > statuses.get("review", 0)
    priorities = dict(_rows(engine, "SELECT priority, COUNT(*) FROM work_items GROUP BY priority"))
    assert set(priorities) <= set(PRIORITIES)
    per_item = dict(_rows(engine, "SELECT work_item_id, COUNT(*) FROM work_item_tags GROUP BY work_item_id"))
    assert max(per_item.values()) <= 6
    # Long tail: the most used tag is used far more than the median one.
    counts = sorted(
        (c for (c,) in _rows(engine, "SELECT COUNT(*) FROM work_item_tags GROUP BY tag_id")), reverse=True
    )
    assert counts[0] >= 5 * counts[len(counts) // 2]
    # Dependencies only point backwards: a DAG.
    assert _rows(
        engine, "SELECT COUNT(*) FROM work_item_dependencies WHERE depends_on_id >= work_item_id"
    ) == [(0,)]
    assert result.tag_links == _rows(engine, "SELECT COUNT(*) FROM work_item_tags")[0][0]
    assert result.dependencies == _rows(engine, "SELECT COUNT(*) FROM work_item_dependencies")[0][0]


def test_same_seed_same_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ailab.db.engine import get_engine
    from ailab.db.migrate import upgrade

    snapshots = []
    for name in ("a", "b"):
        engine = get_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        seed_database(engine, items=200, seed=11)
        snapshots.append(
            _rows(engine, "SELECT key, title, status, priority, created_at FROM work_items ORDER BY id")
            + _rows(engine, "SELECT * FROM work_item_tags ORDER BY 1, 2")
        )
    assert snapshots[0] == snapshots[1]


def test_seeding_twice_appends_without_collisions(engine: Engine) -> None:
    seed_database(engine, items=50, seed=1)
    [(first,)] = _rows(engine, "SELECT revision FROM data_revision")
    seed_database(engine, items=50, seed=2)
    assert _rows(engine, "SELECT COUNT(*), COUNT(DISTINCT key) FROM work_items") == [(100, 100)]
    [(second,)] = _rows(engine, "SELECT revision FROM data_revision")
    assert 0 < first < second  # each seed moves the data revision
