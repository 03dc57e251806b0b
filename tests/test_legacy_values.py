"""The pieces of the legacy import: value parsers, the vocabulary map, the layouts, the generator."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from ailab.errors import LegacyImportError
from ailab.legacy.schema import GENERATION_1, GENERATION_2, detect_layout, table_ddl
from ailab.legacy.values import github_issue_url, github_repository, parse_datetime, parse_float, parse_json
from ailab.legacy.vocabulary import map_priority, map_status
from ailab.testing.legacy_synth import generate
from ailab.vocab import PRIORITIES, STATUSES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-11-13 23:07:17.926925", datetime(2025, 11, 13, 23, 7, 17, 926925)),
        ("2025-11-14T10:00:00Z", datetime(2025, 11, 14, 10, 0)),
        ("2025-11-09T00:00:00+02:00", datetime(2025, 11, 8, 22, 0)),
        ("2025-11-09", datetime(2025, 11, 9)),
        ("09.11.2025", datetime(2025, 11, 9)),
        ("09.11.2025 14:30", datetime(2025, 11, 9, 14, 30)),
        ("2025/11/09", datetime(2025, 11, 9)),
        (1762646400, datetime(2025, 11, 9)),
    ],
)
def test_every_date_format_the_old_system_wrote(raw: object, expected: datetime) -> None:
    assert parse_datetime(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["next sprint", "11/09/2025", "31.02.2025", 12, True])
def test_dates_that_are_not_dates_are_not_guessed(raw: object) -> None:
    value, problem = parse_datetime(raw)
    assert value is None and problem


def test_json_and_numbers() -> None:
    assert parse_json('["a", "b"]') == (["a", "b"], None)
    assert parse_json('["a", "b"') == (None, "not valid JSON")
    assert parse_float("4,5") == (4.5, None)
    assert parse_float("4h")[0] is None


def test_github_urls() -> None:
    assert github_repository("https://github.com/HerrSensei/mobile-app-development-kit") == (
        "HerrSensei/mobile-app-development-kit"
    )
    assert github_repository("git@github.com:owner/repo.git") == "owner/repo"
    assert github_repository("https://gitlab.com/owner/repo") is None
    assert github_issue_url("https://github.com/owner/repo/issues/12") == ("owner/repo", 12)
    assert github_issue_url("https://github.com/owner/repo") is None


def test_vocabulary_map() -> None:
    assert [map_status(s) for s in ("open", "completed", "In Progress", "wontfix", "todo")] == [
        "todo", "done", "in_progress", "cancelled", "todo",
    ]  # fmt: skip
    assert map_status("someday") is None
    assert [map_priority(p) for p in ("urgent", "normal", "P1", "high")] == [
        "critical",
        "medium",
        "high",
        "high",
    ]
    assert all(map_status(s) == s for s in STATUSES) and all(map_priority(p) == p for p in PRIORITIES)


def test_layout_detection() -> None:
    assert detect_layout(GENERATION_2.columns, "x") is GENERATION_2
    assert detect_layout(GENERATION_1.columns, "x") is GENERATION_1
    with pytest.raises(LegacyImportError, match="no tables"):
        detect_layout({}, "x")


@pytest.mark.parametrize("generation", [1, 2])
def test_generated_files_have_the_exact_layout(tmp_path: Path, generation: int) -> None:
    path = tmp_path / "synthetic.db"
    summary = generate(path, items=50, generation=generation, seed=1, messes=False)
    layout = GENERATION_2 if generation == 2 else GENERATION_1
    conn = sqlite3.connect(path)
    try:
        ddl = [r[0] for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'sqlite_sequence' ORDER BY rowid"
        )]  # fmt: skip
        labels = conn.execute(f"SELECT {'labels' if generation == 2 else 'tags'} FROM work_items").fetchall()
    finally:
        conn.close()
    assert ddl == list(layout.ddl)
    assert summary.items == len(labels) == 50
    assert sum(len(json.loads(r[0])) for r in labels) == summary.tag_links
    assert summary.popular_tag in summary.tag_counts and summary.seconds > 0


def test_generator_refuses_to_overwrite_a_non_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("precious")
    with pytest.raises(LegacyImportError, match="not overwriting"):
        generate(path, items=1)
    assert path.read_text() == "precious"


def test_one_table_of_a_layout() -> None:
    statements = table_ddl(GENERATION_2, "work_items")
    assert statements[0].startswith("CREATE TABLE work_items (") and "labels JSON" in statements[0]
    assert len(statements) == 5 and all(" ON work_items" in s for s in statements[1:])
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)
    conn.close()
