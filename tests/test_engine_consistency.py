"""SQLite and Postgres answer alike: title search folds non-ASCII letters on both, and tag lists
come in one defined order (code points), whatever the database's collation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab import queries
from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.db.session import connect
from ailab.testing.scratch import forget_engine, scratch_schema

TITLES = ["Über alles", "über-cache", "Straße bauen", "Crème BRÛLÉE", "uber rides", "plain ascii"]
TAGS = ["b", "B", "a", "Ä", "z", "é", "Zeta", "alpha"]


@pytest.fixture(params=["sqlite", "postgres-icu"])
def icu_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database; on Postgres its text columns use an ICU collation (as a database
    created with ICU would), where 'a' < 'B' < 'b' instead of code point order."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.db'}"
        upgrade(get_engine(url))
        yield get_engine(url)
        forget_engine(url)
        return
    with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_i15") as url:
        engine = get_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            for table, column in (("tags", "name"), ("work_items", "title")):
                conn.execute(
                    text(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar COLLATE "und-x-icu"')
                )
        yield engine


def _titles(engine: Engine, q: str) -> list[str]:
    with connect(engine) as conn:
        return sorted(item["title"] for item in queries.list_work_items(conn, q=q, limit=100).items)


def test_title_search_folds_non_ascii_letters_on_both_engines(icu_engine: Engine) -> None:
    with connect(icu_engine, readonly=False) as conn:
        for title in TITLES:
            queries.create_work_item(conn, {"title": title})
    assert _titles(icu_engine, "über") == ["Über alles", "über-cache"]  # main, SQLite: only "über-cache"
    assert _titles(icu_engine, "ÜBER") == ["Über alles", "über-cache"]
    assert _titles(icu_engine, "brûlée") == ["Crème BRÛLÉE"]
    assert _titles(icu_engine, "STRASSE") == []  # folding is lower-casing, not ß -> ss, on both
    assert _titles(icu_engine, "straße") == ["Straße bauen"]
    assert _titles(icu_engine, "UBER") == ["uber rides"]  # u is not ü
    assert _titles(icu_engine, "ber") == ["uber rides", "Über alles", "über-cache"]


def test_tags_come_in_code_point_order_whatever_the_collation(icu_engine: Engine) -> None:
    with connect(icu_engine, readonly=False) as conn:
        item = queries.create_work_item(conn, {"title": "tagged", "tags": TAGS})
        # Two tags with the same count: the tie at the top-tags cut is broken by code point too.
        queries.create_work_item(conn, {"title": "second", "tags": ["a", "B"]})
    with connect(icu_engine) as conn:
        detail = queries.get_work_item(conn, item["key"])
        page = queries.list_work_items(conn, limit=10)
        summary = queries.summary(conn)
    assert detail["tags"] == sorted(TAGS)  # ['B', 'Zeta', 'a', 'alpha', 'b', 'z', 'Ä', 'é']
    listed = next(i for i in page.items if i["key"] == item["key"])
    assert listed["tags"] == sorted(TAGS)
    top = [t["name"] for t in summary["top_tags"]]
    assert top[:2] == ["B", "a"]  # count 2 each: by code point, not the collation's a < B
