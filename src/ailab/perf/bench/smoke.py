"""The ``smoke`` group: a few core reads with short samples, for quick A/Bs (tests, notebooks, CI).

Not part of a full ``ailab report`` (it repeats database rows with less precision); run it by
name: ``ailab report --only smoke`` or ``ailab ab BASE --only smoke``.

Like an asv benchmark suite, it is written against the tracker's stable API only (migrate, seed,
connect, ``list_work_items``) and times with its own loop, so ``ailab ab`` runs *this* file
against *each* commit's code (``python -c`` with that commit's ``src`` on ``PYTHONPATH``): any
base commit can be measured with it, including commits older than this file.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ailab.db import connect, get_engine
from ailab.queries.items import list_work_items

GROUP = "smoke"


def _samples(
    fn: Callable[[], Any], min_seconds: float, min_samples: int = 30, warmup: int = 5
) -> list[float]:
    """Milliseconds per call, until ``min_samples`` and ``min_seconds`` (capped at 10x that)."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e6)
        elapsed = time.perf_counter() - started
        if (len(out) >= min_samples and elapsed >= min_seconds) or elapsed >= 10 * min_seconds:
            return sorted(out)


def _tag_page(conn: Connection, tag: str) -> Callable[[], Any]:
    return lambda: list_work_items(conn, tags_any=[tag], limit=50)


def smoke_rows(database_url: str, quick: bool) -> list[dict[str, Any]]:
    """Rows (report.json shape) for a one-row lookup and a tag-filtered page per tag class."""
    seconds = 0.05 if quick else 0.3
    rows = []
    with connect(get_engine(database_url)) as conn:
        tags = [
            str(r[0])
            for r in conn.execute(
                text(
                    "SELECT t.name FROM work_item_tags wit JOIN tags t ON t.id = wit.tag_id"
                    " GROUP BY t.name ORDER BY COUNT(*) DESC, t.name"
                )
            )
        ]
        keys = itertools.cycle(
            [str(r[0]) for r in conn.execute(text("SELECT key FROM work_items LIMIT 200"))]
        )
        by_key = text("SELECT id, title FROM work_items WHERE key = :k")
        candidates: dict[str, Callable[[], Any]] = {
            "one-row lookup by key": lambda: conn.execute(by_key, {"k": next(keys)}).first()
        }
        for label, tag in (("popular", tags[0]), ("median", tags[len(tags) // 2]), ("rare", tags[-1])):
            candidates[f"tag filter, first page of 50, {label} tag"] = _tag_page(conn, tag)
        for name, fn in candidates.items():
            s = _samples(fn, seconds)
            p50, p95 = s[(len(s) - 1) // 2], s[min(len(s) - 1, int(0.95 * len(s)))]
            rows.append({"group": GROUP, "name": name, "unit": "ms", "p50": p50, "p95": p95, "n": len(s)})
    return rows


if __name__ != "__main__":
    # Registered only when imported as part of this checkout's suite: run as a script by
    # ``ailab ab`` against another commit's code, it must touch nothing but the stable API above
    # (an older commit's registry may lack ``default=``; a newer layout may have moved it).
    from ailab.perf.harness.registry import BenchContext, Measurement, benchmark

    @benchmark(GROUP, order=5, default=False)
    def bench_smoke(ctx: BenchContext) -> list[Measurement]:
        return [Measurement(**row) for row in smoke_rows(ctx.database_url, ctx.quick)]


def main(argv: list[str]) -> None:
    """``<items> <quick 0|1> <out.json>``: seed a scratch SQLite file, write the rows to ``out.json``."""
    from ailab.db.migrate import upgrade
    from ailab.db.seed import seed_database

    items, quick, out = int(argv[0]), argv[1] == "1", Path(argv[2])
    with tempfile.TemporaryDirectory(prefix="ailab-smoke-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'smoke.db'}"
        engine = get_engine(url)
        upgrade(engine)
        seed_database(engine, items=items, seed=42)
        rows = smoke_rows(url, quick)
        engine.dispose()
    out.write_text(json.dumps({"rows": rows, "failures": []}))


if __name__ == "__main__":
    main(sys.argv[1:])
