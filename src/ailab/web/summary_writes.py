"""The dashboard's writes, each returning what it changed in the summary (a ``SummaryDelta``).

The delta is measured inside the write's own transaction, after the data revision is locked:
SQLite's ``BEGIN IMMEDIATE`` already holds the write lock, and on Postgres ``SELECT ... FOR
UPDATE`` on the revision row waits for any other writer (every write path bumps that row, so
each holds its lock until it commits). Nothing else can commit in between, so "before" and
"after" are exact, and the delta takes the summary from ``base_revision`` to ``revision``.

A few indexed statements per write, none of them an aggregate over the whole table:

* the item's status and priority before (and its tags, when the patch replaces them);
* the blocked count among the item and the items that depend on it, before and after, when the
  status or the dependencies change: only those items can start or stop being blocked;
* the revision before (locked) and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.engine import Connection

from ailab import queries
from ailab.clock import Clock
from ailab.queries._tables import (
    data_revision,
    dependencies,
    item_id_clause,
    tags,
    work_item_tags,
    work_items,
)
from ailab.vocab import CLOSED_STATUSES
from ailab.web.summary_state import SummaryDelta

_LOCK_REVISION = select(data_revision.c.revision).where(data_revision.c.id == 1).with_for_update()
_REVISION = select(data_revision.c.revision).where(data_revision.c.id == 1)
_item_id = bindparam("item_id", type_=Integer())
_TAGS_OF_ITEM = (
    select(tags.c.name)
    .join_from(work_item_tags, tags, tags.c.id == work_item_tags.c.tag_id)
    .where(work_item_tags.c.work_item_id == _item_id)
)
_DEPENDANTS = select(dependencies.c.work_item_id).where(dependencies.c.depends_on_id == _item_id)


def _blocked_among_stmt() -> Any:
    """How many of ``:ids`` are blocked: open, waiting on at least one open dependency."""
    waiter, blocker = work_items.alias("waiter"), work_items.alias("blocker")
    closed = sorted(CLOSED_STATUSES)
    blocked = (
        select(dependencies.c.work_item_id)
        .join(waiter, waiter.c.id == dependencies.c.work_item_id)
        .join(blocker, blocker.c.id == dependencies.c.depends_on_id)
        .where(
            dependencies.c.work_item_id.in_(bindparam("ids", expanding=True)),
            waiter.c.status.not_in(closed),
            blocker.c.status.not_in(closed),
        )
        .distinct()
        .subquery()
    )
    return select(func.count()).select_from(blocked)


_BLOCKED_AMONG = _blocked_among_stmt()


def _blocked_among(conn: Connection, ids: list[int]) -> int:
    return int(conn.execute(_BLOCKED_AMONG, {"ids": ids}).scalar() or 0)


def _revision(conn: Connection, *, lock: bool = False) -> int:
    return int(conn.execute(_LOCK_REVISION if lock else _REVISION).scalar() or 0)


def _changes(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    keys = before.keys() | after.keys()
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)}


def _one(value: str | None) -> dict[str, int]:
    return {} if value is None else {value: 1}


def create_item(
    conn: Connection, data: Mapping[str, Any], *, clock: Clock
) -> tuple[dict[str, Any], SummaryDelta]:
    """``queries.create_work_item`` and its summary delta (use a write transaction)."""
    base = _revision(conn, lock=True)
    item = queries.create_work_item(conn, data, clock=clock)
    # A new item has no dependants: only the item itself can be blocked.
    blocked = _blocked_among(conn, [item["id"]]) if item["depends_on"] else 0
    delta = SummaryDelta(
        base_revision=base,
        revision=_revision(conn),
        by_status=_one(item["status"]),
        by_priority=_one(item["priority"]),
        tags=dict.fromkeys(item["tags"], 1),
        blocked=blocked,
        created=(item["created_at"],),
    )
    return item, delta


def update_item(
    conn: Connection, ref: str | int, patch: Mapping[str, Any], *, clock: Clock
) -> tuple[dict[str, Any], SummaryDelta]:
    """``queries.update_work_item`` and its summary delta (use a write transaction)."""
    base = _revision(conn, lock=True)
    row = conn.execute(
        select(work_items.c.id, work_items.c.status, work_items.c.priority).where(item_id_clause(ref))
    ).first()
    if row is None:  # let the update say what is missing, in its own words
        item = queries.update_work_item(conn, ref, patch, clock=clock)
        return item, SummaryDelta(base, _revision(conn))
    item_id, old_status, old_priority = int(row[0]), row[1], row[2]
    old_tags = list(conn.execute(_TAGS_OF_ITEM, {"item_id": item_id}).scalars()) if "tags" in patch else None
    # Updating an item changes its own status and dependencies, never who depends on it.
    scope: list[int] = []
    blocked_before = 0
    if "status" in patch or "depends_on" in patch:
        scope = [item_id, *conn.execute(_DEPENDANTS, {"item_id": item_id}).scalars()]
        blocked_before = _blocked_among(conn, scope)
    item = queries.update_work_item(conn, ref, patch, clock=clock)
    blocked_after = _blocked_among(conn, scope) if scope else 0
    delta = SummaryDelta(
        base_revision=base,
        revision=_revision(conn),
        by_status=_changes(_one(old_status), _one(item["status"])),
        by_priority=_changes(_one(old_priority), _one(item["priority"])),
        tags=_changes(dict.fromkeys(old_tags, 1), dict.fromkeys(item["tags"], 1))
        if old_tags is not None
        else {},
        blocked=blocked_after - blocked_before,
    )
    return item, delta
