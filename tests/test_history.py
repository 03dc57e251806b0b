"""The results history: where `ailab report` saves a run, what it records, and `ailab history`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ailab.cli import app
from ailab.errors import AilabError
from ailab.perf.tools.history import (
    current_machine,
    find_metric,
    git_state,
    load_runs,
    machine_fingerprint,
    machine_id,
    save_run,
    series,
)


def _report(p50: float, items: int = 1000) -> dict[str, object]:
    rows = [
        {"group": "database", "name": "tag filter, rare tag", "unit": "ms", "p50": p50, "p95": p50 * 2},
        {"group": "database", "name": "tag filter, popular tag", "unit": "ms", "p50": 3 * p50, "p95": None},
    ]
    return {"meta": {"items": items, "dialect": "sqlite", "quick": True}, "rows": rows, "failures": []}


def test_a_run_is_saved_per_machine_and_commit_with_everything(tmp_path: Path) -> None:
    path = save_run(_report(0.5), tmp_path, groups=["database"])
    commit, dirty = git_state()
    assert path.parent == tmp_path / "history" / current_machine()
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z_{commit[:12]}\.json", path.name)
    data = json.loads(path.read_text())
    assert data["commit"] == commit and data["dirty"] is dirty
    assert data["options"] == {"items": 1000, "dialect": "sqlite", "quick": True, "groups": ["database"]}
    assert [m["name"] for m in data["metrics"]] == ["tag filter, rare tag", "tag filter, popular tag"]
    assert set(data["machine"]) >= {"id", "cpu", "cores", "memory_gib", "os", "python", "sqlite", "postgres"}
    second = save_run(_report(0.6), tmp_path)  # within the same second: a new file, never overwritten
    assert second != path and len(list(path.parent.glob("*.json"))) == 2


def test_the_machine_id_is_stable_and_names_what_it_hashes() -> None:
    fp = machine_fingerprint()
    assert machine_id(fp) == machine_id(machine_fingerprint())
    assert machine_id(fp) != machine_id(machine_fingerprint(postgres_version="16.4"))
    assert machine_id(fp).startswith(f"{fp['os'].split()[0].lower()}-{fp['cores']}cpu-")


def test_one_metric_over_the_runs(tmp_path: Path) -> None:
    for p50 in (0.5, 0.55, 0.4):
        save_run(_report(p50), tmp_path)
    runs = load_runs(tmp_path)
    key = find_metric(runs, "RARE")
    assert key == "database: tag filter, rare tag"
    assert [p.p50 for p in series(runs, key)] == [0.5, 0.55, 0.4]
    with pytest.raises(AilabError, match="2 metrics match 'tag filter'"):
        find_metric(runs, "tag filter")
    with pytest.raises(AilabError, match="No metric in the history matches"):
        find_metric(runs, "nothing like it")


def test_history_command_lists_runs_and_shows_a_metric(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["history", "--out", str(tmp_path)])
    assert empty.exit_code == 0 and "No saved runs" in empty.output
    assert list(tmp_path.iterdir()) == []  # reading never creates a file
    save_run(_report(0.5), tmp_path)
    save_run(_report(0.75, items=2000), tmp_path)
    listed = runner.invoke(app, ["history", "--out", str(tmp_path)], terminal_width=200)
    assert listed.exit_code == 0 and "2 runs" in listed.output and git_state()[0][:10] in listed.output
    shown = runner.invoke(app, ["history", "--out", str(tmp_path), "-m", "rare tag"], terminal_width=200)
    assert shown.exit_code == 0 and "+50.0%" in shown.output  # 0.5 -> 0.75 ms
    only = runner.invoke(
        app, ["history", "--out", str(tmp_path), "-m", "rare", "--items", "2000"], terminal_width=200
    )
    assert "+50.0%" not in only.output and "0.750 ms" in only.output
    unknown = runner.invoke(app, ["history", "--out", str(tmp_path), "-m", "zzz"])
    assert unknown.exit_code != 0
