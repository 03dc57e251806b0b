"""Charts for the notebooks and the HTML report (matplotlib, object API: no pyplot, no GUI backend).

Every function returns a ``matplotlib.figure.Figure``; ``png_data_uri`` embeds one in HTML as a
``data:`` URI, so the report stays one self-contained file. Never imported by the web server.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

if TYPE_CHECKING:
    from ailab.perf.compare import Comparison
    from ailab.perf.scorecard import TargetRow

ENGINE_COLORS = {"sqlite": "#2f6db3", "postgresql": "#d9822b"}
OK, BAD, NEUTRAL, OLD = "#2e7d32", "#c62828", "#52606d", "#9aa5b1"


def to_png(fig: Figure, dpi: int = 96) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def png_data_uri(fig: Figure, dpi: int = 96) -> str:
    return "data:image/png;base64," + base64.b64encode(to_png(fig, dpi)).decode("ascii")


def _label(workload: str, clients: int, variant: str) -> str:
    suffix = "" if variant.startswith("sync, pool 5+5") else f"\n{variant}"
    return f"{workload} x{clients}{suffix}"


def comparison_chart(cmp: Comparison) -> Figure:
    """Throughput and p95 per cell, SQLite and Postgres side by side."""
    pairs = cmp.pairs()
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    ax_tp, ax_p95 = fig.subplots(2, 1, sharex=True)
    xs = list(range(len(pairs)))
    width = 0.38
    for offset, engine in ((-width / 2, "sqlite"), (width / 2, "postgresql")):
        cells = [getattr(p, engine) for p in pairs]
        ax_tp.bar(
            [x + offset for x in xs],
            [c.throughput for c in cells],
            width,
            label=engine,
            color=ENGINE_COLORS[engine],
        )
        ax_p95.bar(
            [x + offset for x in xs],
            [c.p95_ms for c in cells],
            width,
            label=engine,
            color=ENGINE_COLORS[engine],
        )
        for x, c in zip(xs, cells, strict=True):
            if c.error_count:
                ax_tp.annotate(
                    f"{c.error_count} err",
                    (x + offset, c.throughput),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color=BAD,
                )
    ax_tp.set_ylabel("operations/s (higher is better)")
    ax_p95.set_ylabel("p95 latency, ms (lower is better)")
    ax_p95.set_yscale("log")
    ax_p95.set_xticks(
        xs,
        [_label(p.spec.workload, p.spec.clients, p.spec.variant) for p in pairs],
        rotation=30,
        ha="right",
        fontsize=8,
    )
    ax_tp.legend()
    meta = cmp.meta
    ax_tp.set_title(
        f"SQLite vs Postgres: {meta.get('items', 0):,} items, {meta.get('seconds_per_cell')} s per cell"
    )
    return fig


def loadtest_chart(
    history: Sequence[dict[str, float]], thresholds: dict[str, Any], title: str = ""
) -> Figure:
    """Requests/s and p95 over time (Locust's 10 s window), with the threshold lines."""
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax_rps, ax_p95 = fig.subplots(2, 1, sharex=True)
    if history:
        t0 = history[0]["t"]
        ts = [h["t"] - t0 for h in history]
        ax_rps.plot(ts, [h["rps"] for h in history], color=ENGINE_COLORS["sqlite"], label="requests/s")
        ax_p95.plot(ts, [h["p95_ms"] for h in history], color=ENGINE_COLORS["postgresql"], label="p95 (ms)")
        users = ax_rps.twinx()
        users.plot(ts, [h["users"] for h in history], color=OLD, linestyle=":", label="users")
        users.set_ylabel("users", color=OLD)
    ax_rps.axhline(thresholds.get("min_rps", math.nan), color=BAD, linestyle="--", label="threshold (min)")
    ax_p95.axhline(thresholds.get("max_p95_ms", math.nan), color=BAD, linestyle="--", label="threshold (max)")
    ax_rps.set_ylabel("requests/s")
    if title:
        ax_rps.set_title(title)
    ax_p95.set_ylabel("p95, ms")
    ax_p95.set_xlabel("seconds since start")
    ax_rps.legend(loc="lower right", fontsize=8)
    ax_p95.legend(loc="upper right", fontsize=8)
    return fig


def target_chart(row: TargetRow) -> Figure:
    """One metric of the target table: each figure now (and the old approach) against the target line."""
    points = row.points
    height = max(1.6, 0.42 * (len(points) + 1) + 1.0)
    fig = Figure(figsize=(9, height), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(points)))
    unit = row.target.unit
    for y, p in zip(ys, points, strict=True):
        met = row.target.met(p.now)
        ax.barh(y, p.now, height=0.38, color=OK if met else BAD if met is False else NEUTRAL)
        if not math.isnan(p.old):
            ax.barh(y + 0.4, p.old, height=0.38, color=OLD)
    ax.set_yticks([y + 0.2 for y in ys], [_short(p.label) for p in points], fontsize=7)
    ax.axvline(
        row.target.value,
        color="#1f2933",
        linestyle="--",
        linewidth=1.5,
        zorder=3,
        label=f"target {row.target.describe()}",
    )
    ax.margins(y=0.25)
    values = [v for p in points for v in (p.now, p.old) if not math.isnan(v) and v > 0]
    values.append(row.target.value)
    if len(values) > 1 and max(values) / min(values) > 100:
        ax.set_xscale("log")
    ax.set_xlabel(unit)
    ax.invert_yaxis()
    ax.set_title(
        f"{row.review.metric}: review says {row.review.claimed_current} -> {row.review.target}"
        " (grey: old approach measured here)",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="lower right")
    if not points:
        ax.text(0.5, 0.5, "not measured in this run", transform=ax.transAxes, ha="center", color=NEUTRAL)
    return fig


def _short(label: str, limit: int = 60) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
