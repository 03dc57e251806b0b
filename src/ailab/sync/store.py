"""The sync's reads and writes of the database, in bulk and in short transactions.

Loading is five set-based queries whatever the item count (items, tags, criteria, dependencies,
links). Every write is its own committed transaction, taken at the points the crash-safety
argument needs: a pending link *before* a create is sent, the issue number right after the
answer, each chunk's new content hashes right after GitHub confirmed the chunk. Each write
transaction bumps ``data_revision`` (the dashboard's change counter).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.db import connect, tables
from ailab.db.revision import bump_revision
from ailab.db.tables import utcnow
from ailab.errors import NotFoundError, ValidationError
from ailab.queries.writes import update_work_item
from ailab.sync.mapping import LocalItem

LINKS = tables.github_links
PAGES = tables.github_pages
LABELS = tables.github_labels
STATE = tables.github_sync_state

PROBE_KEY = "probe:"  # the github_pages row holding the drift probe's baseline (never a listing page)
RepoResolver = Callable[[str | None, str | None], str]


@dataclass
class Link:
    """A ``github_links`` row of a work item."""

    work_item_id: int
    repository: str
    issue_number: int | None
    issue_id: int | None
    node_id: str | None
    state: str
    content_hash: str | None
    remote_updated_at: datetime | None
    created_at: datetime

    @property
    def linked(self) -> bool:
        """True when the link has its issue number (not a create still pending from an earlier run)."""
        return self.state == "linked" and self.issue_number is not None


# The columns of a ``Link``, in its field order: ``Link(*row)`` of a ``select(*LINK_COLUMNS)``.
LINK_COLUMNS = tuple(LINKS.c[f.name] for f in fields(Link))


@dataclass(frozen=True)
class LinkedIssue:
    """What to record once an issue is known to be an item's."""

    work_item_id: int
    repository: str
    number: int
    issue_id: int | None
    node_id: str | None
    content_hash: str
    remote_updated_at: datetime | None


@dataclass(frozen=True)
class ItemChange:
    """Local fields to overwrite with what was pulled from GitHub (None = keep)."""

    work_item_id: int
    title: str | None = None
    description: str | None = None
    criteria: tuple[tuple[str, bool], ...] | None = None
    status: str | None = None
    priority: str | None = None
    type: str | None = None
    tags: tuple[str, ...] | None = None

    def patch(self) -> dict[str, Any]:
        """The ``update_work_item`` patch: only the fields that change."""
        values: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("title", "description", "status", "priority", "type")
            if getattr(self, name) is not None
        }
        if self.tags is not None:
            values["tags"] = sorted(set(self.tags))
        if self.criteria is not None:
            values["criteria"] = [{"text": text, "done": done} for text, done in self.criteria]
        return values


# Loading runs below the ORM and Core result rows: plain DB-API tuples (a 10,000-item re-sync
# fetches some 70,000 rows, and Row objects cost several times the query).
_TAGS_SQL = "SELECT wit.work_item_id, t.name FROM work_item_tags wit JOIN tags t ON t.id = wit.tag_id"
_CRITERIA_SQL = "SELECT work_item_id, text, done FROM acceptance_criteria ORDER BY work_item_id, position"
_DEPS_SQL = (
    "SELECT d.work_item_id, b.key FROM work_item_dependencies d JOIN work_items b ON b.id = d.depends_on_id"
    " ORDER BY d.work_item_id, b.key"
)
_ITEMS_SQL = (
    "SELECT w.id, w.key, w.title, w.description, w.status, w.priority, w.type, p.repository_url, p.key"
    " FROM work_items w LEFT JOIN projects p ON p.id = w.project_id ORDER BY w.id"
)


def _fetch(conn: Connection, sql: str) -> list[Any]:
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


class SyncStore:
    """The sync's only access to the database: bulk loads, and one short committed transaction per write.

    Why the writes are small and committed at once: see the module docstring (crash safety).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- loading -------------------------------------------------------------------------------
    def load_items(self, resolve_repo: RepoResolver) -> list[LocalItem]:
        """Every work item with its tags, criteria and dependencies, ordered by id."""
        with connect(self.engine) as conn:
            tags: dict[int, list[str]] = defaultdict(list)
            for item_id, name in _fetch(conn, _TAGS_SQL):
                tags[item_id].append(name)
            criteria: dict[int, list[tuple[str, bool]]] = defaultdict(list)
            for item_id, body, done in _fetch(conn, _CRITERIA_SQL):
                criteria[item_id].append((body, bool(done)))
            deps: dict[int, list[str]] = defaultdict(list)
            for item_id, key in _fetch(conn, _DEPS_SQL):
                deps[item_id].append(key)
            rows = _fetch(conn, _ITEMS_SQL)
        repos: dict[tuple[str | None, str | None], str] = {}
        items = []
        for item_id, key, title, description, status, priority, kind, repo_url, project_key in rows:
            where = (repo_url, project_key if repo_url else None)
            if where not in repos:
                repos[where] = resolve_repo(*where)
            items.append(
                LocalItem(
                    id=item_id,
                    key=key,
                    title=title,
                    description=description or "",
                    status=status,
                    priority=priority,
                    type=kind or "",
                    tags=tuple(sorted(tags.get(item_id, ()))),
                    criteria=tuple(criteria.get(item_id, ())),
                    depends_on=tuple(deps.get(item_id, ())),
                    repository=repos[where],
                )
            )
        return items

    def load_links(self) -> dict[int, Link]:
        """Every work item's GitHub link, by work item id."""
        with connect(self.engine) as conn:
            rows = conn.execute(select(*LINK_COLUMNS).where(LINKS.c.work_item_id.is_not(None))).all()
        return {row[0]: Link(*row) for row in rows}

    # -- links -----------------------------------------------------------------------------------
    def insert_pending(self, rows: Sequence[tuple[int, str]]) -> None:
        """Record creates about to be sent (committed before the request leaves)."""
        if not rows:
            return
        now = utcnow()
        with connect(self.engine, readonly=False) as conn:
            conn.execute(
                delete(LINKS).where(
                    and_(LINKS.c.work_item_id.in_([r[0] for r in rows]), LINKS.c.state == "pending")
                )
            )
            conn.execute(
                insert(LINKS),
                [
                    {"work_item_id": wid, "repository": repo, "state": "pending", "created_at": now}
                    for wid, repo in rows
                ],
            )
            bump_revision(conn)

    def delete_pending(self, work_item_ids: Iterable[int]) -> None:
        """Drop the pending links of creates that failed for sure, so the next run creates them again."""
        ids = list(work_item_ids)
        if not ids:
            return
        with connect(self.engine, readonly=False) as conn:
            conn.execute(delete(LINKS).where(and_(LINKS.c.work_item_id.in_(ids), LINKS.c.state == "pending")))
            bump_revision(conn)

    def link(self, issues: Sequence[LinkedIssue]) -> None:
        """Pending (or absent) links -> linked to their issues."""
        if not issues:
            return
        now = utcnow()
        with connect(self.engine, readonly=False) as conn:
            conn.execute(delete(LINKS).where(LINKS.c.work_item_id.in_([i.work_item_id for i in issues])))
            conn.execute(
                insert(LINKS),
                [
                    {
                        "work_item_id": i.work_item_id,
                        "repository": i.repository,
                        "issue_number": i.number,
                        "issue_id": i.issue_id,
                        "node_id": i.node_id,
                        "state": "linked",
                        "content_hash": i.content_hash,
                        "remote_updated_at": i.remote_updated_at,
                        "synced_at": now,
                        "created_at": now,
                    }
                    for i in issues
                ],
            )
            bump_revision(conn)

    def update_hashes(self, rows: Sequence[tuple[int, str, datetime | None]]) -> None:
        """``(work_item_id, content_hash, remote_updated_at)`` after GitHub confirmed a write."""
        if not rows:
            return
        now = utcnow()
        stmt = (
            update(LINKS)
            .where(LINKS.c.work_item_id == bindparam("wid"))
            .values(content_hash=bindparam("hash"), remote_updated_at=bindparam("updated"), synced_at=now)
        )
        with connect(self.engine, readonly=False) as conn:
            conn.execute(stmt, [{"wid": w, "hash": h, "updated": u} for w, h, u in rows])
            bump_revision(conn)

    # -- labels, pages, watermark ----------------------------------------------------------------
    def labels(self, repository: str) -> dict[str, str]:
        """Cached label node ids by lower-case name."""
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(LABELS.c.name, LABELS.c.node_id).where(LABELS.c.repository == repository)
            ).all()
        return {name.lower(): node_id for name, node_id in rows if node_id}

    def save_labels(self, repository: str, labels: dict[str, str]) -> None:
        """Remember ``name -> node_id`` (replacing rows of the same names)."""
        if not labels:
            return
        with connect(self.engine, readonly=False) as conn:
            conn.execute(
                delete(LABELS).where(and_(LABELS.c.repository == repository, LABELS.c.name.in_(list(labels))))
            )
            conn.execute(
                insert(LABELS),
                [{"repository": repository, "name": n, "node_id": i} for n, i in labels.items()],
            )
            bump_revision(conn)

    def forget_labels(self, repository: str, names: Iterable[str]) -> None:
        """Drop cached labels (lower-case names) whose node ids GitHub no longer resolves."""
        lowered = {n.lower() for n in names}
        if not lowered:
            return
        with connect(self.engine, readonly=False) as conn:
            rows = conn.execute(select(LABELS.c.name).where(LABELS.c.repository == repository)).scalars()
            doomed = [n for n in rows if n.lower() in lowered]
            if doomed:
                conn.execute(
                    delete(LABELS).where(and_(LABELS.c.repository == repository, LABELS.c.name.in_(doomed)))
                )
                bump_revision(conn)

    def unlink(self, work_item_ids: Iterable[int]) -> None:
        """Forget the links of items whose issue is gone (they are created again)."""
        ids = list(work_item_ids)
        if not ids:
            return
        with connect(self.engine, readonly=False) as conn:
            conn.execute(delete(LINKS).where(LINKS.c.work_item_id.in_(ids)))
            bump_revision(conn)

    def remote_counts(self, repository: str) -> tuple[str | None, str | None] | None:
        """The drift probe's baseline ``(etag, body_hash)`` (kept as the ``probe:`` page row)."""
        found = self.pages(repository, PROBE_KEY).get(PROBE_KEY)
        return found

    def save_remote_counts(self, repository: str, etag: str, body: str) -> None:
        """Keep the drift probe's baseline (``RemoteCounts.pack``) for the next run to compare with."""
        self.save_pages(repository, {PROBE_KEY: (etag, body)})

    def pages(self, repository: str, prefix: str) -> dict[str, tuple[str | None, str | None]]:
        """Stored ``page_key -> (etag, body_hash)`` of one listing."""
        with connect(self.engine) as conn:
            rows = conn.execute(
                select(PAGES.c.page_key, PAGES.c.etag, PAGES.c.body_hash).where(
                    and_(
                        PAGES.c.repository == repository, PAGES.c.page_key.startswith(prefix, autoescape=True)
                    )
                )
            ).all()
        return {key: (etag, body) for key, etag, body in rows}

    def save_pages(
        self, repository: str, pages: dict[str, tuple[str | None, str]], *, replace_prefix: str | None = None
    ) -> None:
        """Store page ETags; ``replace_prefix`` first drops the other pages of that listing family."""
        now = utcnow()
        with connect(self.engine, readonly=False) as conn:
            if replace_prefix is not None:
                conn.execute(
                    delete(PAGES).where(
                        and_(
                            PAGES.c.repository == repository,
                            PAGES.c.page_key.startswith(replace_prefix, autoescape=True),
                        )
                    )
                )
            elif pages:
                conn.execute(
                    delete(PAGES).where(
                        and_(PAGES.c.repository == repository, PAGES.c.page_key.in_(list(pages)))
                    )
                )
            if pages:
                conn.execute(
                    insert(PAGES),
                    [
                        {
                            "repository": repository,
                            "page_key": k,
                            "etag": e,
                            "body_hash": b,
                            "fetched_at": now,
                        }
                        for k, (e, b) in pages.items()
                    ],
                )
            bump_revision(conn)

    def watermark(self, repository: str) -> datetime | None:
        """The remote ``updated_at`` this repository was last read up to (None: never read)."""
        with connect(self.engine) as conn:
            value: datetime | None = conn.execute(
                select(STATE.c.pulled_until).where(STATE.c.repository == repository)
            ).scalar()
        return value

    def save_watermark(self, repository: str, pulled_until: datetime | None, *, pushed: bool) -> None:
        """Record how far the remote was read (and, when ``pushed``, that a push finished now)."""
        now = utcnow()
        with connect(self.engine, readonly=False) as conn:
            found = conn.execute(select(STATE.c.pushed_at).where(STATE.c.repository == repository)).first()
            values: dict[str, Any] = {"pulled_until": pulled_until}
            if pushed:
                values["pushed_at"] = now
            if found is None:
                conn.execute(insert(STATE).values(repository=repository, **values))
            else:
                conn.execute(update(STATE).where(STATE.c.repository == repository).values(**values))
            bump_revision(conn)

    # -- pulled changes --------------------------------------------------------------------------
    def apply_item_changes(
        self, changes: Sequence[tuple[str, ItemChange]], *, clock: Clock = SYSTEM_CLOCK
    ) -> dict[str, str]:
        """Write pulled fields through ``ailab.queries.writes`` (the dashboard's path: the same
        validation, data revision and concurrency-safe tag upsert), in one transaction.

        Takes ``(key, change)`` pairs; each item is its own savepoint, so one that the
        validation refuses is left as it was and returned as ``key -> why``.
        """
        rejected: dict[str, str] = {}
        if not changes:
            return rejected
        with connect(self.engine, readonly=False) as conn:
            for key, change in changes:
                try:
                    update_work_item(conn, change.work_item_id, change.patch(), clock=clock)
                except (ValidationError, NotFoundError) as err:
                    rejected[key] = f"its change from GitHub was not applied: {err}"
        return rejected
