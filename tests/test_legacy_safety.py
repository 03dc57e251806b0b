"""The legacy import reads only what the legacy file's writers committed, never writes the file,
refuses to overwrite another file's rows without --replace, and numbers lists as the API does."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab import queries
from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.db.session import connect
from ailab.errors import EXIT_NEEDS_CONFIRMATION, EXIT_USAGE, LegacyOverlapError, LegacySourceBusyError
from ailab.legacy import import_legacy
from ailab.legacy.source import file_sha256, read_legacy
from ailab.testing.legacy_synth import generate
from ailab.testing.scratch import forget_engine, scratch_schema
from cli_support import Cli, assert_no_traceback

CRASHING_WRITER = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size=1")  # spill: uncommitted pages reach the file
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE work_items SET status = 'done'")
os._exit(9)  # dies inside the transaction: a hot -journal stays beside the file
"""


def _statuses(engine: Engine) -> dict[str, str]:
    with connect(engine) as conn:
        return {str(k): str(s) for k, s in conn.execute(text("SELECT key, status FROM work_items"))}


def test_a_writer_that_died_mid_transaction_is_not_imported(
    tmp_path: Path, engine: Engine, sqlite_engine: Engine
) -> None:
    committed = tmp_path / "committed.db"
    generate(committed, items=60, generation=2, seed=3, messes=False)
    crashed = tmp_path / "crashed.db"
    crashed.write_bytes(committed.read_bytes())
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(crashed)], check=False)
    assert crashed.with_name("crashed.db-journal").exists()
    digest = file_sha256(crashed)

    report = import_legacy(crashed, engine)
    import_legacy(committed, sqlite_engine)
    expected = _statuses(sqlite_engine)
    assert len(expected) == 60 and list(expected.values()).count("done") < 60
    assert _statuses(engine) == expected  # (main imported every item as done)
    assert any("hot journal" in note for note in report.notes)
    assert file_sha256(crashed) == digest  # the original (and its journal) untouched


@pytest.mark.parametrize("change", ["update", "grow"])
def test_a_live_writer_transaction_is_never_read(tmp_path: Path, change: str) -> None:
    path = tmp_path / "live.db"
    generate(path, items=60, generation=2, seed=4, messes=False)
    before = read_legacy(path).table("work_items").rows
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA cache_size=1")  # the uncommitted pages spill into the file
        writer.execute("BEGIN")
        if change == "update":
            writer.execute("UPDATE work_items SET status = 'done'")
        else:
            writer.execute("CREATE TABLE padding (blob BLOB)")
            writer.execute("INSERT INTO padding SELECT randomblob(4000) FROM work_items")
        with pytest.raises(LegacySourceBusyError, match="locked by a program writing it"):
            read_legacy(path, busy_timeout_s=0.1)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert read_legacy(path).table("work_items").rows == before


def test_the_legacy_file_as_target_is_refused(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "legacy.db"
    generate(path, items=10, generation=2, seed=5)
    digest = file_sha256(path)
    run = cli("db", "import-legacy", str(path), "--database-url", f"sqlite:///{path}")
    forget_engine(f"sqlite:///{path}")
    assert run.code == EXIT_USAGE
    assert_no_traceback(run)
    assert "is the legacy file itself" in run.err
    assert file_sha256(path) == digest and sorted(p.name for p in tmp_path.iterdir()) == ["legacy.db"]


def test_another_file_with_overlapping_ids_is_refused_without_replace(tmp_path: Path, engine: Engine) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    generate(first, items=40, generation=2, seed=1, messes=False)
    generate(second, items=40, generation=2, seed=2, messes=False)
    import_legacy(first, engine)
    before = _statuses(engine)
    with pytest.raises(LegacyOverlapError, match="--replace") as refused:
        import_legacy(second, engine)
    overwritten = [a for a in refused.value.report.anomalies if a.kind == "overwritten_from_other_source"]  # type: ignore[attr-defined]
    assert overwritten and {a.value for a in overwritten} == {str(first.resolve())}
    assert _statuses(engine) == before  # nothing written

    replaced = import_legacy(second, engine, replace=True)
    assert len([a for a in replaced.anomalies if a.kind == "overwritten_from_other_source"]) == len(
        overwritten
    )
    assert import_legacy(second, engine).changed is False  # its own rows again: no refusal


def test_cli_overlap_exit_code_and_report_under_reports(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    generate(first, items=20, generation=2, seed=1, messes=False)
    generate(second, items=20, generation=2, seed=2, messes=False)
    url = f"sqlite:///{tmp_path / 'target.db'}"
    try:
        ok = cli("db", "import-legacy", str(first), "--database-url", url)
        assert ok.code == 0, ok.output
        assert (tmp_path / "reports" / "legacy-import-report.json").exists()
        assert not list(tmp_path.glob("legacy-import-report.*"))  # not in the working directory
        refused = cli("db", "import-legacy", str(second), "--database-url", url)
        assert refused.code == EXIT_NEEDS_CONFIRMATION
        assert_no_traceback(refused)
        data = json.loads((tmp_path / "reports" / "legacy-import-report.json").read_text())
        assert any(a["kind"] == "overwritten_from_other_source" for a in data["anomalies"])
        replaced = cli("db", "import-legacy", str(second), "--database-url", url, "--replace")
        assert replaced.code == 0, replaced.output
    finally:
        forget_engine(url)


def test_positions_start_at_one_from_the_import_and_the_api(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "legacy.db"
    generate(path, items=60, generation=2, seed=6, messes=False)
    import_legacy(path, engine)
    with connect(engine, readonly=False) as conn:
        created = queries.create_work_item(
            conn, {"title": "made by the API", "criteria": ["first", "second"], "blockers": ["a wait"]}
        )
    with connect(engine) as conn:
        for table in ("acceptance_criteria", "blockers"):
            starts = set(
                conn.execute(text(f"SELECT MIN(position) FROM {table} GROUP BY work_item_id")).scalars()
            )
            assert starts == {1}, (table, starts)
        detail = queries.get_work_item(conn, created["key"])
    assert [c["position"] for c in detail["criteria"]] == [1, 2]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_0004_renumbers_zero_based_lists(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'old.db'}"
            stack.callback(forget_engine, url)
        else:
            url = stack.enter_context(
                scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_i15")
            )
        engine = get_engine(url)
        upgrade(engine, "0002")
        with engine.begin() as conn:
            for _ in (1, 2):
                queries.create_work_item(conn, {"title": "t"})
            base = {1: 0, 2: 1}  # item 1 imported (from 0), item 2 from the API (from 1)
            for item, start in base.items():
                for n in range(3):
                    conn.execute(
                        text(
                            "INSERT INTO acceptance_criteria (work_item_id, position, text, done) VALUES (:i, :p, :t, false)"
                        ),
                        {"i": item, "p": start + n, "t": f"c{n}"},
                    )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT work_item_id, position, text FROM acceptance_criteria ORDER BY work_item_id, position"
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            (1, 1, "c0"), (1, 2, "c1"), (1, 3, "c2"), (2, 1, "c0"), (2, 2, "c1"), (2, 3, "c2"),
        ]  # fmt: skip
