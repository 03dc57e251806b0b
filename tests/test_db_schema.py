from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ailab.db import connect, get_engine, session
from ailab.db.migrate import current_revision, downgrade, head_revision, upgrade
from ailab.db.models import Base, Tag, WorkItem, WorkItemDependency, WorkItemTag
from ailab.errors import ValidationError
from ailab.testing.scratch import scratch_schema


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_mig") as url:
            yield url


def test_upgrade_from_empty_to_head_and_back(empty_url: str) -> None:
    engine = get_engine(empty_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"work_items", "tags", "work_item_tags", "work_item_dependencies", "github_links"} <= tables
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)  # and up again: downgrade left nothing behind that blocks it
    assert current_revision(engine) == head_revision()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def _item(key: str, **kw: object) -> WorkItem:
    return WorkItem(key=key, title=f"item {key}", **kw)


def test_unknown_status_is_rejected_with_the_vocabulary(engine: Engine) -> None:
    with pytest.raises(ValidationError, match=r"Unknown status 'open'.*todo, in_progress"):
        _item("A", status="open")


def test_database_also_refuses_unknown_status(engine: Engine) -> None:
    with pytest.raises(IntegrityError), connect(engine, readonly=False) as conn:
        conn.execute(
            text(
                "INSERT INTO work_items (key, title, description, status, priority, type, is_draft, archived,"
                " created_at, updated_at) VALUES ('X', 't', '', 'open', 'high', 'task', false, false,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )


def _count(engine: Engine, table: str) -> int:
    with connect(engine) as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_dependency_on_missing_item_writes_nothing(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session(engine) as sess:
        item = _item("A")
        sess.add(item)
        sess.flush()
        sess.add(WorkItemDependency(work_item_id=item.id, depends_on_id=999_999))
        sess.flush()
    assert _count(engine, "work_items") == 0


def test_self_dependency_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session(engine) as sess:
        item = _item("A")
        sess.add(item)
        sess.flush()
        sess.add(WorkItemDependency(work_item_id=item.id, depends_on_id=item.id))
        sess.flush()
    assert _count(engine, "work_items") == 0


def test_duplicate_tag_on_an_item_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session(engine) as sess:
        item, tag = _item("A"), Tag(name="x")
        sess.add_all([item, tag])
        sess.flush()
        sess.add(WorkItemTag(work_item_id=item.id, tag_id=tag.id))
        sess.flush()
        sess.add(WorkItemTag(work_item_id=item.id, tag_id=tag.id))
        sess.flush()
    assert _count(engine, "tags") == 0


def test_orm_round_trip_with_relations(engine: Engine) -> None:
    with session(engine) as sess:
        a, b = _item("A", status="done"), _item("B")
        b.depends_on.append(a)
        b.tags.append(Tag(name="api"))
        sess.add_all([a, b])
    with session(engine, readonly=True) as sess:
        loaded = sess.query(WorkItem).filter_by(key="B").one()
        assert [d.key for d in loaded.depends_on] == ["A"]
        assert [t.name for t in loaded.tags] == ["api"]
