"""Charts of the A/B gate and the results history (``Chart``: they display themselves in Jupyter).

``ab_summary_chart``: every metric's head/base ratio with its 95% interval against the margin band.
``ab_metric_chart``: one metric, both commits' runs round by round (the distributions compared).
``history_chart``: metrics over the saved runs of one machine, one panel per metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ailab.perf.report.charts import Chart
from ailab.perf.tools.ab_stats import MetricAB

if TYPE_CHECKING:
    from ailab.perf.tools.history import HistoryRun

BASE_COLOR, HEAD_COLOR = "#2f6db3", "#d9822b"
VERDICT_COLORS = {"slower": "#c62828", "faster": "#2e7d32", "within noise": "#52606d"}


def _short(label: str, limit: int = 58) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def ab_summary_chart(metrics: Sequence[MetricAB], margin: float, title: str = "") -> Chart:
    """Head/base ratio (>1 = slower) and its bootstrap 95% interval per metric; the shaded band is
    1 ± margin: only an interval wholly outside it is a verdict."""
    shown = [m for m in metrics if math.isfinite(m.ratio)]
    fig = Chart(figsize=(10, 0.42 * max(len(shown), 2) + 1.2), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(shown)))[::-1]
    ax.axvspan(1 / (1 + margin), 1 + margin, color="#e4e7eb", label=f"1 ± {margin:.0%} margin")
    ax.axvline(1.0, color="#9aa5b1", lw=1)
    for y, m in zip(ys, shown, strict=True):
        color = VERDICT_COLORS.get(m.verdict, "#52606d")
        ax.plot([m.ci_low, m.ci_high], [y, y], color=color, lw=3, solid_capstyle="butt")
        ax.plot([m.ratio], [y], "o", color=color)
    ax.set_yticks(ys, [_short(m.key) for m in shown], fontsize=8)
    ax.set_xlabel("head / base (time ratio of medians; > 1 is slower), bootstrap 95% interval")
    ax.set_title(title or "A/B: ratio and noise per metric", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def ab_metric_chart(m: MetricAB, base_label: str, head_label: str) -> Chart:
    """Both commits' figures of one metric, round by round, with their medians."""
    fig = Chart(figsize=(5.6, 2.8), layout="constrained")
    ax = fig.subplots()
    for x, values, color in ((0, m.base, BASE_COLOR), (1, m.head, HEAD_COLOR)):
        if not values:
            continue
        n = len(values)
        xs = [x + (i - (n - 1) / 2) * (0.5 / max(n, 1)) for i in range(n)]
        ax.plot(xs, values, "o", color=color, alpha=0.8)
        median = sorted(values)[n // 2] if n % 2 else sum(sorted(values)[n // 2 - 1 : n // 2 + 1]) / 2
        ax.plot([x - 0.3, x + 0.3], [median, median], color=color, lw=2)
    ax.set_xticks([0, 1], [_short(base_label, 30), _short(head_label, 30)], fontsize=8)
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylabel(m.unit)
    ax.set_ylim(bottom=0)
    ratio = f"{m.ratio:.2f}x [{m.ci_low:.2f}, {m.ci_high:.2f}]" if math.isfinite(m.ratio) else "-"
    ax.set_title(f"{_short(m.key, 70)}\n{m.verdict}: {ratio}", fontsize=8)
    return fig


def history_chart(runs: Sequence[HistoryRun], keys: Sequence[str]) -> Chart:
    """The p50 of each metric over the saved runs (x: run order, labelled by commit)."""
    from ailab.perf.tools.history import series

    fig = Chart(figsize=(10, 2.4 * max(len(keys), 1)), layout="constrained")
    axes = fig.subplots(max(len(keys), 1), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys, strict=False):
        points = series(list(runs), key)
        xs = list(range(len(points)))
        ax.plot(xs, [p.p50 for p in points], "o-", color=BASE_COLOR, label="p50")
        p95 = [p.p95 for p in points]
        if any(math.isfinite(v) for v in p95):
            ax.plot(xs, p95, "s--", color=HEAD_COLOR, alpha=0.7, label="p95")
        ax.set_xticks(xs, [p.run.label for p in points], fontsize=7, rotation=45)
        ax.set_ylabel(points[0].unit if points else "")
        ax.set_ylim(bottom=0)
        ax.set_title(_short(key, 90), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return fig
