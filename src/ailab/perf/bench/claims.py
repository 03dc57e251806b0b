"""Report rows that test review claims directly (see ``ailab.perf.bench.probes``; the ledger reads them)."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ailab.db import get_engine
from ailab.perf.bench import probes
from ailab.perf.bench.workloads import Fixtures
from ailab.perf.harness.registry import BenchContext, Measurement, benchmark
from ailab.perf.harness.timing import Timing

GROUP = "claims"
WRITERS_POOLED = "check_same_thread=False, pool (a connection per thread), 8 writer threads: rows missing"
WRITERS_SHARED = "check_same_thread=False, one connection shared by 8 threads at once: rows missing"
JSON_FILE_SIZE = "tags + dependencies: database file size, relational vs JSON columns"
JSON_LOAD_MEMORY = "tags + dependencies: memory to load every item, relational vs JSON columns"
JSON_INDEX = "JSON expression index json_extract(tags, '$[0]') = ?, page of 50"
HOP = "get one item in-process (one service) vs via an extra loopback HTTP hop"


def _timed_against(
    name: str, measured: Timing, baseline: Timing, *, baseline_label: str, note: str, extra: dict[str, Any]
) -> Measurement:
    """A latency row in ms: ``measured``'s spread, against ``baseline``'s median."""
    return Measurement(
        group=GROUP,
        name=name,
        unit="ms",
        p50=measured.p50,
        p95=measured.p95,
        n=measured.n,
        baseline=baseline.p50,
        baseline_label=baseline_label,
        note=note,
        extra=extra,
    )


@benchmark(GROUP, order=800)
def bench_writers(ctx: BenchContext) -> list[Measurement]:
    """8 concurrent writer threads with ``check_same_thread=False``: integrity and lost rows."""
    rows = 100 if ctx.quick else 500
    with tempfile.TemporaryDirectory(prefix="ailab-writers-") as tmp:
        results = probes.concurrent_writers(Path(tmp), threads=8, rows=rows)
    out = []
    for name, r in zip((WRITERS_POOLED, WRITERS_SHARED), results, strict=True):
        out.append(
            Measurement(
                group=GROUP,
                name=name,
                unit="rows",
                p50=float(r.missing),
                n=r.expected,
                note=f"integrity_check: {r.integrity}; {r.found:,}/{r.expected:,} rows; {r.errors} errors"
                + (f" (e.g. {r.first_errors[0]})" if r.first_errors else ""),
                extra={**asdict(r), "missing": r.missing},
            )
        )
    return out


@benchmark(GROUP, order=810)
def bench_json_layout(ctx: BenchContext) -> list[Measurement]:
    """The same data in JSON columns and in relational tables: size, load memory, an expression index."""
    engine = get_engine(ctx.database_url)
    with tempfile.TemporaryDirectory(prefix="ailab-json-", dir=ctx.scratch_dir) as tmp:
        layout = probes.json_vs_relational(engine, Path(tmp))
        index = probes.json_expression_index(Path(tmp) / "json_layout.db", rounds=2 if ctx.quick else 3)
    mib = 2**20
    rel_load, json_load = layout.relational_load, layout.json_load
    return [
        Measurement(
            group=GROUP,
            name=JSON_FILE_SIZE,
            unit="MiB",
            p50=layout.relational_bytes / mib,
            baseline=layout.json_bytes / mib,
            baseline_label="JSON columns",
            note=f"{layout.items:,} items; relational = items + tags + links + 2 indexes, after VACUUM",
            extra=asdict(layout),
        ),
        Measurement(
            group=GROUP,
            name=JSON_LOAD_MEMORY,
            unit="MiB",
            p50=float(rel_load.get("rss_growth_mib", "nan")),
            baseline=float(json_load.get("rss_growth_mib", "nan")),
            baseline_label="JSON columns",
            note=f"RSS growth of a fresh process building {layout.items:,} dicts; load "
            f"{rel_load.get('seconds', float('nan')):.2f} s relational vs {json_load.get('seconds', float('nan')):.2f} s JSON",
            extra={"relational": rel_load, "json": json_load},
        ),
        _timed_against(
            JSON_INDEX,
            index.indexed,
            index.scan,
            baseline_label="same query NOT INDEXED (scan)",
            note=f"plan: {index.plan_indexed}; a generated column works the same way",
            extra={
                "plan_indexed": index.plan_indexed,
                "plan_scan": index.plan_scan,
                "scan_p95": index.scan.p95,
            },
        ),
    ]


@benchmark(GROUP, order=820)
def bench_loopback_hop(ctx: BenchContext) -> list[Measurement]:
    """What splitting the data layer into a service would add to every call: one loopback hop."""
    keys = list(Fixtures.load(get_engine(ctx.database_url), sample=500).keys)
    hop = probes.loopback_hop(ctx.database_url, keys, rounds=2 if ctx.quick else 3)
    return [
        _timed_against(
            HOP,
            hop.in_process,
            hop.via_http,
            baseline_label="via loopback HTTP",
            note=f"the hop adds {hop.hop_ms:.3f} ms at p50 (bare ASGI service, keep-alive client)",
            extra={"hop_ms": hop.hop_ms, "via_http_p95": hop.via_http.p95},
        )
    ]
