"""The timing harness every benchmark uses: warm up, sample until enough, report p50/p95.

Same method as ``shared/limits.md``: a few warm-up calls, then ``perf_counter_ns`` around each
call until at least ``min_samples`` samples and ``min_seconds`` have passed (capped). Percentiles
are nearest-rank over all samples. Compare candidates by interleaving rounds (``compare``) so a
noisy neighbour hurts both sides alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Latency samples of one operation, in milliseconds."""

    samples_ms: tuple[float, ...] = field(repr=False)

    @property
    def n(self) -> int:
        """The number of samples."""
        return len(self.samples_ms)

    @property
    def p50(self) -> float:
        """Median latency in ms (nearest-rank); NaN without samples."""
        return percentile(self.samples_ms, 50)

    @property
    def p95(self) -> float:
        """95th-percentile latency in ms (nearest-rank); NaN without samples."""
        return percentile(self.samples_ms, 95)

    @property
    def mean(self) -> float:
        """Mean latency in ms; NaN without samples."""
        return sum(self.samples_ms) / len(self.samples_ms) if self.samples_ms else math.nan

    def __repr__(self) -> str:
        return f"Timing(n={self.n}, p50={self.p50:.4f} ms, p95={self.p95:.4f} ms)"


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def measure(
    fn: Callable[[], Any],
    *,
    warmup: int = 3,
    min_samples: int = 30,
    min_seconds: float = 0.3,
    max_samples: int = 3000,
    max_seconds: float = 10.0,
) -> Timing:
    """Call ``fn`` repeatedly and return its latency distribution."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        elapsed = time.perf_counter() - started
        if len(samples) >= max_samples or elapsed >= max_seconds:
            break
        if len(samples) >= min_samples and elapsed >= min_seconds:
            break
    return Timing(tuple(samples))


def compare(candidates: dict[str, Callable[[], Any]], *, rounds: int = 3, **kwargs: Any) -> dict[str, Timing]:
    """Measure several candidates in interleaved rounds; pool each one's samples."""
    pooled: dict[str, list[float]] = {name: [] for name in candidates}
    per_round = {**kwargs}
    per_round.setdefault("min_seconds", 0.15)
    per_round.setdefault("min_samples", 10)
    for i in range(rounds):
        for name, fn in candidates.items():
            timing = measure(fn, warmup=3 if i == 0 else 1, **per_round)
            pooled[name].extend(timing.samples_ms)
    return {name: Timing(tuple(s)) for name, s in pooled.items()}
