"""Applying recorded webhook deliveries: the same merge rules and write path as ``sync --pull``.

Each pending delivery is applied in one transaction that also marks it done, so a crash before
the commit leaves it ``pending`` (applied when the server starts again) and a crash after it
cannot apply it twice. On Postgres the row is taken ``FOR UPDATE SKIP LOCKED``.

For an ``issues`` delivery about an issue we link to a work item:

* **Order.** Deliveries arrive late, twice or out of order. GitHub's ``updated_at`` is compared
  with the newest we hold (the link's, and that of deliveries already applied for the issue):
  an older one is ``stale`` and changes nothing. An equal one whose content differs from what
  we hold cannot be ordered (GitHub's times have whole seconds): it is ``deferred``, and the
  repository's pull watermark is moved back before it so the next poll re-reads the issue and
  the three-way merge settles it.
* **Merge.** The issue is planned exactly as a ``--pull`` run plans it (``plan_item`` with
  ``pull=True``: remote wins for open/closed, local for content) and the pulled groups are
  written through ``ailab.queries.writes`` (validation, data revision, tag upsert).
* **Vanished.** ``transferred`` follows the issue: the link moves to the new repository and
  number. ``deleted`` marks the repository for a full reconciliation, whose vanished-remote
  rules recreate the issue.
* Deliveries about other events, untracked repositories or unlinked issues are ``ignored``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from ailab.db import connect, tables
from ailab.db.revision import bump_revision
from ailab.db.tables import utcnow
from ailab.errors import AilabError
from ailab.queries.writes import update_work_item
from ailab.sync.mapping import IssueRef, LocalItem, render
from ailab.sync.plan import ItemState, Kind, plan_item
from ailab.sync.pull import item_change
from ailab.sync.remote import RemoteIssue
from ailab.sync.store import LINK_COLUMNS, Link
from ailab.sync.timestamps import parse_time
from ailab.sync.webhooks import DELIVERIES, payload_of

log = logging.getLogger(__name__)
LINKS = tables.github_links
STATE = tables.github_sync_state
STATUS = tables.github_sync_status
REWIND = timedelta(seconds=1)
BATCH = 200


@dataclass(frozen=True)
class Applied:
    """What became of one delivery."""

    delivery_id: int
    status: str  # applied | stale | deferred | ignored | failed
    reason: str | None
    received_at: datetime
    applied_at: datetime
    changed: bool = False  # a work item was written


def pending_ids(engine: Engine, limit: int = BATCH) -> list[int]:
    """The oldest pending deliveries, in the order they were received."""
    with connect(engine) as conn:
        rows = conn.execute(
            select(DELIVERIES.c.id)
            .where(DELIVERIES.c.status == "pending")
            .order_by(DELIVERIES.c.id)
            .limit(limit)
        )
        return [int(r[0]) for r in rows]


def apply_delivery(engine: Engine, delivery_id: int, now: datetime | None = None) -> Applied | None:
    """Apply one pending delivery and mark it, in one transaction; None if it is not pending."""
    try:
        with connect(engine, readonly=False) as conn:
            query = select(DELIVERIES).where(
                and_(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == "pending")
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            try:
                status, reason, changed = _apply(conn, row)
            except AilabError as err:  # the write's savepoint is rolled back; the reason is kept
                status, reason, changed = "failed", str(err), False
            done = now or utcnow()
            conn.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id == delivery_id)
                .values(status=status, reason=reason[:500] if reason else None, applied_at=done)
            )
            return Applied(delivery_id, status, reason, row["received_at"], done, changed)
    except AilabError:
        raise
    except Exception as err:  # a database error: record why instead of retrying it forever
        log.warning("webhook delivery %s could not be applied: %s", delivery_id, type(err).__name__)
        done = now or utcnow()
        with connect(engine, readonly=False) as conn:
            conn.execute(
                update(DELIVERIES)
                .where(and_(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == "pending"))
                .values(status="failed", reason=f"database error {type(err).__name__}", applied_at=done)
            )
            received = conn.execute(
                select(DELIVERIES.c.received_at).where(DELIVERIES.c.id == delivery_id)
            ).scalar()
        return Applied(delivery_id, "failed", type(err).__name__, received or done, done)


def _apply(conn: Connection, row: RowMapping) -> tuple[str, str | None, bool]:
    event, action, repository, number = row["event"], row["action"], row["repository"], row["issue_number"]
    if event != "issues":
        return "ignored", f"{event} events are not synced", False
    if repository is None or number is None:
        return "ignored", "the payload names no repository or issue number", False
    link = _link(conn, repository, number)
    if link is None:
        tracked = conn.execute(
            select(LINKS.c.work_item_id).where(LINKS.c.repository == repository).limit(1)
        ).first()
        why = (
            "no work item is linked to this issue"
            if tracked
            else f"repository {repository} is not synced here"
        )
        return "ignored", why, False
    payload = payload_of(row["payload"])
    if action == "transferred":
        return _transferred(conn, link, payload)
    if action == "deleted":
        _mark_full(conn, repository)
        bump_revision(conn)
        return "applied", "the issue was deleted on GitHub; the next full sync recreates it", False
    issue = payload.get("issue")
    remote = RemoteIssue.from_rest(issue) if isinstance(issue, dict) else None
    if remote is None or remote.updated_at is None:
        return "failed", "the payload has no issue with an updated_at", False
    newest = _newest(conn, link, repository, number)
    if newest is not None and remote.updated_at < newest:
        return "stale", f"older ({remote.updated_at:%Y-%m-%dT%H:%M:%SZ}) than what we hold", False
    item, refs = load_item(conn, link.work_item_id, repository)
    if item is None:
        return "ignored", "the linked work item no longer exists", False
    state = ItemState(item, link, render(item, refs), remote)
    plan = plan_item(state, pull=True, prefer_remote=False)
    if newest is not None and remote.updated_at == newest and plan.pull:
        _rewind(conn, repository, remote.updated_at - REWIND)
        return "deferred", "same updated_at as other data we hold; the next poll re-reads the issue", False
    changed = False
    if Kind.PULL in plan.kinds:
        change = item_change(item, remote, plan.pull)
        if change is not None:
            update_work_item(conn, item.id, change.patch())
            changed = True
    if plan.base is not None and plan.remote_hashes is not None:
        base = plan.base.with_groups(plan.remote_hashes, plan.pull)
        stamp = max(t for t in (link.remote_updated_at, remote.updated_at) if t is not None)
        if str(base) != link.content_hash or stamp != link.remote_updated_at:
            conn.execute(
                update(LINKS)
                .where(LINKS.c.work_item_id == link.work_item_id)
                .values(content_hash=str(base), remote_updated_at=stamp, synced_at=utcnow())
            )
            if not changed:
                bump_revision(conn)
    pulled = ", ".join(sorted(plan.pull)) if changed else None
    return "applied", (f"pulled {pulled}" if pulled else None), changed


def _link(conn: Connection, repository: str, number: int) -> Link | None:
    """The issue's link; on Postgres locked, so two appliers (``serve --workers``) take one issue's
    deliveries one at a time, each seeing what the other committed."""
    query = select(*LINK_COLUMNS).where(
        and_(LINKS.c.repository == repository, LINKS.c.issue_number == number)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None or row[0] is None:
        return None
    link = Link(*row)
    return link if link.linked else None


def _newest(conn: Connection, link: Link, repository: str, number: int) -> datetime | None:
    applied = conn.execute(
        select(func.max(DELIVERIES.c.remote_updated_at)).where(
            and_(
                DELIVERIES.c.repository == repository,
                DELIVERIES.c.issue_number == number,
                DELIVERIES.c.status == "applied",
            )
        )
    ).scalar()
    times = [t for t in (link.remote_updated_at, applied) if t is not None]
    return max(times) if times else None


def _transferred(conn: Connection, link: Link, payload: dict[str, Any]) -> tuple[str, str | None, bool]:
    changes = payload.get("changes") if isinstance(payload.get("changes"), dict) else {}
    assert isinstance(changes, dict)
    new_issue, new_repo = changes.get("new_issue"), changes.get("new_repository")
    if not isinstance(new_issue, dict) or not isinstance(new_repo, dict) or "number" not in new_issue:
        return "failed", "a transfer without changes.new_issue and changes.new_repository", False
    target = str(new_repo.get("full_name") or "")
    number = int(new_issue["number"])
    conn.execute(
        update(LINKS)
        .where(LINKS.c.work_item_id == link.work_item_id)
        .values(
            repository=target,
            issue_number=number,
            issue_id=new_issue.get("id"),
            node_id=new_issue.get("node_id"),
            remote_updated_at=parse_time(new_issue.get("updated_at")) or link.remote_updated_at,
            synced_at=utcnow(),
        )
    )
    bump_revision(conn)
    return "applied", f"followed the transfer to {target}#{number}", False


def _rewind(conn: Connection, repository: str, before: datetime) -> None:
    """Make the next poll list the issue again (its listing reads from the watermark on)."""
    conn.execute(
        update(STATE)
        .where(and_(STATE.c.repository == repository, STATE.c.pulled_until > before))
        .values(pulled_until=before)
    )


def _mark_full(conn: Connection, repository: str) -> None:
    found = conn.execute(
        update(STATUS).where(STATUS.c.repository == repository).values(needs_full=True, updated_at=utcnow())
    )
    if not found.rowcount:
        conn.execute(STATUS.insert().values(repository=repository, needs_full=True, updated_at=utcnow()))


_ITEM_SQL = "SELECT w.id, w.key, w.title, w.description, w.status, w.priority, w.type FROM work_items w WHERE w.id = :id"
_TAGS_SQL = (
    "SELECT t.name FROM work_item_tags wit JOIN tags t ON t.id = wit.tag_id WHERE wit.work_item_id = :id"
)
_CRITERIA_SQL = "SELECT text, done FROM acceptance_criteria WHERE work_item_id = :id ORDER BY position"
_DEPS_SQL = (
    "SELECT b.key, l.repository, l.issue_number, l.node_id, l.state FROM work_item_dependencies d"
    " JOIN work_items b ON b.id = d.depends_on_id LEFT JOIN github_links l ON l.work_item_id = b.id"
    " WHERE d.work_item_id = :id ORDER BY b.key"
)


def load_item(
    conn: Connection, item_id: int, repository: str
) -> tuple[LocalItem | None, dict[str, IssueRef]]:
    """One work item as the sync reads it (``store.load_items`` for one), and its blockers' issues."""
    row = conn.execute(text(_ITEM_SQL), {"id": item_id}).first()
    if row is None:
        return None, {}
    tags = sorted(r[0] for r in conn.execute(text(_TAGS_SQL), {"id": item_id}))
    criteria = tuple((r[0], bool(r[1])) for r in conn.execute(text(_CRITERIA_SQL), {"id": item_id}))
    deps: list[str] = []
    refs: dict[str, IssueRef] = {}
    for key, repo, number, node_id, state in conn.execute(text(_DEPS_SQL), {"id": item_id}):
        deps.append(key)
        if state == "linked" and number is not None:
            refs[key] = IssueRef(repo, int(number), node_id)
    item = LocalItem(
        id=row[0],
        key=row[1],
        title=row[2],
        description=row[3] or "",
        status=row[4],
        priority=row[5],
        type=row[6] or "",
        tags=tuple(tags),
        criteria=criteria,
        depends_on=tuple(deps),
        repository=repository,
    )
    return item, refs
