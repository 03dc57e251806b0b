"""Charts for the notebooks and the HTML report (matplotlib, object API: no pyplot, no GUI backend).

Every function returns a ``Chart``: a ``matplotlib.figure.Figure`` that displays itself as a PNG in
Jupyter (``_repr_png_``), whatever the kernel's state. A bare ``Figure`` shows only as
``<Figure size ... with 1 Axes>`` text unless pyplot's inline backend happens to be active.
``png_data_uri`` embeds a chart in HTML as a ``data:`` URI, so the report and the notebook reprs
stay self-contained. Never imported by the web server.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

if TYPE_CHECKING:
    from ailab.perf.harness.registry import Measurement, Target
    from ailab.perf.report.scorecard import TargetRow
    from ailab.perf.tools.compare import Comparison
    from ailab.perf.tools.profile import QueryProfile

ENGINE_COLORS = {"sqlite": "#2f6db3", "postgresql": "#d9822b"}
OK, BAD, NEUTRAL, OLD = "#2e7d32", "#c62828", "#52606d", "#9aa5b1"


class Chart(Figure):
    """A figure that Jupyter displays as an image without pyplot (and ``display()`` shows too)."""

    def _repr_png_(self) -> bytes:
        return to_png(self)


def to_png(fig: Figure, dpi: int = 96) -> bytes:
    """``fig`` rendered as PNG bytes, cropped to its content."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def png_data_uri(fig: Figure, dpi: int = 96) -> str:
    """``fig`` as a ``data:image/png;base64,`` URI, to embed in HTML without a file."""
    return "data:image/png;base64," + base64.b64encode(to_png(fig, dpi)).decode("ascii")


def _label(workload: str, clients: int, variant: str) -> str:
    suffix = "" if variant.startswith("sync, pool 5+5") else f"\n{variant}"
    return f"{workload} x{clients}{suffix}"


def comparison_chart(cmp: Comparison) -> Chart:
    """Throughput and p95 per cell, SQLite and Postgres side by side."""
    pairs = cmp.pairs()
    fig = Chart(figsize=(11, 7.5), layout="constrained")
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


def loadtest_chart(history: Sequence[dict[str, float]], thresholds: dict[str, Any], title: str = "") -> Chart:
    """Requests/s and p95 over time (Locust's 10 s window), with the threshold lines."""
    fig = Chart(figsize=(10, 5.5), layout="constrained")
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


def target_chart(row: TargetRow) -> Chart:
    """One metric of the target table: each figure now (and the old approach) against the target line."""
    points = row.points
    height = max(1.6, 0.42 * (len(points) + 1) + 1.0)
    fig = Chart(figsize=(9, height), layout="constrained")
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


def query_latency_chart(profiles: Sequence[QueryProfile], target_ms: float, title: str = "") -> Chart:
    """p50 and p95 per query (log scale) against the query target."""
    fig = Chart(figsize=(9, max(2.5, 0.5 * len(profiles) + 1.2)), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(profiles)))
    ax.barh([y - 0.2 for y in ys], [p.timing.p50 for p in profiles], 0.38, label="p50", color=NEUTRAL)
    ax.barh(
        [y + 0.2 for y in ys],
        [p.timing.p95 for p in profiles],
        0.38,
        label="p95",
        color=[OK if p.timing.p95 <= target_ms else BAD for p in profiles],
    )
    ax.axvline(target_ms, color="#1f2933", linestyle="--", label=f"target {target_ms:g} ms")
    ax.set_yticks(ys, [_short(p.name, 40) for p in profiles], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log scale)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def sync_per_item_chart(rows: Sequence[Measurement], per_item_target: Target, floor_ms: float) -> Chart:
    """Time and requests per item: the old pattern (each row's baseline) against each per-item row."""
    labels = ["old: create + sleep(1)", *(_short(m.name, 34) for m in rows)]
    old = next((m for m in rows if not math.isnan(m.baseline)), None)
    ms = [old.baseline if old else math.nan, *(m.p50 for m in rows)]
    old_requests = float(old.extra.get("baseline_requests_per_item", math.nan)) if old else math.nan
    requests = [old_requests, *(float(m.extra.get("requests_per_item", math.nan)) for m in rows)]
    colors = [OLD, *(ENGINE_COLORS["sqlite"] for _ in rows)]
    fig = Chart(figsize=(12, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    xs = list(range(len(labels)))
    left.bar(xs, ms, color=colors)
    left.axhline(
        per_item_target.value, color=BAD, linestyle="--", label=f"target {per_item_target.describe()}"
    )
    left.axhline(
        floor_ms, color=ENGINE_COLORS["postgresql"], linestyle=":", label="GitHub's creation floor (80/min)"
    )
    left.set_yscale("log")
    left.set_ylabel("ms per item (log)")
    left.legend(fontsize=8)
    right.bar(xs, requests, color=colors)
    right.set_yscale("log")
    right.set_ylabel("requests per item (log)")
    for ax in (left, right):
        ax.set_xticks(xs, labels, rotation=20, ha="right", fontsize=8)
    return fig


def rate_chart(lanes: Sequence[tuple[str, float]], target: Target, xlabel: str) -> Chart:
    """One bar per lane (e.g. read calls/s at each concurrency) against a target line."""
    fig = Chart(figsize=(7, 1.0 + 0.5 * len(lanes)), layout="constrained")
    ax = fig.subplots()
    ax.barh(
        [label for label, _ in lanes],
        [value for _, value in lanes],
        color=[OK if target.met(value) else BAD for _, value in lanes],
    )
    ax.axvline(target.value, color="#1f2933", linestyle="--", label=f"target {target.describe()}")
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    return fig


def workload_throughput_chart(cmp: Comparison, variant: str) -> Chart:
    """Throughput per workload at 1 and N clients, SQLite and Postgres side by side (one variant)."""
    workloads = list(dict.fromkeys(c.workload for c in cmp.cells if c.variant == variant))
    fig = Chart(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, max(1, len(workloads)), sharey=True, squeeze=False)[0]
    width = 0.38
    for ax, workload in zip(axes, workloads, strict=False):
        clients = sorted({c.clients for c in cmp.cells if c.workload == workload and c.variant == variant})
        xs = list(range(len(clients)))
        for offset, engine in ((-width / 2, "sqlite"), (width / 2, "postgresql")):
            cells = [cmp.cell(engine, workload, n, variant) for n in clients]
            ax.bar(
                [x + offset for x in xs],
                [c.throughput if c else math.nan for c in cells],
                width,
                label=engine,
                color=ENGINE_COLORS[engine],
            )
        ax.set_xticks(xs, [str(n) for n in clients])
        ax.set_title(workload, fontsize=10)
        ax.set_xlabel("concurrent clients")
    axes[0].set_ylabel("operations/s")
    axes[0].legend(fontsize=8)
    return fig


def endpoint_p95_chart(endpoints: dict[str, dict[str, Any]], max_p95_ms: float) -> Chart:
    """p95 per endpoint of a load test against the p95 threshold."""
    ranked = sorted(endpoints.items(), key=lambda kv: float(kv[1].get("p95_ms") or 0.0))
    fig = Chart(figsize=(9, max(2.0, 0.4 * len(ranked) + 1.0)), layout="constrained")
    ax = fig.subplots()
    values = [float(e.get("p95_ms") or 0.0) for _, e in ranked]
    ax.barh(
        [_short(name, 50) for name, _ in ranked],
        values,
        color=[OK if v <= max_p95_ms else BAD for v in values],
    )
    ax.axvline(max_p95_ms, color="#1f2933", linestyle="--", label=f"p95 threshold {max_p95_ms:g} ms")
    ax.set_xlabel("p95, ms")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=8)
    return fig
