"""The ``smoke`` group: a few core reads with short samples, for quick A/Bs (tests, notebooks, CI).

Not part of a full ``ailab report`` (it repeats database rows with less precision); run it by
name: ``ailab report --only smoke`` or ``ailab ab BASE --only smoke``. A run takes about a second
on top of the seed, so an A/B of two commits fits into a test suite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from ailab.db import connect, get_engine
from ailab.db.models import WorkItem
from ailab.perf.bench_core import _rotating, _sample_keys, _tag_classes
from ailab.perf.registry import BenchContext, Measurement, benchmark
from ailab.perf.timing import measure
from ailab.queries.items import list_work_items

GROUP = "smoke"


def _tag_page(conn: Connection, tag: str) -> Callable[[], Any]:
    return lambda: list_work_items(conn, tags_any=[tag], limit=50)


@benchmark(GROUP, order=5, default=False)
def bench_smoke(ctx: BenchContext) -> list[Measurement]:
    """A one-row lookup and a tag-filtered page per tag class, each timed for a short while."""
    engine = get_engine(ctx.database_url)
    next_key = _rotating(_sample_keys(engine, 200))
    by_key = select(WorkItem.id, WorkItem.title).where(WorkItem.key == bindparam("k"))
    seconds = 0.05 if ctx.quick else 0.3
    rows: list[Measurement] = []
    with connect(engine) as conn:

        def lookup() -> Any:
            return conn.execute(by_key, {"k": next_key()}).first()

        candidates: dict[str, Callable[[], Any]] = {"one-row lookup by key": lookup}
        for label, tag in _tag_classes(engine).items():
            candidates[f"tag filter, first page of 50, {label} tag"] = _tag_page(conn, tag)
        for name, fn in candidates.items():
            t = measure(fn, warmup=5, min_samples=30, min_seconds=seconds, max_seconds=10 * seconds)
            rows.append(Measurement(group=GROUP, name=name, unit="ms", p50=t.p50, p95=t.p95, n=t.n))
    return rows
