"""Test helpers for the legacy import: an independent check that no source value was lost.

``unaccounted(source_path, engine, report)`` reads the legacy file on its own, and for every
non-blank value of every source row (every element of a JSON list, every key of a JSON record)
looks for it in what the import produced for that row: its target row (columns and ``extra``),
its child rows (tags, dependencies, criteria, blockers, GitHub link, unresolved references, the
keys of rows it references) and the report (the row's anomalies and mapped values). It returns
what it could not find; an import that loses nothing returns an empty list.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab.legacy.report import ImportReport
from ailab.legacy.values import parse_datetime

ENTITY_TABLES = ("projects", "milestones", "work_items", "ideas")
SNAPSHOT_TABLES = (
    "projects", "milestones", "work_items", "ideas", "tags", "work_item_tags", "idea_tags",
    "work_item_dependencies", "acceptance_criteria", "blockers", "github_links", "unresolved_refs",
    "legacy_rows", "data_revision",
)  # fmt: skip


def norm(value: Any) -> str | None:
    """One comparable form for a leaf value (numbers as floats, dates as ISO text)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return repr(float(value))
    text_value = str(value)
    try:
        return repr(float(text_value))
    except ValueError:
        pass
    if text_value[:4].isdigit() or text_value[:2].isdigit():
        when, problem = parse_datetime(text_value)
        if problem is None and when is not None:
            return when.isoformat()
    return text_value


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(field path, leaf)`` of a value, parsing JSON text; records give ``path.key`` paths."""
    value = _parsed(value)
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if "." not in path else path)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, path)
    else:
        yield path, value


def _flatten(value: Any, out: set[str]) -> None:
    for _path, leaf in leaves(value, "-"):
        n = norm(leaf)
        if n is not None:
            out.add(n)


def _haystacks(engine: Engine, report: ImportReport) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}

    def add(table: str, key: str, value: Any) -> None:
        _flatten(value, found.setdefault((table, str(key)), set()))

    with engine.connect() as conn:
        for table in ENTITY_TABLES:
            for row in conn.execute(text(f"SELECT * FROM {table}")).mappings():
                for value in row.values():
                    add(table, row["key"], value)
        queries = {
            "work_items": (
                "SELECT w.key, p.key FROM work_items w JOIN projects p ON p.id = w.project_id",
                "SELECT w.key, m.key FROM work_items w JOIN milestones m ON m.id = w.milestone_id",
                "SELECT w.key, p.key FROM work_items w JOIN work_items p ON p.id = w.parent_id",
                "SELECT w.key, t.name FROM work_items w JOIN work_item_tags x ON x.work_item_id = w.id "
                "JOIN tags t ON t.id = x.tag_id",
                "SELECT w.key, d.key FROM work_items w JOIN work_item_dependencies x ON x.work_item_id = w.id "
                "JOIN work_items d ON d.id = x.depends_on_id",
                "SELECT w.key, c.text FROM work_items w JOIN acceptance_criteria c ON c.work_item_id = w.id",
                "SELECT w.key, c.done FROM work_items w JOIN acceptance_criteria c ON c.work_item_id = w.id",
                "SELECT w.key, b.text FROM work_items w JOIN blockers b ON b.work_item_id = w.id",
            ),
            "milestones": ("SELECT m.key, p.key FROM milestones m JOIN projects p ON p.id = m.project_id",),
            "ideas": (
                "SELECT i.key, t.name FROM ideas i JOIN idea_tags x ON x.idea_id = i.id JOIN tags t ON t.id = x.tag_id",
            ),
        }
        for table, sqls in queries.items():
            for sql in sqls:
                for key, value in conn.execute(text(sql)):
                    add(table, key, value)
        for owner, column in (("work_items", "work_item_id"), ("ideas", "idea_id")):
            for key, repo, number, synced in conn.execute(
                text(
                    f"SELECT o.key, g.repository, g.issue_number, g.synced_at FROM github_links g "
                    f"JOIN {owner} o ON o.id = g.{column}"
                )
            ):
                for value in (
                    repo,
                    number,
                    synced,
                    f"https://github.com/{repo}",
                    f"https://github.com/{repo}/issues/{number}",
                ):
                    add(owner, key, value)
        for table, key, to_key in conn.execute(
            text("SELECT from_table, from_key, to_key FROM unresolved_refs")
        ):
            add(table, key, to_key)
    for a in report.anomalies:
        add(a.table, a.legacy_id, a.value)
    return found


def unaccounted(source_path: Path, engine: Engine, report: ImportReport) -> list[str]:
    """Source values that are neither in the target nor in the report (empty when none is lost)."""
    found = _haystacks(engine, report)
    mapped = {(m.table, m.field, key) for m in report.mapped.values() for key in m.legacy_ids}
    missing: list[str] = []
    conn = sqlite3.connect(f"file:{source_path}?mode=ro&immutable=1", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        owners = {}
        if "github_sync" in tables:
            for sid, local_id, local_type in conn.execute("SELECT id, local_id, local_type FROM github_sync"):
                table = "ideas" if str(local_type).startswith("idea") else "work_items"
                owners[str(sid)] = (table, str(local_id))
        for table in tables:
            if table == "sqlite_sequence":
                continue
            cur = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cur.description]
            for position, row in enumerate(cur.fetchall(), start=1):
                values = dict(zip(columns, row, strict=True))
                key = str(values["id"]) if values.get("id") not in (None, "") else f"row {position}"
                places = [found.get((table, key), set())]
                if table == "github_sync" and key in owners:
                    places.append(found.get(owners[key], set()))
                for column, value in values.items():
                    if table == "github_sync" and column in ("id", "local_id", "local_type"):
                        continue  # structure: which row the link belongs to
                    for field, leaf in leaves(value, column):
                        n = norm(leaf)
                        if n is None or any(n in p for p in places) or (table, field, key) in mapped:
                            continue
                        if (table, column, key) in mapped:
                            continue
                        missing.append(f"{table} {key} {field}: {leaf!r}")
    finally:
        conn.close()
    return missing


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every row of every table the import writes (ids excluded where they are surrogate)."""
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in SNAPSHOT_TABLES:
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            out[table] = sorted(repr(tuple(r)) for r in rows)
    return out


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def revision(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT revision FROM data_revision WHERE id = 1")).scalar_one())


def sidecars(path: Path) -> list[Path]:
    return [p for p in (path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm")) if p.exists()]
