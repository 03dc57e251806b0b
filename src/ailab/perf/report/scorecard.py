"""The review's target table against this run: old baseline, now, target, verdict per metric.

A report row belongs to a target-table metric when its ``target`` is that metric's target
(``ailab.perf.harness.targets``). Where no row of this run covers a metric, the latest load test can
(dashboard latency, server memory), clearly labelled; otherwise the metric says "not measured".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ailab.perf.harness.registry import Measurement, Target, nan_to_none
from ailab.perf.harness.targets import (
    API_CALLS_PER_SECOND,
    DASHBOARD_LOAD,
    DATABASE_QUERY,
    MEMORY,
    REVIEW_TABLE,
    SYNC_PER_ITEM,
    ReviewTarget,
)

TARGETS: tuple[Target, ...] = (DASHBOARD_LOAD, SYNC_PER_ITEM, DATABASE_QUERY, MEMORY, API_CALLS_PER_SECOND)
_SCALE = {("ms", "s"): 0.001, ("s", "ms"): 1000.0, ("MB", "MiB"): 1e6 / 2**20, ("MiB", "MB"): 2**20 / 1e6}


def convert(value: float, unit: str, to: str) -> float:
    """``value`` in ``unit`` expressed in ``to`` (NaN when the units do not convert)."""
    if unit == to:
        return value
    factor = _SCALE.get((unit, to))
    return value * factor if factor is not None else math.nan


@dataclass
class Point:
    """One figure judged against a target: ours now, and the old approach's where measured."""

    label: str
    now: float
    old: float = math.nan
    old_label: str = ""
    source: str = "report"  # "report" or "load test"


@dataclass
class TargetRow:
    """One metric of the review's target table with the figures of this run that answer it."""

    review: ReviewTarget
    target: Target
    points: list[Point] = field(default_factory=list)

    @property
    def now(self) -> float:
        """The figure that decides: the worst one (highest for <=, lowest for >=)."""
        values = [p.now for p in self.points if not math.isnan(p.now)]
        if not values:
            return math.nan
        return max(values) if self.target.direction == "<=" else min(values)

    @property
    def old(self) -> float:
        """The old approach's worst measured figure, like ``now``; NaN when none was measured."""
        values = [p.old for p in self.points if not math.isnan(p.old)]
        if not values:
            return math.nan
        return max(values) if self.target.direction == "<=" else min(values)

    @property
    def verdict(self) -> Literal["met", "missed", "not measured"]:
        """``now`` against the target: ``met``, ``missed`` or ``not measured``."""
        met = self.target.met(self.now)
        return "not measured" if met is None else "met" if met else "missed"

    def to_dict(self) -> dict[str, Any]:
        """The row for ``report.json``: the review's words, both figures, the verdict and every point."""
        return {
            "metric": self.review.metric,
            "claimed_current": self.review.claimed_current,
            "target": self.review.target,
            "unit": self.target.unit,
            "now": nan_to_none(self.now),
            "old_measured": nan_to_none(self.old),
            "verdict": self.verdict,
            "points": [{k: nan_to_none(v) for k, v in p.__dict__.items()} for p in self.points],
        }


def _point(m: Measurement, unit: str) -> Point:
    return Point(
        label=f"{m.group}: {m.name}",
        now=convert(m.headline(), m.unit, unit),
        old=convert(m.baseline, m.unit, unit),
        old_label=m.baseline_label,
    )


def _loadtest_points(target: Target, loadtest: dict[str, Any]) -> list[Point]:
    where = f"latest load test ({loadtest.get('db')}, {loadtest.get('generated_at', '?')})"
    if target is DASHBOARD_LOAD:
        endpoints = loadtest.get("endpoints", {})
        return [
            Point(f"{name} p95", convert(float(e["p95_ms"]), "ms", target.unit), source=where)
            for name, e in endpoints.items()
            if name in ("GET /", "GET /api/summary") and e.get("p95_ms") is not None
        ]
    if target is MEMORY and loadtest.get("server", {}).get("rss_mib") is not None:
        return [Point("server RSS after the load test", float(loadtest["server"]["rss_mib"]), source=where)]
    return []


def target_rows(rows: list[Measurement], loadtest: dict[str, Any] | None = None) -> list[TargetRow]:
    """Every row of the review's target table with the figures of this run that answer it."""
    out = []
    for review, target in zip(REVIEW_TABLE, TARGETS, strict=True):
        row = TargetRow(review, target)
        row.points = [_point(m, target.unit) for m in rows if m.target == target]
        row.points = [p for p in row.points if not math.isnan(p.now)]
        if not row.points and loadtest:
            row.points = _loadtest_points(target, loadtest)
        out.append(row)
    return out
