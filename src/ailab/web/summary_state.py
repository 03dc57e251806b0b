"""The dashboard summary as data that a write can update exactly, without the aggregates.

``SummaryState`` holds what ``queries.summary`` reports plus what it takes to keep that exact
under writes: the count of *every* tag (a tag outside the top 20 may climb into it) and the
per-week counts of the 52-week window (it ends with the newest item's week, so a new item may
move it). ``SummaryDelta`` is what one write changed, measured inside the write's transaction
(``ailab.web.summary_writes``); ``state.apply(delta)`` is then the state at the write's revision.

States are immutable and carry their rendered JSON, so a reader in any thread sees a whole one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from ailab.queries.summary import WEEKS, rank_tags
from ailab.vocab import CLOSED_STATUSES, OPEN_STATUSES, PRIORITIES, STATUSES
from ailab.web.responses import dumps

WEEK_ANCHOR = "newest created_at"


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (weeks run Monday to Sunday, UTC)."""
    return day - timedelta(days=day.weekday())


def _merge(counts: Mapping[str, int], changes: Mapping[str, int], keep: Iterable[str] = ()) -> dict[str, int]:
    """``counts`` plus ``changes``; a key that drops to zero disappears unless it is in ``keep``."""
    merged = dict(counts)
    for key, change in changes.items():
        merged[key] = merged.get(key, 0) + change
    kept = set(keep)
    return {k: v for k, v in merged.items() if v != 0 or k in kept}


@dataclass(frozen=True)
class SummaryDelta:
    """What one write changed, from ``base_revision`` to ``revision`` (normally base + 1)."""

    base_revision: int
    revision: int
    by_status: Mapping[str, int] = field(default_factory=dict)
    by_priority: Mapping[str, int] = field(default_factory=dict)
    tags: Mapping[str, int] = field(default_factory=dict)
    blocked: int = 0
    created: tuple[datetime, ...] = ()  # created_at of new items


@dataclass(frozen=True)
class SummaryState:
    revision: int
    by_status: Mapping[str, int]
    by_priority: Mapping[str, int]
    blocked: int
    tag_counts: Mapping[str, int]
    weeks: tuple[date, ...]  # WEEKS Mondays, oldest first
    week_counts: tuple[int, ...]
    newest_week: date | None  # None while there are no items (the window then ends this week)
    generated_at: datetime
    computed_at: float  # monotonic time of the full recompute this state descends from
    body: bytes = b""

    @classmethod
    def from_summary(
        cls,
        data: Mapping[str, Any],
        tag_counts: Mapping[str, int],
        *,
        revision: int,
        generated_at: datetime,
        computed_at: float,
    ) -> SummaryState:
        """The state of a full recompute (``queries.summary.summary_with_tag_counts``)."""
        weekly = data["created_per_week"]
        weeks = tuple(date.fromisoformat(w) for w in weekly["weeks"])
        state = cls(
            revision=revision,
            by_status=dict(data["by_status"]),
            by_priority=dict(data["by_priority"]),
            blocked=int(data["blocked"]),
            tag_counts=dict(tag_counts),
            weeks=weeks,
            week_counts=tuple(int(n) for n in weekly["counts"]),
            newest_week=weeks[-1] if data["total"] > 0 else None,
            generated_at=generated_at,
            computed_at=computed_at,
        )
        return state.rendered()

    def rendered(self) -> SummaryState:
        return replace(self, body=dumps(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        """The summary as ``/api/summary`` sends it (the shape of ``queries.summary``)."""
        by_status = dict(self.by_status)
        return {
            "total": sum(by_status.values()),
            "open": sum(by_status.get(s, 0) for s in OPEN_STATUSES),
            "closed": sum(by_status.get(s, 0) for s in CLOSED_STATUSES),
            "by_status": by_status,
            "by_priority": dict(self.by_priority),
            "blocked": self.blocked,
            "top_tags": rank_tags(self.tag_counts),
            "created_per_week": {
                "weeks": [w.isoformat() for w in self.weeks],
                "counts": list(self.week_counts),
                "anchor": WEEK_ANCHOR,
            },
            "revision": self.revision,
            "generated_at": self.generated_at,
        }

    def apply(self, delta: SummaryDelta, generated_at: datetime) -> SummaryState:
        """This state changed by ``delta`` (which must start at this state's revision)."""
        if delta.base_revision != self.revision:
            raise ValueError(f"delta from revision {delta.base_revision} applied to {self.revision}")
        weeks, counts, newest = self.weeks, list(self.week_counts), self.newest_week
        for created in delta.created:
            week = week_start(created.date())
            if newest is None or week > newest:
                # The window moves to end with the new newest week: weeks after the old newest
                # hold no item but this one (there was nothing newer).
                by_week = dict(zip(weeks, counts, strict=True)) if newest is not None else {}
                weeks = tuple(week - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS))
                counts = [by_week.get(w, 0) for w in weeks]
                newest = week
            if weeks[0] <= week:
                counts[(week - weeks[0]).days // 7] += 1
        state = SummaryState(
            revision=delta.revision,
            by_status=_merge(self.by_status, delta.by_status, keep=STATUSES),
            by_priority=_merge(self.by_priority, delta.by_priority, keep=PRIORITIES),
            blocked=self.blocked + delta.blocked,
            tag_counts=_merge(self.tag_counts, delta.tags),
            weeks=weeks,
            week_counts=tuple(counts),
            newest_week=newest,
            generated_at=generated_at,
            computed_at=self.computed_at,
        )
        return state.rendered()
