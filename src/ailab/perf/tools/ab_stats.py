"""The A/B gate's statistics: one metric, its base and head runs, and a verdict that respects noise.

Each side contributes one figure per round (the metric's p50 in that ``ailab report`` run). The
runs alternate (A B A B ...), so round ``i`` of the base and of the head ran side by side; a
bootstrap that resamples whole rounds keeps that pairing, which cancels most of the slow drift
of a shared machine. Everything is judged as a *cost* (time-like: higher is worse); a metric
where higher is better (items/s) is inverted first.

* ``ratio``: median(head) / median(base) of the cost; 1.25 = 25% slower.
* ``ci``: a bootstrap 95% interval of that ratio (rounds resampled, pairs kept).
* ``separated``: the min/max rule: the fastest head run is slower than the slowest base run by
  more than the margin ("slower"), or the mirror image ("faster").
* ``verdict``: "slower" when the interval lies wholly above ``1 + margin`` or the min/max rule
  says so; "faster" in the mirror case; otherwise "within noise".
* ``resolution``: the smallest slowdown this metric would be called "slower" for reliably, given
  the noise measured in this very run: a slowdown ``s`` is caught even when the noise pulls the
  ratio and its interval down by a full interval half-width ``w`` each, i.e.
  ``(1 + s) * exp(-2w) > 1 + margin``, so ``s = (1 + margin) * exp(2w) - 1``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Verdict = Literal["slower", "faster", "within noise", "only in base", "only in head"]
DEFAULT_MARGIN = 0.10
BOOTSTRAP_RESAMPLES = 4000
MIN_ROUNDS = 3  # fewer rounds than this cannot show noise: never a verdict other than "within noise"


@dataclass(frozen=True)
class MetricAB:
    """One metric of an A/B: the runs of both sides and what the gate concludes."""

    key: str  # "group: name"
    unit: str
    higher_is_better: bool
    base: tuple[float, ...]  # one figure per round, in the metric's unit
    head: tuple[float, ...]
    margin: float = DEFAULT_MARGIN
    ratio: float = math.nan  # cost ratio head/base of medians (>1 = head slower)
    ci_low: float = math.nan
    ci_high: float = math.nan
    separated: str = ""  # the min/max rule: "slower", "faster" or ""
    verdict: Verdict = "within noise"
    resolution: float = math.nan  # smallest slowdown (fraction) caught reliably; NaN if unknown
    why: str = field(default="", compare=False)

    @property
    def base_median(self) -> float:
        """Median of the base runs (NaN without any)."""
        return statistics.median(self.base) if self.base else math.nan

    @property
    def head_median(self) -> float:
        """Median of the head runs (NaN without any)."""
        return statistics.median(self.head) if self.head else math.nan

    @property
    def change(self) -> float:
        """Signed slowdown as a fraction: +0.25 = 25% slower, -0.2 = 20% faster."""
        return self.ratio - 1.0

    def to_dict(self) -> dict[str, Any]:
        """The metric as JSON: runs as lists, both medians added, NaNs as None."""
        d = asdict(self)
        d["base"], d["head"] = list(self.base), list(self.head)
        d["base_median"], d["head_median"] = self.base_median, self.head_median
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricAB:
        """The metric from ``to_dict``'s output (None back to NaN; unknown keys ignored)."""
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        for key in ("ratio", "ci_low", "ci_high", "resolution"):
            if known.get(key) is None:
                known[key] = math.nan
        known["base"], known["head"] = tuple(d.get("base", ())), tuple(d.get("head", ()))
        return cls(**known)


def _cost(values: Sequence[float], higher_is_better: bool) -> np.ndarray[Any, np.dtype[np.float64]]:
    arr = np.asarray(values, dtype=float)
    return 1.0 / arr if higher_is_better else arr


def bootstrap_ratio_ci(
    base: Sequence[float], head: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of median(head)/median(base) (costs, both positive).

    Equal lengths are taken as paired rounds (whole rounds resampled); otherwise each side is
    resampled on its own. Seeded: the same runs always give the same interval."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(base, dtype=float), np.asarray(head, dtype=float)
    if len(a) == len(b):
        idx = rng.integers(0, len(a), size=(resamples, len(a)))
        ra, rb = np.median(a[idx], axis=1), np.median(b[idx], axis=1)
    else:
        ra = np.median(a[rng.integers(0, len(a), size=(resamples, len(a)))], axis=1)
        rb = np.median(b[rng.integers(0, len(b), size=(resamples, len(b)))], axis=1)
    low, high = np.percentile(rb / ra, [2.5, 97.5])
    return float(low), float(high)


def judge(
    key: str,
    base: Sequence[float],
    head: Sequence[float],
    *,
    unit: str = "ms",
    higher_is_better: bool = False,
    margin: float = DEFAULT_MARGIN,
) -> MetricAB:
    """The gate's conclusion for one metric (see the module docstring for the rules)."""
    common: dict[str, Any] = {
        "key": key, "unit": unit, "higher_is_better": higher_is_better,
        "base": tuple(float(v) for v in base), "head": tuple(float(v) for v in head), "margin": margin,
    }  # fmt: skip
    if not base or not head:
        missing: Verdict = "only in head" if not base else "only in base"
        side = "base" if not base else "head"
        return MetricAB(**common, verdict=missing, why=f"the {side} commit does not report this metric")
    a, b = _cost(base, higher_is_better), _cost(head, higher_is_better)
    ratio = float(np.median(b) / np.median(a))
    low, high = bootstrap_ratio_ci(a.tolist(), b.tolist())
    limit = 1.0 + margin
    separated = ""
    if b.min() > a.max() * limit:
        separated = "slower"
    elif b.max() * limit < a.min():
        separated = "faster"
    half_width = (math.log(high) - math.log(low)) / 2 if low > 0 else math.inf
    resolution = limit * math.exp(2 * half_width) - 1.0
    verdict: Verdict = "within noise"
    if min(len(a), len(b)) < MIN_ROUNDS:
        why = f"fewer than {MIN_ROUNDS} rounds on a side: the noise is unknown"
        resolution = math.nan
    elif low > limit or separated == "slower":
        verdict = "slower"
        why = f"{ratio - 1:+.1%}, clear of the {margin:.0%} margin and the noise"
    elif high * limit < 1.0 or separated == "faster":
        verdict = "faster"
        why = f"{ratio - 1:+.1%}, clear of the {margin:.0%} margin and the noise"
    elif low <= 1.0 <= high:
        why = "the interval contains no change"
    else:
        why = f"the interval overlaps the {margin:.0%} margin"
    return MetricAB(
        **common, ratio=ratio, ci_low=low, ci_high=high, separated=separated,
        verdict=verdict, resolution=resolution, why=why,
    )  # fmt: skip


def suspects(metrics: Sequence[MetricAB]) -> list[MetricAB]:
    """Metrics "within noise" whose ratio of medians is still past the margin: a slowdown the
    noise of this run hides (the A/B runs more rounds for them, see ``run_ab``)."""
    return [m for m in metrics if m.verdict == "within noise" and m.ratio > 1.0 + m.margin]


@dataclass(frozen=True)
class Resolution:
    """The gate's resolution over the metrics of one A/B: what 'within noise' means here."""

    median: float
    best: float
    best_metric: str
    worst: float
    worst_metric: str
    metrics: int

    def describe(self, rounds: int) -> str:
        """The resolution as a sentence for the notes under the A/B table."""
        return (
            f"resolution at {rounds} rounds here: a slowdown of {self.median:.0%} or more is caught reliably"
            f" (median over {self.metrics} metrics; best {self.best:.0%}: {self.best_metric};"
            f" worst {self.worst:.0%}: {self.worst_metric}). Smaller changes read as 'within noise'."
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


def resolution_of(metrics: Sequence[MetricAB]) -> Resolution | None:
    """Median, best and worst resolution over the metrics that have a finite one; None if none has."""
    known = sorted((m for m in metrics if math.isfinite(m.resolution)), key=lambda m: m.resolution)
    if not known:
        return None
    return Resolution(
        median=statistics.median(m.resolution for m in known),
        best=known[0].resolution,
        best_metric=known[0].key,
        worst=known[-1].resolution,
        worst_metric=known[-1].key,
        metrics=len(known),
    )
