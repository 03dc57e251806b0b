"""Planted regressions: test-only knobs that make one code path slower on purpose.

They exist so the A/B gate (``ailab ab``) can prove that it catches a known slowdown. Never set
them outside tests and gate calibration runs.

``AILAB_TEST_TAG_FILTER_SLOWDOWN=0.25`` makes every tag-filtered page of ``list_work_items``
take 25% longer than it otherwise would: after the real work, a busy wait for a quarter of the
time that work took (a proportional delay, so the slowdown is 25% at any size and load). The
setting is read once per process, so the hook costs nothing measurable when it is unset.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager

_override: float | None = None


@functools.cache
def _from_settings() -> float:
    from ailab.settings import Settings

    return Settings.from_env().test_tag_filter_slowdown


def tag_filter_slowdown() -> float:
    """The planted slowdown of the tag filter as a fraction (0.25 = 25% slower); 0 when unset."""
    return _override if _override is not None else _from_settings()


@contextmanager
def planted_tag_filter_slowdown(fraction: float) -> Iterator[None]:
    """Plant a tag-filter slowdown in this process for the duration (in-process gate tests)."""
    global _override
    previous, _override = _override, fraction
    try:
        yield
    finally:
        _override = previous


def stretch(started: float, fraction: float) -> None:
    """Busy-wait until the work begun at ``started`` (``perf_counter``) took ``1 + fraction`` times
    as long as it did. A sleep would be far coarser than the sub-millisecond queries it stretches."""
    until = started + (time.perf_counter() - started) * (1.0 + fraction)
    while time.perf_counter() < until:
        pass
