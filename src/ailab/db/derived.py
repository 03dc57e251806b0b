"""Derived data the database keeps exact itself, with triggers: what makes the dashboard O(1).

The dashboard's aggregates cost ~60 ms on 100k items when computed from the rows
(shared/limits.md, "the floor for live dashboards unless counts are cached or precomputed"), and a
tag's newest items need an index that holds the item's ``created_at``. Both are kept here:

* ``summary_counts(kind, key, n)``: items per ``status``, per ``priority``, per ``week`` (the
  Monday of the item's Monday-Sunday week, ``YYYY-MM-DD``) and the ``blocked`` count (key ``''``).
* ``tags.item_count``: work items per tag (top tags without grouping 280k links).
* ``work_items.open_dependencies``: how many of the item's dependencies are open; an item is
  blocked when it is open itself and this is above zero.
* ``work_item_tags.item_created_at``: a copy of the item's ``created_at``, so the index
  ``(tag_id, item_created_at, work_item_id)`` yields any tag's newest items in page order.

Why triggers and not application code: every write path (the API, the legacy import, the GitHub
pull, the seed, an operator's ``sqlite3`` session, the ORM's link table) then keeps them exact,
with no path to forget. Bulk loads suspend the triggers and rebuild set-wise instead
(``triggers_suspended``): ~600k row-trigger calls would cost seconds on Postgres.

The same trigger bodies serve both databases (SQLite trigger programs; a PL/pgSQL function per
trigger on Postgres). Changing them means a new migration that drops and re-creates them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from ailab.db.revision import (
    bump_revision,
    create_revision_triggers,
    drop_revision_triggers,
    has_revision_triggers,
)
from ailab.vocab import CLOSED_STATUSES

_CLOSED = "(" + ", ".join(f"'{s}'" for s in sorted(CLOSED_STATUSES)) + ")"


def week_sql(column: str, dialect: str) -> str:
    """The Monday (``YYYY-MM-DD``) of the Monday-Sunday week of a timestamp column."""
    if dialect == "sqlite":
        return f"date({column}, 'weekday 0', '-6 days')"
    return f"to_char(date_trunc('week', {column}), 'YYYY-MM-DD')"


def _blocked(row: str) -> str:
    return f"CASE WHEN {row}.status NOT IN {_CLOSED} AND {row}.open_dependencies > 0 THEN 1 ELSE 0 END"


def _deltas(row: str, sign: str, dialect: str) -> list[str]:
    return [
        f"SELECT 'status' AS kind, {row}.status AS key, {sign}1 AS d",
        f"SELECT 'priority', {row}.priority, {sign}1",
        f"SELECT 'week', {week_sql(f'{row}.created_at', dialect)}, {sign}1",
        f"SELECT 'blocked', '', {sign}{_blocked(row)}",
    ]


def _apply(deltas: list[str]) -> str:
    # Summed per key first: Postgres refuses an upsert that touches one row twice, and an
    # update that changes nothing (the same status before and after) then writes nothing.
    # ``WHERE true`` resolves SQLite's INSERT ... SELECT ... ON CONFLICT parsing ambiguity;
    # ORDER BY makes concurrent Postgres writers lock the counter rows in one order (no deadlock).
    return (
        "INSERT INTO summary_counts (kind, key, n) SELECT kind, key, SUM(d) FROM ("
        + " UNION ALL ".join(deltas)
        + ") AS deltas WHERE true GROUP BY kind, key HAVING SUM(d) <> 0 ORDER BY kind, key "
        "ON CONFLICT (kind, key) DO UPDATE SET n = summary_counts.n + excluded.n"
    )


def _recount_open_dependencies(item: str) -> str:
    return (
        "UPDATE work_items SET open_dependencies = ("
        "SELECT COUNT(*) FROM work_item_dependencies dep JOIN work_items target ON target.id = dep.depends_on_id "
        f"WHERE dep.work_item_id = {item} AND target.status NOT IN {_CLOSED}) WHERE id = {item}"
    )


@dataclass(frozen=True)
class Trigger:
    """One row trigger: ``AFTER <event> ON <table>``, run when ``when`` holds."""

    name: str
    table: str
    event: str  # INSERT, DELETE, UPDATE or UPDATE OF <columns>
    statements: tuple[str, ...]
    when: str | None = None


def triggers(dialect: str) -> list[Trigger]:
    """Every trigger that keeps the derived data exact, for ``dialect``."""
    item_columns = "UPDATE OF status, priority, created_at, open_dependencies"
    found: list[Trigger] = [
        Trigger(
            "trg_work_items_counts_insert", "work_items", "INSERT", (_apply(_deltas("NEW", "+", dialect)),)
        ),
        Trigger(
            "trg_work_items_counts_delete", "work_items", "DELETE", (_apply(_deltas("OLD", "-", dialect)),)
        ),
        Trigger(
            "trg_work_items_counts_update",
            "work_items",
            item_columns,
            (_apply(_deltas("OLD", "-", dialect) + _deltas("NEW", "+", dialect)),),
        ),
        # An item that closes or reopens changes the open-dependency count of each dependant
        # (each has exactly one edge to it: the primary key).
        Trigger(
            "trg_work_items_dependants",
            "work_items",
            "UPDATE OF status",
            (
                "UPDATE work_items SET open_dependencies = open_dependencies + "
                f"CASE WHEN NEW.status IN {_CLOSED} THEN -1 ELSE 1 END "
                "WHERE id IN (SELECT work_item_id FROM work_item_dependencies WHERE depends_on_id = NEW.id)",
            ),
            when=f"(OLD.status IN {_CLOSED}) <> (NEW.status IN {_CLOSED})",
        ),
        Trigger(
            "trg_work_items_created_to_tags",
            "work_items",
            "UPDATE OF created_at",
            ("UPDATE work_item_tags SET item_created_at = NEW.created_at WHERE work_item_id = NEW.id",),
            when="NEW.created_at <> OLD.created_at",
        ),
        # Recounted, not incremented: when an item is deleted its edges go by cascade after the
        # row (both databases), so the recount no longer sees it; no ordering to get wrong.
        Trigger(
            "trg_dependencies_insert",
            "work_item_dependencies",
            "INSERT",
            (_recount_open_dependencies("NEW.work_item_id"),),
        ),
        Trigger(
            "trg_dependencies_delete",
            "work_item_dependencies",
            "DELETE",
            (_recount_open_dependencies("OLD.work_item_id"),),
        ),
        Trigger(
            "trg_dependencies_update",
            "work_item_dependencies",
            "UPDATE",
            (_recount_open_dependencies("OLD.work_item_id"), _recount_open_dependencies("NEW.work_item_id")),
        ),
        Trigger(
            "trg_work_item_tags_insert",
            "work_item_tags",
            "INSERT",
            ("UPDATE tags SET item_count = item_count + 1 WHERE id = NEW.tag_id",),
        ),
        Trigger(
            "trg_work_item_tags_delete",
            "work_item_tags",
            "DELETE",
            ("UPDATE tags SET item_count = item_count - 1 WHERE id = OLD.tag_id",),
        ),
        Trigger(
            "trg_work_item_tags_update",
            "work_item_tags",
            "UPDATE OF tag_id, work_item_id",
            (
                "UPDATE tags SET item_count = item_count - 1 WHERE id = OLD.tag_id",
                "UPDATE tags SET item_count = item_count + 1 WHERE id = NEW.tag_id",
                "UPDATE work_item_tags SET item_created_at = "
                "(SELECT created_at FROM work_items WHERE id = NEW.work_item_id) "
                "WHERE work_item_id = NEW.work_item_id AND tag_id = NEW.tag_id",
            ),
        ),
    ]
    if dialect == "sqlite":
        # SQLite has no BEFORE trigger that can change NEW: fill the copy right after the insert
        # (a writer that passes it, like the seed, skips this).
        found.append(
            Trigger(
                "trg_work_item_tags_created",
                "work_item_tags",
                "INSERT",
                (
                    "UPDATE work_item_tags SET item_created_at = "
                    "(SELECT created_at FROM work_items WHERE id = NEW.work_item_id) "
                    "WHERE work_item_id = NEW.work_item_id AND tag_id = NEW.tag_id",
                ),
                when="NEW.item_created_at IS NULL",
            )
        )
    return found


def _set_from_counts(table: str, column: str, counts: str) -> list[str]:
    """Set ``table.column`` from ``counts`` (rows ``owner_id, n``), 0 where absent, writing only
    rows whose value changes: after a load that wrote them right, nothing (on Postgres each
    written row costs a new version in every index)."""
    return [
        f"UPDATE {table} SET {column} = c.n FROM ({counts}) AS c "
        f"WHERE c.owner_id = {table}.id AND {table}.{column} <> c.n",
        f"UPDATE {table} SET {column} = 0 WHERE {column} <> 0 "
        f"AND id NOT IN (SELECT owner_id FROM ({counts}) AS c)",
    ]


_OPEN_DEPENDENCIES = (
    "SELECT dep.work_item_id AS owner_id, COUNT(*) AS n FROM work_item_dependencies dep "
    "JOIN work_items target ON target.id = dep.depends_on_id "
    f"WHERE target.status NOT IN {_CLOSED} GROUP BY dep.work_item_id"
)
_TAG_ITEMS = "SELECT tag_id AS owner_id, COUNT(*) AS n FROM work_item_tags GROUP BY tag_id"
_STALE_LINKS = (
    "FROM work_items wi WHERE wi.id = work_item_tags.work_item_id "
    "AND (work_item_tags.item_created_at IS NULL OR work_item_tags.item_created_at <> wi.created_at)"
)


def _expected_counts(dialect: str) -> list[str]:
    """SELECTs of what ``summary_counts`` should hold (rows ``kind, key, n``)."""
    week = week_sql("created_at", dialect)
    return [
        "SELECT 'status', status, COUNT(*) FROM work_items GROUP BY status",
        "SELECT 'priority', priority, COUNT(*) FROM work_items GROUP BY priority",
        f"SELECT 'week', {week}, COUNT(*) FROM work_items GROUP BY {week}",
        f"SELECT 'blocked', '', COUNT(*) FROM work_items WHERE status NOT IN {_CLOSED} AND open_dependencies > 0",
    ]


def _rebuild_statements(dialect: str) -> list[str]:
    return [
        f"UPDATE work_item_tags SET item_created_at = wi.created_at {_STALE_LINKS}",
        *_set_from_counts("work_items", "open_dependencies", _OPEN_DEPENDENCIES),
        *_set_from_counts("tags", "item_count", _TAG_ITEMS),
        "DELETE FROM summary_counts",
        *(f"INSERT INTO summary_counts (kind, key, n) {select}" for select in _expected_counts(dialect)),
    ]


def rebuild(conn: Connection) -> None:
    """Recompute all derived data from the rows, set-wise (after a bulk load, or to repair)."""
    for sql in _rebuild_statements(conn.dialect.name):
        conn.exec_driver_sql(sql)


def drift(conn: Connection) -> dict[str, int]:
    """How many derived values differ from a recompute, per kind: all zero when exact.

    For tests and ``ailab db derived --check``; a full recompute (~100-200 ms at 100k items)."""

    def scalar(sql: str) -> int:
        return int(conn.exec_driver_sql(sql).scalar() or 0)

    def off(table: str, column: str, counts: str) -> int:
        return scalar(
            f"SELECT COUNT(*) FROM {table} LEFT JOIN ({counts}) AS c ON c.owner_id = {table}.id "
            f"WHERE {table}.{column} <> COALESCE(c.n, 0)"
        )

    expected = {
        (str(kind), str(key)): int(n)
        for select in _expected_counts(conn.dialect.name)
        for kind, key, n in conn.exec_driver_sql(select)
        if n
    }
    kept = {
        (str(k), str(key)): int(n)
        for k, key, n in conn.exec_driver_sql("SELECT kind, key, n FROM summary_counts")
        if n
    }
    return {
        "work_item_tags.item_created_at": scalar(
            f"SELECT COUNT(*) FROM work_item_tags WHERE EXISTS (SELECT 1 {_STALE_LINKS})"
        ),
        "work_items.open_dependencies": off("work_items", "open_dependencies", _OPEN_DEPENDENCIES),
        "tags.item_count": off("tags", "item_count", _TAG_ITEMS),
        "summary_counts": sum(1 for k in expected.keys() | kept.keys() if expected.get(k) != kept.get(k)),
    }


def _create_sql(trigger: Trigger, dialect: str) -> list[str]:
    when = f" WHEN ({trigger.when})" if trigger.when else ""
    if dialect == "sqlite":
        body = "".join(f"{s}; " for s in trigger.statements)
        return [
            f"CREATE TRIGGER {trigger.name} AFTER {trigger.event} ON {trigger.table} FOR EACH ROW{when} BEGIN {body}END"
        ]
    return [
        _pg_function(f"{trigger.name}_fn", trigger.statements),
        f"CREATE TRIGGER {trigger.name} AFTER {trigger.event} ON {trigger.table} "
        f"FOR EACH ROW{when} EXECUTE FUNCTION {trigger.name}_fn()",
    ]


def _pg_function(name: str, statements: tuple[str, ...] | list[str], returns: str = "NULL") -> str:
    body = "".join(f"    {s};\n" for s in statements)
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}    RETURN {returns};\nEND $$"


# TRUNCATE fires no row triggers: on Postgres a statement trigger rebuilds after it.
_TRUNCATED_TABLES = ("work_items", "work_item_tags", "work_item_dependencies", "tags")


def _postgres_extras() -> tuple[list[str], list[str]]:
    """Postgres-only triggers (create, drop): the link's ``item_created_at`` filled before the
    insert (no second write), and a rebuild after a TRUNCATE."""
    create = [
        _pg_function(
            "trg_work_item_tags_created_fn",
            ["IF NEW.item_created_at IS NULL THEN NEW.item_created_at := "
             "(SELECT created_at FROM work_items WHERE id = NEW.work_item_id); END IF"],
            returns="NEW",
        ),
        "CREATE TRIGGER trg_work_item_tags_created BEFORE INSERT ON work_item_tags "
        "FOR EACH ROW EXECUTE FUNCTION trg_work_item_tags_created_fn()",
        _pg_function("trg_derived_truncate_fn", _rebuild_statements("postgresql")),
        *(
            f"CREATE TRIGGER trg_{table}_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION trg_derived_truncate_fn()"
            for table in _TRUNCATED_TABLES
        ),
    ]  # fmt: skip
    drop = [
        "DROP TRIGGER IF EXISTS trg_work_item_tags_created ON work_item_tags",
        "DROP FUNCTION IF EXISTS trg_work_item_tags_created_fn()",
        *(f"DROP TRIGGER IF EXISTS trg_{table}_truncate ON {table}" for table in _TRUNCATED_TABLES),
        "DROP FUNCTION IF EXISTS trg_derived_truncate_fn()",
    ]
    return create, drop


def create_triggers(conn: Connection) -> None:
    """Create the derived-data triggers (``triggers`` and the Postgres-only extras) on ``conn``."""
    dialect = conn.dialect.name
    for trigger in triggers(dialect):
        for sql in _create_sql(trigger, dialect):
            conn.exec_driver_sql(sql)
    if dialect == "postgresql":
        for sql in _postgres_extras()[0]:
            conn.exec_driver_sql(sql)


def drop_triggers(conn: Connection) -> None:
    """Drop the derived-data triggers (on Postgres, their functions too); a missing one is skipped."""
    dialect = conn.dialect.name
    for trigger in triggers(dialect):
        if dialect == "sqlite":
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger.name}")
        else:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger.name} ON {trigger.table}")
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {trigger.name}_fn()")
    if dialect == "postgresql":
        for sql in _postgres_extras()[1]:
            conn.exec_driver_sql(sql)


@contextmanager
def triggers_suspended(conn: Connection) -> Iterator[None]:
    """For a bulk load in one transaction: no per-row triggers, one set-wise ``rebuild`` after.

    The triggers are dropped and re-created inside the caller's transaction, so a failure rolls
    them back with the load, and other writers wait for the commit (SQLite: the write lock;
    Postgres: the table locks DROP TRIGGER takes) instead of writing past stale counts.
    """
    # SQLite's revision triggers are row triggers too (Postgres's fire once per statement).
    revision_rows = conn.dialect.name == "sqlite" and has_revision_triggers(conn)
    drop_triggers(conn)
    if revision_rows:
        drop_revision_triggers(conn)
    yield
    rebuild(conn)
    create_triggers(conn)
    if revision_rows:
        create_revision_triggers(conn)
        bump_revision(conn)
