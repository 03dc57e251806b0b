"""The claims ledger and the target table: verdicts follow the figures; missing figures are said so."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ailab.db.seed import seed_database
from ailab.perf.bench import claims as bc
from ailab.perf.bench import probes
from ailab.perf.bench.workloads import CellResult
from ailab.perf.harness.registry import Measurement
from ailab.perf.harness.targets import DASHBOARD_LOAD, DATABASE_QUERY, REVIEW_TABLE
from ailab.perf.report.claims import CLAIMS, NOT_MEASURED, Claim, build_ledger
from ailab.perf.report.scorecard import convert, target_rows
from ailab.perf.tools.compare import ASYNC, BASE, OLD_GET_DB, POOL_BIG, Comparison, comparison_rows


def _cell(
    engine: str, workload: str, clients: int, variant: str, ops: int, errors: dict[str, int] | None = None
) -> CellResult:
    return CellResult(
        engine, workload, clients, variant, seconds=1.0, ops=ops, errors=errors or {}, p50_ms=1.0, p95_ms=2.0
    )


def _comparison(sqlite_ops: int, pg_ops: int, *, async_factor: float = 0.5, big_pool_factor: float = 1.0,
                base_timeouts: int = 0) -> Comparison:  # fmt: skip
    cells = []
    for engine, ops in (("sqlite", sqlite_ops), ("postgresql", pg_ops)):
        for workload in ("read-only", "read-mostly", "write-heavy"):
            for clients in (1, 8):
                errors = (
                    {"pool timeout": base_timeouts}
                    if (workload, clients) == ("read-mostly", 8) and base_timeouts
                    else {}
                )
                cells.append(_cell(engine, workload, clients, BASE, ops, errors))
        cells.append(_cell(engine, "read-mostly", 8, POOL_BIG, int(ops * big_pool_factor)))
        cells.append(_cell(engine, "read-mostly", 8, ASYNC, int(ops * async_factor)))
        cells.append(_cell(engine, "read-mostly", 8, OLD_GET_DB, ops // 5,
                           {"too many connections": 7} if engine == "postgresql" else None))  # fmt: skip
    return Comparison(meta={"clients": 8, "items": 1000}, cells=cells)


def _by_key(rows: list[Measurement]) -> dict[str, Claim]:
    return {c.key: c for c in build_ledger(rows)}


def test_every_claim_says_not_measured_without_figures() -> None:
    ledger = build_ledger([])
    assert len(ledger) == len(CLAIMS) >= 10
    assert all(c.verdict == "not measured" and c.figure == NOT_MEASURED for c in ledger)
    assert len({c.key for c in ledger}) == len(ledger)


def _writers(missing_pooled: int) -> list[Measurement]:
    def row(name: str, missing: int) -> Measurement:
        extra = {
            "found": 4000 - missing,
            "expected": 4000,
            "integrity": "ok",
            "errors": 0,
            "missing": missing,
        }
        return Measurement("claims", name, "rows", float(missing), extra=extra)

    return [row(bc.WRITERS_POOLED, missing_pooled), row(bc.WRITERS_SHARED, 900)]


def test_check_same_thread_verdict_follows_lost_rows() -> None:
    assert _by_key(_writers(0))["check-same-thread"].verdict == "does not hold"
    assert _by_key(_writers(3))["check-same-thread"].verdict == "holds"


def test_comparison_verdicts() -> None:
    pg_faster = _by_key(comparison_rows(_comparison(100, 300, async_factor=1.5)))
    assert pg_faster["postgres"].verdict == "holds"
    assert pg_faster["async-db"].verdict == "holds"
    sqlite_faster = _by_key(comparison_rows(_comparison(300, 100, base_timeouts=4)))
    assert sqlite_faster["postgres"].verdict == "does not hold"
    assert sqlite_faster["async-db"].verdict == "does not hold"
    # A big pool that removes pool timeouts but adds no throughput: partly.
    assert sqlite_faster["pool-20-30"].verdict == "partly"
    no_timeouts = _by_key(comparison_rows(_comparison(300, 100)))
    assert no_timeouts["pool-20-30"].verdict == "does not hold"


def test_no_pooling_needs_the_lookup_and_reports_exhaustion() -> None:
    lookup = Measurement("database", "checkout + one-row lookup (pooled, Core)", "ms", 0.1, baseline=1.2,
                         baseline_label="engine per call")  # fmt: skip
    claim = _by_key([lookup, *comparison_rows(_comparison(300, 100))])["no-pooling"]
    assert claim.verdict == "holds"
    assert "too many connections" in claim.figure


def test_microservices_and_json_claims() -> None:
    rows = [
        Measurement("claims", bc.HOP, "ms", 0.2, baseline=0.8, extra={"hop_ms": 0.6}),
        Measurement("claims", bc.JSON_INDEX, "ms", 0.02, baseline=20.0,
                    extra={"plan_indexed": "SEARCH items USING INDEX ix (<expr>=?)"}),
        Measurement("claims", bc.JSON_FILE_SIZE, "MiB", 18.0, baseline=15.0, baseline_label="JSON columns"),
        Measurement("database", "tag filter, first page of 50 with tags, rare tag", "ms", 0.2, baseline=12.0),
    ]  # fmt: skip
    ledger = _by_key(rows)
    assert ledger["microservices"].verdict == "does not hold"
    assert ledger["json-columns"].verdict == "partly"
    assert ledger["relational-tags"].verdict == "holds"


def test_target_table_maps_rows_by_target_and_converts_units() -> None:
    rows = [
        Measurement("database", "q1", "ms", 1.0, p95=3.0, baseline=40.0, target=DATABASE_QUERY),
        Measurement("database", "q2", "ms", 2.0, p95=12.0, target=DATABASE_QUERY),
        Measurement("dashboard", "page load", "s", 0.4, p95=0.5, target=DASHBOARD_LOAD),
    ]
    table = {t.review.metric: t for t in target_rows(rows)}
    assert list(table) == [t.metric for t in REVIEW_TABLE]
    query = table["Database Query"]
    assert query.now == 12.0 and query.old == 40.0 and query.verdict == "missed"
    assert table["Dashboard Load"].now == 500.0 and table["Dashboard Load"].verdict == "met"
    assert table["Memory Usage"].verdict == "not measured"
    with_lt = {t.review.metric: t for t in target_rows(rows, {"db": "sqlite", "server": {"rss_mib": 80.0}})}
    assert with_lt["Memory Usage"].now == 80.0 and with_lt["Memory Usage"].verdict == "met"
    assert math.isnan(convert(1.0, "ms", "MiB"))


def test_writers_probe_keeps_every_row_with_a_pool(tmp_path: Path) -> None:
    result = probes.pooled_writers(tmp_path / "w.db", threads=8, rows=40)
    assert result.integrity == "ok"
    assert result.found == result.expected == 320 and result.errors == 0


@pytest.mark.parametrize("layout", ["json", "relational"])
def test_layouts_hold_the_same_data(layout: str, tmp_path: Path, sqlite_engine: Engine) -> None:
    seed_database(sqlite_engine, items=120, seed=5)
    json_path, rel_path, n = probes.build_layouts(sqlite_engine, tmp_path)
    loaded = probes.load_all(layout, json_path if layout == "json" else rel_path)
    assert n == 120 and loaded["items"] == 120
    index = probes.json_expression_index(json_path, rounds=1)
    assert "USING INDEX" in index.plan_indexed and "USING INDEX" not in index.plan_scan


def test_sync_claims_use_the_like_for_like_rows() -> None:
    label = "old pattern: 1 create + sleep(1) per item (8 items, measured)"
    rows = [
        Measurement("sync", "initial push: issue creation, per item (sample of 40)", "ms", 760.0, baseline=1050.0,
                    baseline_label=label),
        Measurement("sync", "re-sync 10,000 items, 10% changed: per changed item", "ms", 52.0, baseline=1050.0,
                    baseline_label=label),
        Measurement("sync", "re-sync, nothing changed: per item", "ms", 0.1, baseline=1050.0, baseline_label=label),
        Measurement("sync", "re-sync, 10% changed: items per write request", "items", 20.0, higher_is_better=True),
    ]  # fmt: skip
    ledger = _by_key(rows)
    limit = ledger["sleep-rate-limit"]
    assert limit.verdict == "does not hold"
    assert "1.38x" in limit.figure and "10,500x" in limit.figure
    assert ledger["no-batching"].verdict == "partly"
    assert "20.0 items per write request" in ledger["no-batching"].figure


def test_pool_claim_uses_the_load_tests_connection_waits() -> None:
    loadtest = {"failure_reasons": [{"request": "PATCH /api/work-items/{id}", "occurrences": 28,
                                     "error": "HTTP 503: All 10 database connections stayed busy for 2 s"}]}  # fmt: skip
    rows = comparison_rows(_comparison(300, 100))
    claim = {c.key: c for c in build_ledger(rows, loadtest=loadtest)}["pool-20-30"]
    assert claim.verdict == "partly"
    assert "28 requests failed" in claim.figure
