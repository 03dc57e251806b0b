"""Leftovers: `ailab report` removes its temporary files on success, failure and Ctrl-C; an
unknown --only group is an error listing the valid ones; Ctrl-C prints one line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ailab.db.engine import get_engine
from ailab.errors import EXIT_CONFIG, EXIT_INTERRUPTED, ConfigError
from ailab.perf.bench import core as bench_core
from ailab.perf.harness.registry import BenchContext, Measurement, Registered
from ailab.perf.report import run as report
from cli_support import Cli, assert_no_traceback


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temporary directory, for this test alone (to see what is left in it)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _with_benchmark(monkeypatch: pytest.MonkeyPatch, outcome: str) -> None:
    """The report runs one benchmark: it builds the old-JSON baseline copy, then ``outcome``."""

    def bench(ctx: BenchContext) -> list[Measurement]:
        bench_core._json_baseline_conn(ctx, get_engine(ctx.database_url)).close()
        if outcome == "fail":
            raise RuntimeError("benchmark broke")
        if outcome == "interrupt":
            raise KeyboardInterrupt
        return []

    monkeypatch.setattr(report, "registered", lambda groups=None: [Registered("database", 1, bench)])


@pytest.mark.parametrize("outcome", ["succeed", "fail", "interrupt"])
def test_report_removes_its_temporary_files(
    outcome: str, private_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    _with_benchmark(monkeypatch, outcome)
    run = cli("report", "--items", "12", "--quick", "--out", str(tmp_path / "reports"))
    assert run.code == {"succeed": 0, "fail": 1, "interrupt": EXIT_INTERRUPTED}[outcome], run.output
    assert list(private_tmp.iterdir()) == []  # main left ailab-json-*/old_json.db behind
    if outcome == "interrupt":
        lines = [line for line in run.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("interrupted: no new report was written")
        assert "Traceback" not in run.output


def test_unknown_only_group_is_an_error_listing_the_valid_ones(cli: Cli, tmp_path: Path) -> None:
    run = cli("report", "--only", "bogus", "--items", "12", "--out", str(tmp_path / "reports"))
    assert run.code == EXIT_CONFIG
    assert_no_traceback(run)
    assert "Unknown report group 'bogus'" in run.err and "database" in run.err and "sync" in run.err
    assert not (tmp_path / "reports").exists()
    with pytest.raises(ConfigError, match="--only takes"):
        report.run_report(items=12, groups={"database", "nope"}, reports_dir=tmp_path / "r")


def test_ctrl_c_in_a_database_command_says_what_was_kept(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ailab.db import seed

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(seed, "seed_database", interrupted)
    run = cli("db", "seed", "--items", "5", "--database-url", f"sqlite:///{tmp_path / 'x.db'}")
    assert run.code == EXIT_INTERRUPTED
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "transaction in progress was rolled back" in lines[0]
