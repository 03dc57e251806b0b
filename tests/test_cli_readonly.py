"""Commands that only read never write: ``db current`` and ``db check`` open SQLite ``mode=ro``,
leave the file's bytes alone, create nothing, and work on files nobody may write."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.db.readonly import readonly_engine
from ailab.errors import EXIT_NO_DATABASE, DatabaseMissingError
from ailab.legacy.source import file_sha256
from ailab.testing.legacy_synth import generate
from ailab.testing.scratch import forget_engine
from cli_support import assert_no_traceback, run_cli, write_protected


@pytest.fixture
def legacy_copy(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.db"
    generate(path, items=20, generation=2, seed=5)
    return path


def _dir_listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


@pytest.mark.parametrize("command", [["db", "current"], ["db", "check"]])
def test_read_only_commands_leave_a_legacy_file_byte_identical(
    command: list[str], legacy_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before, listing = file_sha256(legacy_copy), _dir_listing(legacy_copy)
    url = f"sqlite:///{legacy_copy}"
    try:
        run = run_cli(capsys, monkeypatch, *command, "--database-url", url)
    finally:
        forget_engine(url)
    # `db current` answers; `db check` says the schema is missing (it is a legacy file): either way
    # the file is untouched (on main `db current` switched it to WAL).
    assert run.code in (0, 65), run.output
    assert file_sha256(legacy_copy) == before
    assert _dir_listing(legacy_copy) == listing


@pytest.mark.parametrize("command", [["db", "current"], ["db", "check"]])
def test_a_mistyped_path_is_an_error_and_creates_nothing(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "ailab-typo.db"
    run = run_cli(capsys, monkeypatch, *command, "--database-url", f"sqlite:///{typo}")
    assert run.code == EXIT_NO_DATABASE
    assert_no_traceback(run)
    assert str(typo) in run.err and "ailab db upgrade" in run.err
    assert not typo.exists() and list(tmp_path.iterdir()) == []


def test_a_write_protected_database_can_be_inspected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ailab.db"
    url = f"sqlite:///{path}"
    upgrade(get_engine(url))
    forget_engine(url)  # closes every connection: the -wal and -shm files go away
    before = file_sha256(path)
    try:
        with write_protected(path):
            current = run_cli(capsys, monkeypatch, "db", "current", "--database-url", url)
            check = run_cli(capsys, monkeypatch, "db", "check", "--database-url", url)
    finally:
        forget_engine(url)
    assert current.code == 0 and current.out.startswith("current: 0"), current.output
    assert check.code == 0 and "summary_counts: exact" in check.out, check.output
    assert file_sha256(path) == before and _dir_listing(path) == ["ailab.db"]


def test_readonly_engine_cannot_write(db_url: str) -> None:
    engine = readonly_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT revision FROM data_revision")).scalar() is not None
    with pytest.raises(Exception, match=r"(?i)read.?only"), engine.begin() as conn:
        conn.execute(text("UPDATE data_revision SET revision = revision + 1"))


def test_readonly_engine_names_a_missing_file_and_how_to_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(DatabaseMissingError, match="ailab db upgrade --database-url sqlite:///"):
        readonly_engine(f"sqlite:///{missing}")
    assert not missing.exists()


def test_readonly_engine_sees_what_another_writer_committed_since(tmp_path: Path) -> None:
    """A closed WAL file is read ``immutable``; that must not outlive the connection, or a
    process that reads twice (a notebook, two ``sync --check`` runs) misses later commits."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    writer = get_engine(url)
    upgrade(writer)
    writer.dispose()  # the last connection closes: no -wal beside the file, so immutable
    assert not (tmp_path / "w.db-wal").exists()
    reader = readonly_engine(url)
    count = text("SELECT count(*) FROM projects")
    with reader.connect() as conn:
        assert conn.execute(count).scalar() == 0
    with writer.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (key, name, description, status, created_at, updated_at) "
                "VALUES ('P', 'p', '', 'active', '2026-01-01', '2026-01-01')"
            )
        )
    writer.dispose()
    with reader.connect() as conn:
        assert conn.execute(count).scalar() == 1
    forget_engine(url)
