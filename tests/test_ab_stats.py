"""The gate's statistics on synthetic runs with a known truth (seeded, so every run is the same).

The noise model is this machine's: a drift shared by both sides of a round (20-35% between passes)
plus a few percent of independent noise per run. The A/B's alternation is what makes the drift
shared; the tests hold the verdict rules to it: no false "slower" under drift, a planted 25%
slowdown caught, and a resolution that tells the two apart.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ailab.perf.tools.ab_stats import MetricAB, bootstrap_ratio_ci, judge, resolution_of


def _rounds(
    rng: np.random.Generator, n: int, *, slowdown: float = 0.0, drift: float = 0.3, noise: float = 0.03
) -> tuple[list[float], list[float]]:
    shared = rng.lognormal(0.0, drift, n)
    base = shared * rng.lognormal(0.0, noise, n)
    head = shared * rng.lognormal(0.0, noise, n) * (1.0 + slowdown)
    return base.tolist(), head.tolist()


def test_self_vs_self_under_drift_gives_no_verdict() -> None:
    rng = np.random.default_rng(7)
    verdicts = [judge("m", *_rounds(rng, 5)).verdict for _ in range(300)]
    assert verdicts.count("slower") == 0
    assert verdicts.count("faster") == 0


def test_a_planted_25_percent_slowdown_is_caught_and_a_speedup_named() -> None:
    rng = np.random.default_rng(8)
    slower = [judge("m", *_rounds(rng, 5, slowdown=0.25)).verdict for _ in range(300)]
    assert slower.count("slower") >= 290
    faster = [judge("m", *_rounds(rng, 5, slowdown=-0.3)).verdict for _ in range(100)]
    assert faster.count("faster") >= 95


def test_resolution_separates_what_is_caught_from_what_is_not() -> None:
    rng = np.random.default_rng(9)
    base, head = _rounds(rng, 5)
    res = judge("m", base, head).resolution
    assert 0.10 < res < 0.5  # never below the margin; a few % noise keeps it near it
    # Slowdowns well above the resolution are caught; ones inside the margin never are.
    for slowdown, expect in ((res * 1.5, "slower"), (0.05, "within noise")):
        got = [judge("m", *_rounds(rng, 5, slowdown=slowdown)).verdict for _ in range(100)]
        assert got.count(expect) >= 95, (slowdown, got.count(expect))


def test_noisier_metrics_get_a_coarser_resolution() -> None:
    rng = np.random.default_rng(10)
    quiet = [judge("m", *_rounds(rng, 5, noise=0.02)).resolution for _ in range(50)]
    loud = [judge("m", *_rounds(rng, 5, noise=0.15)).resolution for _ in range(50)]
    assert np.median(loud) > 2 * np.median(quiet)


def test_ratio_is_of_medians_and_interval_brackets_it() -> None:
    m = judge("m", [1.0, 2.0, 3.0, 4.0, 100.0], [2.0, 4.0, 6.0, 8.0, 9.0])
    assert m.ratio == pytest.approx(6.0 / 3.0)
    assert m.ci_low <= m.ratio <= m.ci_high
    assert bootstrap_ratio_ci([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == bootstrap_ratio_ci(
        [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]
    )


def test_min_max_rule() -> None:
    apart = judge("m", [1.0, 1.05, 1.1, 0.95], [1.5, 1.6, 1.55, 1.7])
    assert apart.separated == "slower" and apart.verdict == "slower"
    overlapping = judge("m", [1.0, 1.05, 1.1, 0.95], [1.0, 1.2, 1.1, 1.15])
    assert overlapping.separated == ""
    assert judge("m", [1.5, 1.6, 1.55, 1.7], [1.0, 1.05, 1.1, 0.95]).separated == "faster"


def test_higher_is_better_metrics_are_judged_as_costs() -> None:
    fewer_items_per_second = judge(
        "m", [100.0, 101.0, 99.0], [70.0, 71.0, 69.0], unit="items/s", higher_is_better=True
    )
    assert fewer_items_per_second.verdict == "slower"
    assert fewer_items_per_second.ratio == pytest.approx(100.0 / 70.0)


def test_a_metric_one_side_lacks_is_reported_as_such() -> None:
    assert judge("m", [1.0, 1.0, 1.0], []).verdict == "only in base"
    assert judge("m", [], [1.0, 1.0, 1.0]).verdict == "only in head"
    assert math.isnan(judge("m", [], [1.0]).ratio)


def test_too_few_rounds_never_give_a_verdict() -> None:
    m = judge("m", [1.0, 1.0], [2.0, 2.0])
    assert m.verdict == "within noise" and "fewer than 3 rounds" in m.why
    assert math.isnan(m.resolution)


def test_round_trip_and_resolution_summary() -> None:
    rng = np.random.default_rng(11)
    metrics = [judge(f"m{i}", *_rounds(rng, 5, noise=0.01 * (i + 1))) for i in range(5)]
    assert [MetricAB.from_dict(m.to_dict()) for m in metrics] == metrics
    res = resolution_of([*metrics, judge("missing", [1.0], [])])
    assert res is not None and res.metrics == 5
    assert res.best <= res.median <= res.worst
    assert "5 rounds" in res.describe(5) and f"{res.median:.0%}" in res.describe(5)
