"""The dashboard's aggregates.

``summary`` reads them from the counts the database keeps with triggers (``ailab.db.derived``):
2 statements over ~130 + ~500 small rows, well under a millisecond at any size.

``live_summary`` computes the same from the rows, 4 statements, each an index scan, none loading
rows into Python; it is the reference the tests hold the kept counts to, and what the report
times as the cost the counts save:

1. ``status, priority, count(*) GROUP BY status, priority``: total, by status and by priority
   in one in-order scan of the covering index ``(status, priority, created_at, id)``.
2. Top 20 tags: a scan of ``(tag_id, work_item_id)``, grouped in index order.
3. Created per week over 52 weeks: range scans of ``(created_at, id)`` (one per week on SQLite).
4. Blocked count: open items (not done/cancelled) with at least one dependency that is not
   done/cancelled either; a finished item is not "waiting". It visits every dependency edge
   once: the costliest part (~30 ms per 150k edges on SQLite).

The 52 weeks end with the week (Monday-Sunday, UTC) of the **newest** ``created_at``, not of
"now": the chart then shows the latest activity of imported or demo data as well as of live
data, and the result depends on the data alone (cacheable by data revision, testable).
An empty database anchors on today's week.

Even so the live version costs tens of milliseconds on 100k items (shared/limits.md: ~60 ms raw
for the naive four), which is why the counts are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select, text
from sqlalchemy.engine import Connection

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.queries._tables import dependencies, summary_counts, tags, work_item_tags, work_items
from ailab.vocab import CLOSED_STATUSES, OPEN_STATUSES, PRIORITIES, STATUSES

WEEKS = 52
TOP_TAGS = 20


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _counts(conn: Connection) -> dict[str, Any]:
    by_status = dict.fromkeys(STATUSES, 0)
    by_priority = dict.fromkeys(PRIORITIES, 0)
    stmt = select(work_items.c.status, work_items.c.priority, func.count()).group_by(
        work_items.c.status, work_items.c.priority
    )
    for status, priority, count in conn.execute(stmt):
        by_status[status] = by_status.get(status, 0) + count
        by_priority[priority] = by_priority.get(priority, 0) + count
    return _totals(by_status, by_priority)


def _totals(by_status: dict[str, int], by_priority: dict[str, int]) -> dict[str, Any]:
    return {
        "total": sum(by_status.values()),
        "open": sum(by_status[s] for s in OPEN_STATUSES),
        "closed": sum(by_status[s] for s in CLOSED_STATUSES),
        "by_status": by_status,
        "by_priority": by_priority,
    }


def _top_tags(conn: Connection, limit: int = TOP_TAGS) -> list[dict[str, Any]]:
    # Group the (tag_id, work_item_id) index in order, then name the ~500 groups: ties at the
    # cut-off are broken by name, so the top list does not depend on tag ids.
    counts = (
        select(work_item_tags.c.tag_id, func.count().label("n")).group_by(work_item_tags.c.tag_id).subquery()
    )
    # Ties by code point on both engines (Postgres' default collation would order by locale).
    name = tags.c.name.collate("C") if conn.dialect.name == "postgresql" else tags.c.name
    stmt = (
        select(tags.c.name, counts.c.n)
        .join_from(counts, tags, tags.c.id == counts.c.tag_id)
        .order_by(counts.c.n.desc(), name)
        .limit(limit)
    )
    return [{"name": name, "count": n} for name, n in conn.execute(stmt)]


def rank_tags(counts: Mapping[str, int], limit: int = TOP_TAGS) -> list[dict[str, Any]]:
    """The ``limit`` most used tags, ties broken by name: ``summary``'s ``top_tags`` from counts.

    Python orders names by code point, as SQLite (BINARY) and Postgres with a C collation do.
    """
    ranked = sorted(((-n, name) for name, n in counts.items() if n > 0))[:limit]
    return [{"name": name, "count": -neg} for neg, name in ranked]


# SQLite: 52 week boundaries from a recursive CTE, each counted with a range scan of the
# (created_at, id) index. Counting index entries in a range decodes nothing per row, which is
# ~10x cheaper (measured: 1.2 vs 14 ms at 100k items) than grouping rows by a computed day.
# The window ends with the Monday-to-Sunday week of the newest item.
_WEEKLY_SQLITE = text(
    """
    WITH RECURSIVE weeks(n, start) AS (
        SELECT 0, date((SELECT max(created_at) FROM work_items), 'weekday 0', '-6 days', :back)
        UNION ALL
        SELECT n + 1, date(start, '+7 days') FROM weeks WHERE n < :last
    )
    SELECT start, (
        SELECT count(*) FROM work_items
        WHERE created_at >= weeks.start AND created_at < date(weeks.start, '+7 days')
    )
    FROM weeks
    """
)


def _weekly_rows(conn: Connection) -> list[tuple[Any, int]]:
    if conn.dialect.name == "sqlite":
        params = {"back": f"-{(WEEKS - 1) * 7} days", "last": WEEKS - 1}
        return [(start, n) for start, n in conn.execute(_WEEKLY_SQLITE, params) if start is not None]
    newest = select(func.max(work_items.c.created_at)).scalar_subquery()
    start = func.date_trunc("week", newest) - func.make_interval(0, 0, WEEKS - 1)
    bucket = cast(func.date_trunc("week", work_items.c.created_at), Date)
    stmt = (
        select(bucket.label("bucket"), func.count())
        .where(work_items.c.created_at >= start)
        .group_by(bucket)
        .order_by(bucket)
    )
    return [(week, n) for week, n in conn.execute(stmt)]


def _weekly(conn: Connection, clock: Clock) -> dict[str, Any]:
    return _weekly_window(_weekly_rows(conn), clock)


def _weekly_window(rows: Iterable[tuple[Any, int]], clock: Clock) -> dict[str, Any]:
    per_week: dict[date, int] = {}
    for raw_day, count in rows:
        if count:
            week = _week_start(_as_date(raw_day))
            per_week[week] = per_week.get(week, 0) + count
    today = datetime.fromtimestamp(clock.time(), UTC).date()
    last_week = max(per_week) if per_week else _week_start(today)
    weeks = [last_week - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    return {
        "weeks": [w.isoformat() for w in weeks],
        "counts": [per_week.get(w, 0) for w in weeks],
        "anchor": "newest created_at",
    }


def _blocked(conn: Connection) -> int:
    # Walk the dependency primary key (work_item_id, depends_on_id) in order, probing a hashed
    # set of the closed items' ids: no per-edge row lookup, DISTINCT on an ordered column.
    # Every edge is still visited (about 30 ms per 150k edges on SQLite), hence the cache.
    closed_ids = select(work_items.c.id).where(work_items.c.status.in_(sorted(CLOSED_STATUSES)))
    blocked_items = (
        select(dependencies.c.work_item_id)
        .where(
            dependencies.c.depends_on_id.not_in(closed_ids), dependencies.c.work_item_id.not_in(closed_ids)
        )
        .distinct()
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(blocked_items)).scalar() or 0)


def live_summary(conn: Connection, *, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """``summary`` computed from the rows (4 statements; see the module docstring)."""
    result = _counts(conn)
    result["blocked"] = _blocked(conn)
    result["top_tags"] = _top_tags(conn)
    result["created_per_week"] = _weekly(conn, clock)
    return result


_KEPT_COUNTS = select(summary_counts.c.kind, summary_counts.c.key, summary_counts.c.n)
_KEPT_TAG_COUNTS = select(tags.c.name, tags.c.item_count).where(tags.c.item_count > 0)


def summary(conn: Connection, *, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Totals, counts by status and priority, top 20 tags, items created per week over 52 weeks
    and the number of blocked items, from the counts the triggers keep (2 statements)."""
    by_status = dict.fromkeys(STATUSES, 0)
    by_priority = dict.fromkeys(PRIORITIES, 0)
    weeks: list[tuple[str, int]] = []
    blocked = 0
    for kind, key, n in conn.execute(_KEPT_COUNTS):
        if kind == "status":
            by_status[key] = int(n)
        elif kind == "priority":
            by_priority[key] = int(n)
        elif kind == "week":
            weeks.append((key, int(n)))
        elif kind == "blocked":
            blocked = int(n)
    tag_counts = {name: int(n) for name, n in conn.execute(_KEPT_TAG_COUNTS)}
    return {
        **_totals(by_status, by_priority),
        "blocked": blocked,
        "top_tags": rank_tags(tag_counts),
        "created_per_week": _weekly_window(weeks, clock),
    }
