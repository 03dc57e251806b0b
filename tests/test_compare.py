"""``ailab compare``: the same workloads on SQLite and Postgres, on tiny sizes (seconds)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from typer.testing import CliRunner

from ailab.cli import app
from ailab.errors import ConfigError, PoolExhaustedError
from ailab.perf.bench.workloads import WORKLOADS, CellResult, Fixtures, Mix, async_url, classify_error
from ailab.perf.tools.compare import (
    ASYNC,
    BASE,
    OLD_GET_DB,
    POOL_BIG,
    Comparison,
    cell_specs,
    comparison_from_rows,
    comparison_rows,
    fresh_comparison,
    run_comparison,
)
from ailab.settings import parse_database_url
from ailab.testing.scratch import libpq_dsn

pytestmark = pytest.mark.postgres


def _schemas(server_url: str, prefix: str) -> set[str]:
    with psycopg.connect(libpq_dsn(parse_database_url(server_url))) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)
        ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def tiny(postgres_server_url: str) -> Comparison:
    """One full tiny comparison on the test Postgres (scratch schema) and a temp SQLite file."""
    before = _schemas(postgres_server_url, "ailab_compare")
    cmp = run_comparison(items=150, postgres_url=postgres_server_url, clients=2, seconds=0.15)
    assert _schemas(postgres_server_url, "ailab_compare") == before  # the scratch schema is gone
    return cmp


def test_every_cell_runs_on_both_engines(tiny: Comparison) -> None:
    specs = cell_specs(2)
    assert len(tiny.cells) == 2 * len(specs)
    assert {c.variant for c in tiny.cells} == {BASE, POOL_BIG, ASYNC, OLD_GET_DB}
    assert {c.workload for c in tiny.cells} == set(WORKLOADS)
    for pair in tiny.pairs():
        for cell in (pair.sqlite, pair.postgresql):
            assert cell.ops > 0, cell
            assert cell.p95_ms >= cell.p50_ms > 0
        assert pair.throughput_ratio > 0
    assert len(tiny.pairs()) == len(specs)
    assert tiny.meta["items"] == 150
    assert "given server" in tiny.meta["postgres"]


def test_write_heavy_cells_write(tiny: Comparison) -> None:
    cell = tiny.cell("sqlite", "write-heavy", 2)
    assert cell is not None
    assert not math.isnan(cell.write_p95_ms)
    read_only = tiny.cell("postgresql", "read-only", 1)
    assert read_only is not None and math.isnan(read_only.write_p95_ms)


def test_json_round_trip_and_report_rows(tiny: Comparison, tmp_path: Path) -> None:
    path = tiny.save(tmp_path / "compare.json")
    data = json.loads(path.read_text())  # plain JSON: no NaN tokens
    assert "NaN" not in path.read_text()
    again = Comparison.from_json(data)
    assert [c.key() for c in again.cells] == [c.key() for c in tiny.cells]
    rows = comparison_rows(again)
    assert all(r.group == "compare" and r.unit == "ops/s" and r.baseline_label == "SQLite" for r in rows)
    rebuilt = comparison_from_rows(rows)
    assert rebuilt is not None and len(rebuilt.cells) == len(tiny.cells)
    assert rebuilt.variant_ratio("sqlite", ASYNC) == pytest.approx(tiny.variant_ratio("sqlite", ASYNC))
    assert fresh_comparison(tmp_path, max_age_hours=1) is not None
    assert fresh_comparison(tmp_path, max_age_hours=0) is None
    assert fresh_comparison(tmp_path / "nothing", max_age_hours=1) is None


@pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR")  # pgserver's platformdirs, harmless
def test_cli_with_embedded_postgres_writes_json(tmp_path: Path) -> None:
    """No URL: an embedded pgserver is started in a temporary directory and stopped again."""
    result = CliRunner().invoke(
        app,
        [
            "compare",
            "--items",
            "60",
            "--clients",
            "2",
            "--seconds",
            "0.1",
            "--no-variants",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "compare.json").read_text())
    assert data["meta"]["postgres"].startswith("embedded pgserver")
    assert {c["engine"] for c in data["cells"]} == {"sqlite", "postgresql"}
    assert {c["variant"] for c in data["cells"]} == {BASE}
    assert "SQLite vs Postgres" in result.output


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        run_comparison(items=100, clients=0)
    with pytest.raises(ConfigError, match="PostgreSQL URL"):
        run_comparison(items=100, postgres_url="sqlite:///x.db", seconds=0.1)


def test_error_classification() -> None:
    assert classify_error(PoolExhaustedError("no connection")) == "pool timeout"
    assert classify_error(sa_exc.TimeoutError("QueuePool limit")) == "pool timeout"
    assert (
        classify_error(RuntimeError("(sqlite3.OperationalError) database is locked")) == "database is locked"
    )
    assert classify_error(RuntimeError("FATAL: sorry, too many clients already")) == "too many connections"
    assert classify_error(RuntimeError("deadlock detected")) == "deadlock"
    assert classify_error(KeyError("x")) == "KeyError"


def test_mix_write_share() -> None:
    fx = Fixtures(keys=("WI-000001",), tags=("api",))
    rng = random.Random(3)
    assert {Mix(fx, 0.0).pick(rng)[0] for _ in range(200)} == {"read"}
    kinds = [Mix(fx, 0.5).pick(rng)[0] for _ in range(2000)]
    assert 0.4 < kinds.count("write") / len(kinds) < 0.6


def test_async_url() -> None:
    assert async_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    assert async_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_cell_result_from_dict_accepts_nulls() -> None:
    cell = CellResult.from_dict(
        {"engine": "sqlite", "workload": "read-only", "clients": 1, "variant": BASE, "seconds": 1.0, "ops": 0,
         "errors": {"pool timeout": 2}, "p50_ms": None, "p95_ms": None}
    )  # fmt: skip
    assert math.isnan(cell.p95_ms) and cell.error_count == 2 and cell.throughput == 0
