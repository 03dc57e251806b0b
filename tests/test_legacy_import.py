"""Import behaviour: idempotent, updates only what changed, all or nothing, dry runs write nothing,
clear errors for files that are not a known legacy database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from ailab.cli import app
from ailab.db.engine import get_engine
from ailab.errors import LegacyImportError
from ailab.legacy import import_legacy
from ailab.legacy.source import file_sha256
from ailab.testing.legacy_synth import generate
from ailab.testing.scratch import forget_engine
from legacy_support import count, revision, sidecars, snapshot


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.db"
    generate(path, items=80, generation=2, seed=11, messes=True)
    return path


def _edit(path: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, params)
    conn.close()


def test_second_run_changes_nothing_and_says_so(legacy: Path, engine: Engine) -> None:
    first = import_legacy(legacy, engine)
    before, rev = snapshot(engine), revision(engine)
    second = import_legacy(legacy, engine)

    assert first.changed and not second.changed
    assert snapshot(engine) == before and revision(engine) == rev >= 1  # the import moved it once or more
    assert second.counts("work_items").unchanged == 80
    assert all(c.inserted == c.updated == c.deleted == 0 for c in second.target.values())
    assert "nothing changed" in second.to_markdown()


def test_changed_source_rows_update_only_those(legacy: Path, engine: Engine) -> None:
    import_legacy(legacy, engine)
    conn = sqlite3.connect(legacy)
    key, other = (r[0] for r in conn.execute("SELECT id FROM work_items ORDER BY rowid LIMIT 2 OFFSET 40"))
    conn.close()
    _edit(
        legacy, "UPDATE work_items SET title = 'Renamed', labels = ? WHERE id = ?", json.dumps(["fresh"]), key
    )
    _edit(legacy, "UPDATE work_items SET status = 'completed' WHERE id = ?", other)

    rev = revision(engine)
    report = import_legacy(legacy, engine)

    assert report.changed and revision(engine) > rev
    assert report.counts("work_items").updated == 2 and report.counts("work_items").unchanged == 78
    assert report.counts("work_items").inserted == 0 and report.counts("tags").inserted == 1
    with engine.connect() as c:
        title, tags = c.exec_driver_sql(
            "SELECT w.title, t.name FROM work_items w JOIN work_item_tags x ON x.work_item_id = w.id "
            f"JOIN tags t ON t.id = x.tag_id WHERE w.key = '{key}'"
        ).one()
        status = c.exec_driver_sql(f"SELECT status FROM work_items WHERE key = '{other}'").scalar_one()
    assert (title, tags, status) == ("Renamed", "fresh", "done")


def test_failure_mid_import_leaves_target_unchanged(legacy: Path, engine: Engine) -> None:
    import_legacy(legacy, engine)
    _edit(legacy, "UPDATE work_items SET title = 'Changed' WHERE rowid = 3")
    _edit(legacy, "DELETE FROM work_items WHERE rowid = 5")
    _edit(legacy, "INSERT INTO work_items (id, title, description, status, priority, type, created_date, "
                  "updated_date, labels) VALUES ('NEW-1', 'New', '', 'todo', 'low', 'task', '2025-01-01', "
                  "'2025-01-01', '[\"brand-new\"]')")  # fmt: skip
    before = snapshot(engine)

    def fail(stage: str) -> None:
        if stage == "work item children":
            raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError, match="injected failure"):
        import_legacy(legacy, engine, on_stage=fail)
    assert snapshot(engine) == before


def test_unusable_row_fails_naming_row_and_field(legacy: Path, engine: Engine) -> None:
    long_id = "X" * 80
    _edit(legacy, "INSERT INTO work_items (id, title, description, status, priority, type, created_date, "
                  "updated_date) VALUES (?, 't', '', 'todo', 'low', 'task', '2025-01-01', '2025-01-01')", long_id)  # fmt: skip
    before = snapshot(engine)
    with pytest.raises(LegacyImportError, match=r"work_items row 81 \(1-based\), field id: .*80 characters"):
        import_legacy(legacy, engine)
    assert snapshot(engine) == before


def test_dry_run_writes_nothing_and_predicts_the_import(legacy: Path, engine: Engine, tmp_path: Path) -> None:
    before = snapshot(engine)
    preview = import_legacy(legacy, engine, dry_run=True)
    assert snapshot(engine) == before
    real = import_legacy(legacy, engine)
    for table in ("work_items", "ideas", "projects", "tags", "work_item_tags", "work_item_dependencies",
                  "acceptance_criteria", "github_links", "unresolved_refs", "legacy_rows"):  # fmt: skip
        assert preview.counts(table).inserted == real.counts(table).inserted, table
    assert len(preview.anomalies) == len(real.anomalies) > 0

    missing_target = tmp_path / "nowhere" / "target.db"
    url = f"sqlite:///{missing_target}"
    import_legacy(legacy, get_engine(url), dry_run=True)
    forget_engine(url)
    assert not missing_target.parent.exists()


def test_legacy_file_is_never_written(tmp_path: Path, sqlite_engine: Engine) -> None:
    folder = tmp_path / "legacy"
    path = folder / "wal.db"
    generate(path, items=20, generation=1, seed=3, messes=False)
    # A file in WAL mode with changes still in its -wal: read them, but from a copy.
    writer = sqlite3.connect(path)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE work_items SET title = 'only in the WAL' WHERE rowid = 1")
        writer.commit()
        files = {p.name: file_sha256(p) for p in folder.iterdir()}
        assert "wal.db-wal" in files
        report = import_legacy(path, sqlite_engine)
        assert {p.name: file_sha256(p) for p in folder.iterdir()} == files
    finally:
        writer.close()
    assert any("wal" in note for note in report.notes)
    with sqlite_engine.connect() as c:
        assert (
            c.exec_driver_sql("SELECT COUNT(*) FROM work_items WHERE title = 'only in the WAL'").scalar() == 1
        )

    plain = folder / "plain.db"
    generate(plain, items=5, generation=2, seed=1)
    digest = file_sha256(plain)
    import_legacy(plain, sqlite_engine, replace=True)  # another file over the same ids
    assert file_sha256(plain) == digest and sidecars(plain) == []


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("zero_bytes", "is empty \\(0 bytes\\)"),
        ("text_file", "is not a SQLite database"),
        ("no_tables", "empty SQLite database \\(it has no tables\\)"),
        (
            "unknown_layout",
            "layout the importer does not know.*Expected generation 2.*Found tables: notes\\(id, body\\)",
        ),
        ("half_generation_2", "not generation 2: work_items lacks .*labels"),
    ],
)
def test_files_that_are_not_a_known_legacy_database(
    tmp_path: Path, sqlite_engine: Engine, setup: str, message: str
) -> None:
    path = tmp_path / "legacy.db"
    if setup == "zero_bytes":
        path.write_bytes(b"")
    elif setup == "text_file":
        path.write_text("id,title\n1,hello\n")
    elif setup != "missing":
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 7")  # a real (non-empty) SQLite file, even without tables
        if setup == "unknown_layout":
            conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        elif setup == "half_generation_2":
            conn.execute("CREATE TABLE work_items (id TEXT PRIMARY KEY, title TEXT, status TEXT)")
            conn.execute("CREATE TABLE projects (id TEXT, name TEXT)")
            conn.execute("CREATE TABLE ideas (id TEXT, title TEXT)")
        conn.commit()
        conn.close()
    before = snapshot(sqlite_engine)
    with pytest.raises(LegacyImportError, match=message):
        import_legacy(path, sqlite_engine)
    assert snapshot(sqlite_engine) == before


def test_cli_dry_run_then_import_then_nothing_changed(legacy: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    report = tmp_path / "out" / "import-report.json"
    runner = CliRunner()
    args = ["db", "import-legacy", str(legacy), "--database-url", url, "--report", str(report)]
    try:
        dry = runner.invoke(app, [*args, "--dry-run"], env={"COLUMNS": "200"})
        assert dry.exit_code == 0, dry.output
        assert "dry run" in dry.output and "dangling_dependency" in dry.output
        assert not (tmp_path / "cli.db").exists()
        first = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert first.exit_code == 0, first.output
        assert "rows per target table" in first.output and "imported generation 2" in first.output
        data = json.loads(report.read_text())
        assert data["target"]["work_items"]["inserted"] == 80 and data["anomalies"]
        assert report.with_suffix(".md").read_text().startswith("# Legacy import report")
        second = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert "nothing changed" in second.output
        assert count(get_engine(url), "work_items") == 80
    finally:
        forget_engine(url)
