"""The rows of ``ailab report`` and where they come from: one place lists them all.

A benchmark is a function ``(ctx: BenchContext) -> list[Measurement]`` registered with
``@benchmark("group", order=N)``. ``ailab.perf.report.run`` runs every registered benchmark (in
``order``), and renders the measurements against their targets as a table, JSON, Markdown
and HTML. Later features add rows by registering another benchmark in their own module and
listing that module in ``BENCHMARK_MODULES``.
"""

from __future__ import annotations

import importlib
import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ailab.errors import ConfigError
from ailab.settings import Settings

# Modules whose import registers benchmarks (kept here so the report's rows are listed in one place).
BENCHMARK_MODULES: list[str] = [
    "ailab.perf.bench.core",
    "ailab.perf.bench.sync",
    "ailab.perf.bench.claims",
    "ailab.perf.bench.compare",
    "ailab.perf.bench.web",
    "ailab.perf.bench.legacy",
    "ailab.perf.bench.smoke",
]


def nan_to_none(value: Any) -> Any:
    """``value`` with every NaN (a figure not measured) as None, in dicts, lists and tuples too: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nan_to_none(v) for v in value]
    return value


@dataclass(frozen=True)
class Target:
    """A goal for one metric: ``value`` in ``unit``, met when the figure is ``<=`` (or ``>=``) it."""

    value: float
    unit: str
    direction: Literal["<=", ">="] = "<="
    source: str = "review"  # "review" = the review's target table; "issue" = our own issue goal

    def met(self, figure: float) -> bool | None:
        """Whether ``figure`` meets the goal; None when it is NaN (not measured)."""
        if math.isnan(figure):
            return None
        return figure <= self.value if self.direction == "<=" else figure >= self.value

    def describe(self) -> str:
        """The goal as text, e.g. ``<= 10 ms``."""
        return f"{self.direction} {self.value:g} {self.unit}"


@dataclass
class Measurement:
    """One row of the report."""

    group: str  # e.g. "database", "sync", "dashboard", "legacy", "load"
    name: str  # e.g. "tag filter, first page of 50"
    unit: str  # "ms", "s", "items/s", "MiB", ...
    p50: float  # the headline figure (median, or the single value for a one-off)
    p95: float = math.nan
    n: int = 1
    baseline: float = math.nan  # the old approach's p50 measured in the same run
    baseline_label: str = ""
    target: Target | None = None
    goal: Target | None = None  # a stricter goal from our issues, if any
    note: str = ""
    higher_is_better: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """How many times better than the baseline (>1 is better), NaN without a baseline."""
        if math.isnan(self.baseline) or self.p50 == 0 or math.isnan(self.p50):
            return math.nan
        return self.p50 / self.baseline if self.higher_is_better else self.baseline / self.p50

    def headline(self) -> float:
        """The figure judged against targets: p95 for latencies when present, else p50."""
        return self.p95 if not math.isnan(self.p95) and not self.higher_is_better else self.p50

    def verdict(self) -> str:
        """``met`` when the ``headline`` meets every ``target``/``goal`` set, ``missed`` when one is not;
        ``-`` when neither is set or the figure is NaN."""
        checks = [t.met(self.headline()) for t in (self.target, self.goal) if t is not None]
        if not checks or any(c is None for c in checks):
            return "-"
        return "met" if all(checks) else "missed"

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict, with ``ratio`` and ``verdict`` added."""
        d = asdict(self)
        d["ratio"] = self.ratio
        d["verdict"] = self.verdict()
        return d


@dataclass
class BenchContext:
    """What a benchmark gets: a scratch database already migrated and seeded with ``items`` items."""

    settings: Settings
    database_url: str
    items: int
    reports_dir: Path
    quick: bool = False  # small sizes (tests, notebooks)
    shared: dict[str, Any] = field(default_factory=dict)  # results benchmarks pass on to later ones
    # Where benchmarks put scratch files; the report removes it on success, failure and Ctrl-C.
    scratch_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))


BenchmarkFn = Callable[[BenchContext], list[Measurement]]


@dataclass(frozen=True)
class Registered:
    """A registered benchmark: its group, run order and whether it runs by default."""

    group: str
    order: int
    fn: BenchmarkFn
    default: bool = True  # False: runs only when its group is asked for by name (--only)

    @property
    def name(self) -> str:
        """The benchmark's dotted name, ``module.function`` (progress lines, failures)."""
        return f"{self.fn.__module__}.{self.fn.__name__}"


_benchmarks: list[Registered] = []


def benchmark(group: str, order: int = 100, default: bool = True) -> Callable[[BenchmarkFn], BenchmarkFn]:
    """Decorator: register a benchmark in ``group``, run in ``order``; registering twice is a no-op.

    ``default=False`` runs it only when its group is asked for by name (``--only``).
    """

    def register(fn: BenchmarkFn) -> BenchmarkFn:
        if not any(r.fn is fn for r in _benchmarks):
            _benchmarks.append(Registered(group, order, fn, default))
        return fn

    return register


def known_groups() -> list[str]:
    """Every registered group, sorted; imports ``BENCHMARK_MODULES`` first so all are registered."""
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)
    return sorted({r.group for r in _benchmarks})


def registered(groups: set[str] | None = None) -> list[Registered]:
    """The benchmarks of ``groups`` (all when None); an unknown group is a ``ConfigError``."""
    known = known_groups()
    unknown = sorted((groups or set()) - set(known))
    if unknown:
        raise ConfigError(
            f"Unknown report group{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"--only takes {', '.join(known)}."
        )
    chosen = [r for r in _benchmarks if (r.default if groups is None else r.group in groups)]
    return sorted(chosen, key=lambda r: r.order)
