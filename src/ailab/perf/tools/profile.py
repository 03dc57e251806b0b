"""Profile the product's main queries: latency, statements, database time and query plans.

Used by ``notebooks/01_query_profile.ipynb``; kept here so the notebook stays thin.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ailab.db import connect, trace
from ailab.perf.harness.timing import Timing, measure
from ailab.queries import get_work_item, list_work_items, summary, transitive_blockers
from ailab.queries.explain import explain_sql

QUERY_TARGET_MS = 10.0  # the review's "Database Query < 10 ms"


@dataclass(frozen=True)
class QueryProfile:
    """One query's profile: its timing over repeated calls, and the statements, database time and
    query plans of one traced call."""

    name: str
    timing: Timing
    statements: int
    db_ms: float
    plans: tuple[str, ...]

    def as_row(self) -> dict[str, Any]:
        """A table row for the notebook: p50/p95, samples, statements, database ms of one call and
        whether p95 meets ``QUERY_TARGET_MS``."""
        return {
            "query": self.name,
            "p50 ms": round(self.timing.p50, 3),
            "p95 ms": round(self.timing.p95, 3),
            "samples": self.timing.n,
            "statements": self.statements,
            "db ms (one call)": round(self.db_ms, 3),
            "meets 10 ms": self.timing.p95 <= QUERY_TARGET_MS,
        }


def _workloads(conn: Connection) -> dict[str, Callable[[], Any]]:
    tags = [str(n) for (n,) in conn.execute(text("SELECT name FROM tags ORDER BY id LIMIT 200"))]
    keys = [str(k) for (k,) in conn.execute(text("SELECT key FROM work_items ORDER BY id DESC LIMIT 500"))]
    next_tag, next_key = itertools.cycle(tags), itertools.cycle(keys)
    return {
        "tag filter page (50, rotating tags)": lambda: list_work_items(conn, tags_any=[next(next_tag)]),
        "status+priority page (todo, high)": lambda: list_work_items(
            conn, status=["todo"], priority=["high"]
        ),
        "title search page (q='cache')": lambda: list_work_items(conn, q="cache"),
        "item detail": lambda: get_work_item(conn, next(next_key)),
        "transitive blockers": lambda: transitive_blockers(conn, next(next_key)),
        "dashboard summary (uncached)": lambda: summary(conn),
    }


def profile_queries(engine: Engine, *, min_seconds: float = 0.3) -> list[QueryProfile]:
    """Time each main query and capture its statements and plans."""
    profiles = []
    with connect(engine) as conn:
        for name, fn in _workloads(conn).items():
            with trace() as t:
                fn()
            statements = [s for s in t.statements if not s.sql.startswith("BEGIN")]
            plans = tuple(
                explain_sql(conn, s.sql, s.params)
                for s in statements
                if s.sql.lstrip().upper().startswith(("SELECT", "WITH"))
            )
            timing = measure(fn, min_seconds=min_seconds, max_seconds=5.0)
            profiles.append(QueryProfile(name, timing, len(statements), t.total_ms, plans))
    return profiles


def uses_index(plan: str) -> bool:
    """Whether a plan reads through an index rather than scanning a whole table."""
    lowered = plan.lower()
    return (
        "using index" in lowered
        or "using covering index" in lowered
        or "index scan" in lowered
        or "index only scan" in lowered
    )
