"""The data revision: one counter that moves with every committed change to the tracked tables.

A cache (the dashboard summary) tells whether anything changed with one primary-key lookup, and
usually without even that (``ailab.db.change_watch``). The database bumps it itself, with
triggers (migration 0003), so a write by any tool counts: ``psql``, ``sqlite3``, another server.
Our own writers still call ``bump_revision`` first: on Postgres that takes the row lock up front,
so writers commit one at a time and two updates cannot each add half of a dependency cycle.

* **SQLite** has row triggers only: each changed row of a tracked table adds 1 (a few
  microseconds). Bulk loads suspend them with the derived-data triggers and bump once.
* **Postgres**: one ``BEFORE ... FOR EACH STATEMENT`` trigger per tracked table, which bumps once
  per transaction (a transaction-local flag); ``BEFORE``, so the row lock is taken before any
  row of the statement is locked (the same order as ``bump_revision`` first: no deadlock). A
  statement trigger on ``data_revision`` itself sends ``NOTIFY ailab_data_revision, '<schema>'``,
  delivered at commit, which each server process ``LISTEN``s to.

The trigger functions run with the search_path they were created with, so a session whose
search_path differs (a ``psql`` on a scratch schema's table) still bumps that schema's counter.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

BUMP_SQL = "UPDATE data_revision SET revision = revision + 1 WHERE id = 1"
READ_SQL = "SELECT revision FROM data_revision WHERE id = 1"
NOTIFY_CHANNEL = "ailab_data_revision"
# What the summary is made of, and what it is made from; other tables do not move the revision.
TRACKED_TABLES = (
    "work_items",
    "work_item_tags",
    "work_item_dependencies",
    "tags",
    "summary_counts",
    "projects",
)
_FLAG = "ailab.revision_bumped"  # transaction-local (set_config(..., true)); '' or unset otherwise


def bump_revision(conn: Connection) -> None:
    """Mark a change; on Postgres this also locks the row, so writers commit one at a time."""
    conn.exec_driver_sql(BUMP_SQL)


def read_revision(conn: Connection) -> int:
    """The current data revision (0 when its row is missing)."""
    return int(conn.exec_driver_sql(READ_SQL).scalar() or 0)


def _sqlite_trigger(table: str, event: str) -> tuple[str, str]:
    name = f"trg_{table}_revision_{event.lower()}"
    return name, f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN {BUMP_SQL}; END"


def _sqlite_triggers() -> list[tuple[str, str]]:
    return [_sqlite_trigger(t, e) for t in TRACKED_TABLES for e in ("INSERT", "UPDATE", "DELETE")]


_PG_BUMP_FN = f"""CREATE FUNCTION ailab_revision_bump() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF current_setting('{_FLAG}', true) IS DISTINCT FROM '1' THEN
        {BUMP_SQL};
    END IF;
    RETURN NULL;
END $$"""

# Any bump (ours or a trigger's) marks the transaction and notifies once, at commit.
_PG_NOTIFY_FN = f"""CREATE FUNCTION ailab_revision_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('{_FLAG}', '1', true);
    PERFORM pg_notify('{NOTIFY_CHANNEL}', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$"""


def create_revision_triggers(conn: Connection) -> None:
    """Create the triggers that bump the revision on every write to ``TRACKED_TABLES`` (on
    Postgres also the ``NOTIFY`` sent at commit)."""
    if conn.dialect.name == "sqlite":
        for _name, sql in _sqlite_triggers():
            conn.exec_driver_sql(sql)
        return
    conn.exec_driver_sql(_PG_BUMP_FN)
    conn.exec_driver_sql(_PG_NOTIFY_FN)
    conn.exec_driver_sql(
        "CREATE TRIGGER trg_data_revision_notify AFTER UPDATE ON data_revision "
        "FOR EACH STATEMENT EXECUTE FUNCTION ailab_revision_notify()"
    )
    for table in TRACKED_TABLES:
        conn.exec_driver_sql(
            f"CREATE TRIGGER trg_{table}_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION ailab_revision_bump()"
        )


def has_revision_triggers(conn: Connection) -> bool:
    """Whether migration 0003's triggers are there (a database migrated to an older head has none)."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'trg_%_revision_%'"
    else:
        sql = "SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'trg_data_revision_notify' AND tgrelid = 'data_revision'::regclass"
    return bool(conn.exec_driver_sql(sql).scalar())


def drop_revision_triggers(conn: Connection) -> None:
    """Drop the revision triggers (on Postgres, their functions too); a missing one is skipped."""
    if conn.dialect.name == "sqlite":
        for name, _sql in _sqlite_triggers():
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        return
    for table in TRACKED_TABLES:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS trg_{table}_revision ON {table}")
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS trg_data_revision_notify ON data_revision")
    conn.exec_driver_sql("DROP FUNCTION IF EXISTS ailab_revision_bump()")
    conn.exec_driver_sql("DROP FUNCTION IF EXISTS ailab_revision_notify()")
