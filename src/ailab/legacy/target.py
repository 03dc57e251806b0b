"""The target database as the importer sees it: what is already there, and fast bulk writes.

``load_target_state`` reads the keys, tags, row hashes and GitHub links an import needs to decide
what is new, changed or unchanged. ``BulkWriter`` writes row tuples the fastest way each dialect
offers (``COPY`` through psycopg on Postgres, the driver's ``executemany`` on SQLite), converting
datetimes, booleans and JSON the way SQLAlchemy stores them so ORM reads parse them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

ENTITY_TABLES = ("projects", "milestones", "work_items", "ideas")
REQUIRED_TABLES = frozenset(
    {*ENTITY_TABLES, "tags", "work_item_tags", "idea_tags", "work_item_dependencies", "acceptance_criteria",
     "blockers", "github_links", "unresolved_refs", "legacy_rows", "data_revision"}
)  # fmt: skip
JSON_COLUMNS = frozenset({"extra"})
DELETE_CHUNK = 5000


@dataclass
class TargetState:
    """What the target already holds (empty when it has no schema yet, e.g. in a dry run)."""

    has_schema: bool = False
    ids: dict[str, dict[str, int]] = field(default_factory=lambda: {t: {} for t in ENTITY_TABLES})
    project_repos: dict[str, str | None] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    hashes: dict[tuple[str, str], str] = field(default_factory=dict)
    # (source table, legacy id) -> the legacy file it was imported from (None: before 0004)
    sources: dict[tuple[str, str], str | None] = field(default_factory=dict)
    # (repository, issue number) -> (owner table, owner key)
    github_owner: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    # (owner table, owner key) -> (repository, issue number or None) of its current link
    links: dict[tuple[str, str], tuple[str, int | None]] = field(default_factory=dict)


def missing_tables(conn: Connection) -> set[str]:
    """The tables the import writes that the target database does not have."""
    return set(REQUIRED_TABLES - set(inspect(conn).get_table_names()))


def load_target_state(conn: Connection) -> TargetState:
    """What the target already holds: ids by key, tags, links and the source hashes of imported rows."""
    state = TargetState(has_schema=not missing_tables(conn))
    if not state.has_schema:
        return state
    for table in ENTITY_TABLES:
        state.ids[table] = {str(k): int(i) for i, k in conn.execute(text(f"SELECT id, key FROM {table}"))}
    state.project_repos = {
        str(k): r for k, r in conn.execute(text("SELECT key, repository_url FROM projects"))
    }
    state.tags = {str(n): int(i) for i, n in conn.execute(text("SELECT id, name FROM tags"))}
    has_source = "source_path" in {c["name"] for c in inspect(conn).get_columns("legacy_rows")}
    rows = conn.execute(
        text(
            "SELECT source_table, legacy_id, row_hash, "
            + ("source_path" if has_source else "NULL")
            + " FROM legacy_rows"
        )
    )
    for t, k, h, source in rows:
        state.hashes[(str(t), str(k))] = str(h)
        state.sources[(str(t), str(k))] = source
    owners = {table: {i: k for k, i in state.ids[table].items()} for table in ("work_items", "ideas")}
    links = conn.execute(text("SELECT repository, issue_number, work_item_id, idea_id FROM github_links"))
    for repo, number, work_item_id, idea_id in links:
        table, owner_id = ("work_items", work_item_id) if work_item_id else ("ideas", idea_id)
        owner = (table, owners[table].get(owner_id, ""))
        state.links[owner] = (str(repo), None if number is None else int(number))
        if number is not None:
            state.github_owner[(str(repo), int(number))] = owner
    return state


class BulkWriter:
    """Row tuples into tables, in the connection's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.mark = "%s" if self.postgres else "?"

    def convert(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Values as the driver needs them (SQLite: SQLAlchemy's datetime text; JSON as text)."""
        json_at = [i for i, c in enumerate(columns) if c in JSON_COLUMNS]
        out: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(row)
            for i in json_at:
                if values[i] is not None:
                    values[i] = orjson.dumps(values[i]).decode()
            if not self.postgres:
                values = [
                    v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in values
                ]
            out.append(tuple(values))
        return out

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Insert ``rows`` into ``table``: COPY on Postgres, executemany on SQLite. Returns the row count."""
        if not rows:
            return 0
        prepared = self.convert(columns, rows)
        names = ", ".join(columns)
        if self.postgres:
            cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in prepared:
                        copy.write_row(row)
            finally:
                cursor.close()
        else:
            marks = ", ".join(self.mark for _ in columns)
            self.conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", prepared)
        return len(prepared)

    def update(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], key: str = "id"
    ) -> int:
        """``UPDATE table SET columns WHERE key = ?``; each row is ``(*values, key_value)``."""
        if not rows:
            return 0
        sets = ", ".join(f"{c} = {self.mark}" for c in columns)
        prepared = self.convert([*columns, key], rows)
        self.conn.exec_driver_sql(f"UPDATE {table} SET {sets} WHERE {key} = {self.mark}", prepared)
        return len(prepared)

    def delete_in(self, table: str, column: str, values: Sequence[Any], where: str = "") -> int:
        """``DELETE FROM table WHERE column IN values [AND where]``, in chunks; rows deleted."""
        deleted = 0
        for start in range(0, len(values), DELETE_CHUNK):
            chunk = list(values[start : start + DELETE_CHUNK])
            marks = ", ".join(self.mark for _ in chunk)
            sql = f"DELETE FROM {table} WHERE {column} IN ({marks})" + (f" AND {where}" if where else "")
            result = self.conn.exec_driver_sql(sql, tuple(chunk))
            deleted += max(result.rowcount, 0)
        return deleted

    def new_ids(self, table: str, count: int) -> list[int]:
        """``count`` fresh primary keys for ``table`` (Postgres: reserved from its sequence)."""
        if count == 0:
            return []
        if self.postgres:
            rows = self.conn.exec_driver_sql(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, {int(count)})"
            )
            return sorted(int(r[0]) for r in rows)
        # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so MAX(id) is stable.
        start = int(self.conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table}").scalar() or 0) + 1
        return list(range(start, start + count))
