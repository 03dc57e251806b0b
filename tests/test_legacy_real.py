"""The real legacy database (../shared/legacy/ai_lab.db) imports on SQLite and Postgres, losing nothing.

Skipped, with the reason, where ../shared is absent.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab.legacy import import_legacy
from ailab.legacy.schema import GENERATION_2_DDL
from ailab.legacy.source import file_sha256
from ailab.legacy.values import github_repository
from legacy_support import count, sidecars, unaccounted

REAL_LEGACY_DB = Path(__file__).resolve().parents[2] / "shared" / "legacy" / "ai_lab.db"


@pytest.fixture
def real_db(tmp_path: Path) -> Path:
    if not REAL_LEGACY_DB.is_file():
        pytest.skip(
            f"the real legacy database {REAL_LEGACY_DB} is absent (../shared is not checked out here)"
        )
    copy = tmp_path / "legacy" / "ai_lab.db"
    copy.parent.mkdir()
    shutil.copy2(REAL_LEGACY_DB, copy)
    return copy


def _source_rows(path: Path, table: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]
    finally:
        conn.close()


def _record_in_notes(row: dict[str, Any]) -> dict[str, Any]:
    notes = row["notes"]
    if isinstance(notes, str) and notes.startswith("{"):
        record = json.loads(notes)
        if record.get("id") == row["id"]:
            return dict(record)
    return {}


def _by_key(engine: Engine, sql: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for key, value in conn.execute(text(sql)):
            out.setdefault(str(key), []).append(value)
    return out


def test_real_database_imports_with_nothing_lost(real_db: Path, engine: Engine) -> None:
    original_sum, copy_sum = file_sha256(REAL_LEGACY_DB), file_sha256(real_db)
    report = import_legacy(real_db, engine)

    # Read-only: both files unchanged, and nothing created beside them.
    assert file_sha256(REAL_LEGACY_DB) == original_sum and file_sha256(real_db) == copy_sum
    assert sidecars(real_db) == [] and sidecars(REAL_LEGACY_DB) == []
    assert sorted(p.name for p in real_db.parent.iterdir()) == ["ai_lab.db"]

    items = _source_rows(real_db, "work_items")
    projects = {p["id"]: p for p in _source_rows(real_db, "projects")}
    for table in ("work_items", "ideas", "projects", "milestones"):
        assert count(engine, table) == len(_source_rows(real_db, table)), table
    assert report.generation == 2 and report.changed

    tags = _by_key(engine, "SELECT w.key, t.name FROM work_items w JOIN work_item_tags x ON x.work_item_id = w.id "
                           "JOIN tags t ON t.id = x.tag_id")  # fmt: skip
    deps = _by_key(engine, "SELECT w.key, d.key FROM work_items w JOIN work_item_dependencies x "
                           "ON x.work_item_id = w.id JOIN work_items d ON d.id = x.depends_on_id")  # fmt: skip
    unresolved = _by_key(engine, "SELECT from_key, to_key FROM unresolved_refs")
    criteria = _by_key(engine, "SELECT w.key, c.text FROM work_items w JOIN acceptance_criteria c "
                               "ON c.work_item_id = w.id ORDER BY w.key, c.position")  # fmt: skip
    links = _by_key(engine, "SELECT w.key, g.repository || '#' || g.issue_number FROM work_items w "
                            "JOIN github_links g ON g.work_item_id = w.id")  # fmt: skip
    reported = {(a.legacy_id, a.kind) for a in report.anomalies}
    for row in items:
        key, record = row["id"], _record_in_notes(row)
        expected_tags = (
            set(json.loads(row["labels"] or "[]"))
            | set(record.get("labels", []))
            | set(record.get("tags", []))
        )
        assert set(tags.get(key, [])) == expected_tags, key
        assert set(deps.get(key, [])) | set(unresolved.get(key, [])) >= set(
            json.loads(row["dependencies"] or "[]")
        )
        expected_criteria = json.loads(row["acceptance_criteria"] or "[]") or record.get(
            "acceptance_criteria", []
        )
        assert criteria.get(key, []) == expected_criteria, key
        if row["github_issue_id"] is not None:
            project = projects.get(row["project_id"] or "")
            repo = github_repository(row["github_repo_url"]) or github_repository(
                project["repository_url"] if project else None
            )
            if repo is None:
                assert (key, "github_number_without_repository") in reported
            else:
                assert links[key] == [f"{repo}#{row['github_issue_id']}"]

    # The messes the issue names, each reported or mapped.
    assert {("SYNC-TEST-001", "missing_project"), ("FRM-006-4", "dangling_dependency"),
            ("SYNC-TEST-001", "github_number_without_repository"),
            ("SYNC-IDEA-001", "github_number_without_repository")} <= reported  # fmt: skip
    assert unresolved == {"SYNC-TEST-001": ["PRJ-001"], "FRM-006-4": ["FRM-006-3"]}
    mapped = {(m.field, m.source, m.target) for m in report.mapped.values()}
    assert {("status", "'open'", "todo"), ("status", "'completed'", "done")} <= mapped
    issue_ones = [v for vs in links.values() for v in vs if v.endswith("#1")]
    assert len(issue_ones) == 3 and len({v.split("#")[0] for v in issue_ones}) == 3
    assert unaccounted(real_db, engine, report) == []


def test_missing_rows_imported_later_resolve(real_db: Path, engine: Engine) -> None:
    import_legacy(real_db, engine)
    conn = sqlite3.connect(real_db)
    with conn:
        conn.execute(
            "INSERT INTO projects (id, name, description, status, priority, category, owner, created_date, "
            "updated_date, repository_url) VALUES ('PRJ-001', 'Sync tests', '', 'active', 'high', 'dev', 'jns', "
            "'2025-11-13 10:00:00', '2025-11-13 10:00:00', 'https://github.com/legacy-lab/sync-tests')"
        )
        conn.execute(
            "INSERT INTO work_items (id, title, description, status, priority, type, created_date, updated_date) "
            "VALUES ('FRM-006-3', 'Found again', '', 'todo', 'medium', 'task', '2025-11-13', '2025-11-13')"
        )
    conn.close()

    report = import_legacy(real_db, engine)

    assert count(engine, "unresolved_refs") == 0 and report.unresolved_refs == 0
    assert report.counts("work_items").inserted == 1  # FRM-006-3
    assert report.counts("work_items").updated == 1  # SYNC-TEST-001: its project now exists
    with engine.connect() as c:
        dep = c.execute(text(
            "SELECT d.key FROM work_item_dependencies x JOIN work_items w ON w.id = x.work_item_id "
            "JOIN work_items d ON d.id = x.depends_on_id WHERE w.key = 'FRM-006-4'"
        )).scalar_one()  # fmt: skip
        project, link = c.execute(text(
            "SELECT p.key, g.repository || '#' || g.issue_number FROM work_items w JOIN projects p "
            "ON p.id = w.project_id JOIN github_links g ON g.work_item_id = w.id WHERE w.key = 'SYNC-TEST-001'"
        )).one()  # fmt: skip
    assert dep == "FRM-006-3"
    # The issue number that had no repository now has one: its project's.
    assert (project, link) == ("PRJ-001", "legacy-lab/sync-tests#1")


def test_generation_2_ddl_is_the_real_files_schema() -> None:
    if not REAL_LEGACY_DB.is_file():
        pytest.skip(
            f"the real legacy database {REAL_LEGACY_DB} is absent (../shared is not checked out here)"
        )
    conn = sqlite3.connect(f"file:{REAL_LEGACY_DB}?mode=ro&immutable=1", uri=True)
    try:
        real = [
            r[0]
            for r in conn.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'sqlite_sequence' ORDER BY rowid"
            )
        ]
    finally:
        conn.close()
    assert list(GENERATION_2_DDL) == real
