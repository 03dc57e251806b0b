"""``ailab compare``: the same workloads on SQLite and Postgres, side by side, with the ratio.

Each cell (workload x clients x variant) runs on SQLite, then at once on Postgres, so a noisy
neighbour hurts both engines alike. Both databases are scratch copies seeded with the same
deterministic data: a temporary SQLite file, and a scratch schema in the Postgres at the given URL
(or in an embedded ``pgserver`` started in a temporary directory and stopped afterwards). A
database the comparison was not given is never touched.

Besides the application's own setup (sync, pool 5+5), the review's suggestions run as variants
where they apply, so the claims ledger rests on numbers: pool 20+30, async sessions
(SQLAlchemy asyncio on aiosqlite / psycopg), and the old engine-per-call ``get_db()``.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ailab.db.engine import create_configured_engine, get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.errors import ConfigError
from ailab.perf.bench.workloads import (
    WORKLOADS,
    CellResult,
    Fixtures,
    Mix,
    Recorder,
    engine_per_call,
    pooled,
    run_async,
    run_threads,
)
from ailab.perf.harness.registry import Measurement, nan_to_none
from ailab.settings import Settings, parse_database_url
from ailab.testing.scratch import EmbeddedPostgres, scratch_schema, scratch_sqlite

log = logging.getLogger(__name__)

ENGINES = ("sqlite", "postgresql")
BASE = "sync, pool 5+5"
POOL_BIG = "sync, pool 20+30"
ASYNC = "async, pool 5+5"
OLD_GET_DB = "engine per call (old get_db)"
VARIANTS = (POOL_BIG, ASYNC, OLD_GET_DB)
VARIANT_WORKLOAD = "read-mostly"
COMPARE_FILE = "compare.json"

Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class CellSpec:
    """One cell of a comparison: a workload at a number of clients with one variant (setup)."""

    workload: str
    clients: int
    variant: str


def cell_specs(clients: int, variants: bool = True) -> list[CellSpec]:
    """Every cell of a comparison: each workload at 1 and N clients, then the variants at N."""
    counts = sorted({1, clients})
    specs = [CellSpec(w, c, BASE) for w in WORKLOADS for c in counts]
    if variants:
        specs += [CellSpec(VARIANT_WORKLOAD, clients, v) for v in VARIANTS]
    return specs


@dataclass
class Pair:
    """One cell on both engines."""

    spec: CellSpec
    sqlite: CellResult
    postgresql: CellResult

    @property
    def throughput_ratio(self) -> float:
        """Postgres throughput / SQLite throughput (>1: Postgres is faster)."""
        s, p = self.sqlite.throughput, self.postgresql.throughput
        return p / s if s else math.nan

    @property
    def p95_ratio(self) -> float:
        """Postgres p95 / SQLite p95 (>1: Postgres is slower)."""
        s, p = self.sqlite.p95_ms, self.postgresql.p95_ms
        return p / s if s and not math.isnan(s) else math.nan


@dataclass
class Comparison:
    """An ``ailab compare`` run: its meta (options, Postgres used, timings, load) and each cell's
    result on each engine."""

    meta: dict[str, Any]
    cells: list[CellResult] = field(default_factory=list)

    def cell(self, engine: str, workload: str, clients: int, variant: str = BASE) -> CellResult | None:
        """The result of one cell on ``engine``, or None if it did not run."""
        for c in self.cells:
            if (c.engine, c.workload, c.clients, c.variant) == (engine, workload, clients, variant):
                return c
        return None

    def pairs(self) -> list[Pair]:
        """The cells that ran on both engines, paired, in SQLite's order."""
        out: list[Pair] = []
        for s in (c for c in self.cells if c.engine == "sqlite"):
            p = self.cell("postgresql", s.workload, s.clients, s.variant)
            if p is not None:
                out.append(Pair(CellSpec(s.workload, s.clients, s.variant), s, p))
        return out

    @property
    def clients(self) -> int:
        """The N of the N-client cells (from the meta, else the largest client count run)."""
        return int(self.meta.get("clients", max((c.clients for c in self.cells), default=1)))

    def variant_ratio(self, engine: str, variant: str) -> float:
        """Throughput of ``variant`` / throughput of the base setup, same workload and clients."""
        base = self.cell(engine, VARIANT_WORKLOAD, self.clients, BASE)
        other = self.cell(engine, VARIANT_WORKLOAD, self.clients, variant)
        if base is None or other is None or not base.throughput:
            return math.nan
        return other.throughput / base.throughput

    def to_json(self) -> dict[str, Any]:
        """The comparison as JSON (NaNs as None); ``from_json`` reads it back."""
        return {"meta": self.meta, "cells": [nan_to_none(c.to_dict()) for c in self.cells]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Comparison:
        """A comparison from ``to_json``'s output."""
        return cls(meta=dict(data.get("meta", {})), cells=[CellResult.from_dict(c) for c in data["cells"]])

    def save(self, path: Path) -> Path:
        """Write the JSON to ``path`` (creating its folder); return ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> Comparison:
        """A comparison from a file ``save`` wrote."""
        return cls.from_json(json.loads(path.read_text()))

    def _repr_html_(self) -> str:
        """In a notebook: every cell pair with its ratio, and the side-by-side chart."""
        from ailab.perf.report.reprs import comparison_html

        return comparison_html(self)

    def __repr__(self) -> str:
        return f"<Comparison: {len(self.pairs())} cells on both engines, {self.meta.get('items', 0):,} items>"

    def to_frame(self) -> Any:
        """One row per cell (pandas DataFrame; pandas is imported here, never by the server)."""
        import pandas as pd

        return pd.DataFrame([{**c.to_dict(), "errors": c.error_count} for c in self.cells])


@contextmanager
def postgres_server(postgres_url: str | None) -> Iterator[tuple[str, str]]:
    """The server URL to make a scratch schema in (the given one, else an embedded pgserver
    started in a temporary directory and stopped on exit), and a description for reports."""
    if postgres_url:
        parsed = parse_database_url(postgres_url)
        if parsed.get_backend_name() != "postgresql":
            raise ConfigError(
                f"--postgres-url must be a PostgreSQL URL, got {parsed.render_as_string(hide_password=True)!r}."
            )
        yield postgres_url, f"given server {parsed.render_as_string(hide_password=True)} (scratch schema)"
        return
    with EmbeddedPostgres() as pg:
        yield pg.url, "embedded pgserver (temporary directory)"


def _seed(url: str, items: int) -> float:
    engine = get_engine(url)
    upgrade(engine)
    return seed_database(engine, items=items, seed=42).seconds


def run_comparison(
    *,
    items: int = 100_000,
    postgres_url: str | None = None,
    clients: int = 16,
    seconds: float = 3.0,
    variants: bool = True,
    rounds: int = 3,
    settings: Settings | None = None,
    on_progress: Progress = None,
) -> Comparison:
    """Seed both engines with ``items`` items and run every cell for ``seconds`` each (in ``rounds``)."""
    if clients < 1 or seconds <= 0 or items < 10 or rounds < 1:
        raise ConfigError("Use --clients >= 1, --seconds > 0, --items >= 10 and --rounds >= 1.")
    settings = settings or Settings.from_env()
    say = on_progress or (lambda _msg: None)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]  # other processes share the cores: say how busy they were
    with ExitStack() as stack:
        say("starting Postgres" if postgres_url is None else "connecting to Postgres")
        server_url, pg_source = stack.enter_context(postgres_server(postgres_url))
        urls = {
            "sqlite": stack.enter_context(scratch_sqlite("compare.db")),
            "postgresql": stack.enter_context(scratch_schema(server_url, prefix="ailab_compare")),
        }
        seed_seconds = {}
        for name, url in urls.items():
            say(f"seeding {items:,} items on {name}")
            seed_seconds[name] = _seed(url, items)
        engines: dict[tuple[str, str], Engine] = {}
        for name, url in urls.items():
            parsed = parse_database_url(url)
            engines[name, BASE] = create_configured_engine(parsed, settings, pool_size=5, max_overflow=5)
            engines[name, POOL_BIG] = create_configured_engine(
                parsed, settings, pool_size=20, max_overflow=30
            )
            stack.callback(engines[name, BASE].dispose)
            stack.callback(engines[name, POOL_BIG].dispose)
        fixtures = {name: Fixtures.load(engines[name, BASE]) for name in urls}
        # Interleaved rounds: each round runs every cell on both engines back to back for a share of
        # the time, so drift on a noisy machine spreads over all cells instead of biasing some.
        specs = cell_specs(clients, variants)
        runs: dict[tuple[str, CellSpec], tuple[Recorder, float]] = {}
        for round_no in range(rounds):
            for spec in specs:
                for name in ENGINES:
                    say(
                        f"round {round_no + 1}/{rounds}: {spec.workload}, {spec.clients} clients, {spec.variant} on {name}"
                    )
                    rec, wall = _run_cell(
                        name, urls[name], engines, fixtures[name], spec, seconds / rounds, settings
                    )
                    if (name, spec) in runs:
                        total, total_wall = runs[name, spec]
                        total.merge(rec)
                        runs[name, spec] = (total, total_wall + wall)
                    else:
                        runs[name, spec] = (rec, wall)
        cells = []
        for spec in specs:
            for name in ENGINES:
                rec, wall = runs[name, spec]
                cells.append(rec.result(name, spec.workload, spec.clients, spec.variant, wall))
    meta = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "items": items,
        "clients": clients,
        "seconds_per_cell": seconds,
        "rounds": rounds,
        "postgres": pg_source,
        "seed_seconds": seed_seconds,
        "workloads": {name: f"{share:.0%} writes" for name, share in WORKLOADS.items()},
        "total_seconds": round(time.perf_counter() - started, 1),
        "load_average": {"before": load_before, "after": os.getloadavg()[0]},
    }
    return Comparison(meta=meta, cells=cells)


def _run_cell(
    name: str,
    url: str,
    engines: dict[tuple[str, str], Engine],
    fx: Fixtures,
    spec: CellSpec,
    seconds: float,
    settings: Settings,
) -> tuple[Recorder, float]:
    mix = Mix(fx, WORKLOADS[spec.workload])
    if spec.variant == ASYNC:
        rec, wall = run_async(
            url, mix, clients=spec.clients, seconds=seconds, busy_ms=settings.sqlite_busy_timeout_ms
        )
    elif spec.variant == OLD_GET_DB:
        rec, wall = run_threads(engine_per_call(url), mix, clients=spec.clients, seconds=seconds)
        gc.collect()  # close the connections the old pattern leaked (they live until the GC runs)
    else:
        engine = engines[name, spec.variant]
        rec, wall = run_threads(pooled(engine), mix, clients=spec.clients, seconds=seconds)
    return rec, wall


# --- report rows ------------------------------------------------------------------------------


def comparison_rows(cmp: Comparison, source: str = "") -> list[Measurement]:
    """One report row per cell pair: Postgres throughput with SQLite's as the baseline."""
    rows = []
    for pair in cmp.pairs():
        s, p = pair.sqlite, pair.postgresql
        errors = {k: v for k, v in (("sqlite", s.errors), ("postgresql", p.errors)) if v}
        note = (
            f"p95 {s.p95_ms:.2f} ms on SQLite, {p.p95_ms:.2f} ms on Postgres"
            + (f"; errors {errors}" if errors else "; no errors")
            + (f"; {source}" if source else "")
        )
        rows.append(
            Measurement(
                group="compare",
                name=f"{pair.spec.workload}, {pair.spec.clients} client(s), {pair.spec.variant}: Postgres",
                unit="ops/s",
                p50=p.throughput,
                n=p.ops,
                baseline=s.throughput,
                baseline_label="SQLite",
                higher_is_better=True,
                note=note,
                extra={
                    "sqlite": nan_to_none(s.to_dict()),
                    "postgresql": nan_to_none(p.to_dict()),
                    "meta": cmp.meta,
                },
            )
        )
    return rows


def comparison_from_rows(rows: list[Measurement]) -> Comparison | None:
    """Rebuild a comparison from report rows (``group == "compare"``); None if there are none."""
    cells: list[CellResult] = []
    meta: dict[str, Any] = {}
    for m in rows:
        if m.group != "compare" or "sqlite" not in m.extra:
            continue
        meta = dict(m.extra.get("meta") or meta)
        cells += [CellResult.from_dict(m.extra["sqlite"]), CellResult.from_dict(m.extra["postgresql"])]
    return Comparison(meta=meta, cells=cells) if cells else None


def fresh_comparison(reports_dir: Path, max_age_hours: float) -> Comparison | None:
    """The latest ``ailab compare`` result under ``reports_dir`` if younger than ``max_age_hours``."""
    path = reports_dir / COMPARE_FILE
    if max_age_hours <= 0 or not path.is_file():
        return None
    if time.time() - path.stat().st_mtime > max_age_hours * 3600:
        return None
    try:
        return Comparison.load(path)
    except (ValueError, KeyError) as err:
        log.warning("ignoring unreadable %s: %s", path, err)
        return None
