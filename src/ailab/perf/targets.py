"""The review's target table, verbatim, plus the stricter goals our issues set."""

from __future__ import annotations

from dataclasses import dataclass

from ailab.perf.registry import Target


@dataclass(frozen=True)
class ReviewTarget:
    metric: str
    claimed_current: str
    target: str
    improvement: str


# ../shared/seeds/000_*.txt, "PERFORMANCE METRICS TARGETS".
REVIEW_TABLE: tuple[ReviewTarget, ...] = (
    ReviewTarget("Dashboard Load", "15s", "<2s", "87% faster"),
    ReviewTarget("Sync Operation", "1s/item", "<100ms/item", "10x faster"),
    ReviewTarget("Database Query", "100ms", "<10ms", "10x faster"),
    ReviewTarget("Memory Usage", "500MB", "<100MB", "5x reduction"),
    ReviewTarget("API Rate Limit", "1 call/s", "100 calls/s", "100x improvement"),
)

DASHBOARD_LOAD = Target(2000.0, "ms", "<=")
SYNC_PER_ITEM = Target(100.0, "ms", "<=")
DATABASE_QUERY = Target(10.0, "ms", "<=")
MEMORY = Target(100.0, "MiB", "<=")
API_CALLS_PER_SECOND = Target(100.0, "calls/s", ">=")
