"""The old system's patterns, kept faithfully so ``ailab report`` can measure them side by side.

BASELINES ONLY: the application never uses anything in this module.

* ``legacy_get_db``: the old ``get_db()``, which built a new engine (and so a new pool and a
  new connection) on every call and never disposed it.
* ``build_json_table`` / ``json_tag_page``: the old ``work_items`` table with tags in a JSON
  text column (``labels``), and the only way to filter it by tag: a scan with ``LIKE``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ailab.legacy.schema import GENERATION_2, table_ddl


def legacy_get_db(database_url: str) -> Session:
    """The old ``get_db()`` verbatim: a new engine and session factory on every call."""
    # The old code ran on SQLite; on Postgres the same pattern has no such argument.
    connect_args = {"check_same_thread": False} if database_url.startswith("sqlite") else {}
    engine = create_engine(database_url, connect_args=connect_args)
    session_local = sessionmaker(bind=engine)
    return session_local()


def legacy_lookup(database_url: str, key: str) -> Any:
    """What a request did with it: get a session, look one row up, close the session."""
    db = legacy_get_db(database_url)
    try:
        return db.execute(text("SELECT id, title, status FROM work_items WHERE key = :k"), {"k": key}).first()
    finally:
        db.close()


def build_json_table(source: Engine, path: Path) -> int:
    """Copy the seeded items into the old JSON-column layout in a separate SQLite file."""
    if path.exists():
        path.unlink()
    out = sqlite3.connect(path)
    # The old table exactly as the legacy schema model has it (one faithful copy: ailab.legacy.schema).
    for statement in table_ddl(GENERATION_2, "work_items"):
        out.execute(statement)
    with source.connect() as conn:
        tags: dict[int, list[str]] = {}
        for item_id, name in conn.execute(
            text("SELECT wit.work_item_id, t.name FROM work_item_tags wit JOIN tags t ON t.id = wit.tag_id")
        ):
            tags.setdefault(int(item_id), []).append(str(name))
        deps: dict[int, list[str]] = {}
        for item_id, dep_key in conn.execute(
            text(
                "SELECT d.work_item_id, w.key FROM work_item_dependencies d"
                " JOIN work_items w ON w.id = d.depends_on_id"
            )
        ):
            deps.setdefault(int(item_id), []).append(str(dep_key))
        rows = [
            (
                r.key,
                r.title,
                r.description,
                r.status,
                r.priority,
                r.type,
                "issue",
                None,
                r.assignee,
                r.author,
                json.dumps(tags.get(r.id, [])),
                str(r.created_at),
                str(r.updated_at),
                json.dumps(deps.get(r.id, [])),
                "[]",
                "[]",
                0,
                0,
            )
            for r in conn.execute(
                text(
                    "SELECT id, key, title, description, status, priority, type, assignee, author,"
                    " created_at, updated_at FROM work_items ORDER BY id"
                )
            )
        ]
    out.executemany(
        "INSERT INTO work_items (id, title, description, status, priority, type, issue_type, project_id,"
        " assignee, author, labels, created_date, updated_date, dependencies, acceptance_criteria, blockers,"
        " is_draft, archived) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    out.commit()
    out.execute("ANALYZE")
    out.close()
    return len(rows)


JSON_TAG_PAGE_SQL = (
    "SELECT id, title, status, priority, labels, created_date FROM work_items"
    " WHERE labels LIKE ? ORDER BY created_date DESC LIMIT 50"
)


def json_tag_page(conn: sqlite3.Connection, tag: str) -> list[Any]:
    """The old tag filter: a full scan of the JSON text (no index can serve it)."""
    return conn.execute(JSON_TAG_PAGE_SQL, (f'%"{tag}"%',)).fetchall()
