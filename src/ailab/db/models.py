"""The relational schema (SQLAlchemy 2.0 typed declarative).

What the old system kept in JSON columns is relational here: tags (``tags`` + link tables with
the reverse index), dependencies (``work_item_dependencies``, both directions indexed), and
acceptance criteria and blockers as ordered child rows. Leftover legacy attributes that nothing
queries (a project's team, an idea's open questions, ...) live in ``extra``.

Timestamps are naive UTC datetimes. Indexes match the queries in ``ailab.queries``; tests check
them with EXPLAIN.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from ailab.vocab import PRIORITIES, STATUSES, check_priority, check_status

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime()}  # noqa: RUF012


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), default="active")
    priority: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    visibility: Mapped[str | None] = mapped_column(String(32))
    owner: Mapped[str | None] = mapped_column(String(200))
    repository_url: Mapped[str | None] = mapped_column(String(500))
    github_repo_id: Mapped[int | None] = mapped_column(BigInteger)
    vision: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    progress_percentage: Mapped[int | None] = mapped_column(Integer)
    health_status: Mapped[str | None] = mapped_column(String(32))
    start_date: Mapped[datetime | None]
    target_date: Mapped[datetime | None]
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Milestone(Base):
    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    status: Mapped[str | None] = mapped_column(String(32))
    due_date: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    progress_percentage: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Work items with this tag: kept by triggers (ailab.db.derived), never written by the app.
    item_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WorkItemTag(Base):
    __tablename__ = "work_item_tags"
    # A tag's items newest first, in list-page order: any tag's first page is one index range.
    __table_args__ = (Index("ix_work_item_tags_tag_created", "tag_id", "item_created_at", "work_item_id"),)

    work_item_id: Mapped[int] = mapped_column(
        ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    # A copy of work_items.created_at, filled and kept by triggers (ailab.db.derived).
    item_created_at: Mapped[datetime | None]


class IdeaTag(Base):
    __tablename__ = "idea_tags"
    __table_args__ = (Index("ix_idea_tags_tag_idea", "tag_id", "idea_id"),)

    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class WorkItemDependency(Base):
    """``work_item_id`` depends on (is blocked by) ``depends_on_id``."""

    __tablename__ = "work_item_dependencies"
    __table_args__ = (
        CheckConstraint("work_item_id <> depends_on_id", name="no_self_dependency"),
        # "What does this block": dependants of an item.
        Index("ix_work_item_dependencies_depends_on", "depends_on_id", "work_item_id"),
    )

    work_item_id: Mapped[int] = mapped_column(
        ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True
    )
    depends_on_id: Mapped[int] = mapped_column(
        ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True
    )


class WorkItem(Base):
    __tablename__ = "work_items"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_vocabulary"),
        CheckConstraint(_in("priority", PRIORITIES), name="priority_vocabulary"),
        # Filtered, newest-first pages: status (+priority) then keyset on (created_at, id).
        Index("ix_work_items_status_priority_created", "status", "priority", "created_at", "id"),
        Index("ix_work_items_status_created", "status", "created_at", "id"),
        Index("ix_work_items_priority_created", "priority", "created_at", "id"),
        Index("ix_work_items_project_status", "project_id", "status"),
        Index("ix_work_items_created", "created_at", "id"),
        Index("ix_work_items_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="todo")
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    type: Mapped[str] = mapped_column(String(32), default="task", index=True)
    issue_type: Mapped[str | None] = mapped_column(String(32))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    milestone_id: Mapped[int | None] = mapped_column(
        ForeignKey("milestones.id", ondelete="SET NULL"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_items.id", ondelete="SET NULL"), index=True
    )
    assignee: Mapped[str | None] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(String(200))
    due_date: Mapped[datetime | None]
    estimated_hours: Mapped[float | None] = mapped_column(Float)
    actual_hours: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
    file_path: Mapped[str | None] = mapped_column(String(500))
    repository_url: Mapped[str | None] = mapped_column(String(500))
    is_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Dependencies that are still open: kept by triggers (ailab.db.derived), never written by the app.
    open_dependencies: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    tags: Mapped[list[Tag]] = relationship(secondary="work_item_tags", order_by="Tag.name")
    criteria: Mapped[list[AcceptanceCriterion]] = relationship(
        order_by="AcceptanceCriterion.position", cascade="all, delete-orphan"
    )
    blockers: Mapped[list[Blocker]] = relationship(order_by="Blocker.position", cascade="all, delete-orphan")
    depends_on: Mapped[list[WorkItem]] = relationship(
        secondary="work_item_dependencies",
        primaryjoin="WorkItem.id == WorkItemDependency.work_item_id",
        secondaryjoin="WorkItem.id == WorkItemDependency.depends_on_id",
        order_by="WorkItem.id",
    )

    @validates("status")
    def _check_status(self, _key: str, value: str) -> str:
        return check_status(value)

    @validates("priority")
    def _check_priority(self, _key: str, value: str) -> str:
        return check_priority(value)


class AcceptanceCriterion(Base):
    __tablename__ = "acceptance_criteria"
    __table_args__ = (UniqueConstraint("work_item_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    done: Mapped[bool] = mapped_column(Boolean, default=False)


class Blocker(Base):
    __tablename__ = "blockers"
    __table_args__ = (UniqueConstraint("work_item_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class Idea(Base):
    __tablename__ = "ideas"
    __table_args__ = (Index("ix_ideas_status_priority", "status", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), default="backlog")
    priority: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    estimated_effort: Mapped[str | None] = mapped_column(String(100))
    author: Mapped[str | None] = mapped_column(String(200))
    target_audience: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    tags: Mapped[list[Tag]] = relationship(secondary="idea_tags", order_by="Tag.name")


class GitHubLink(Base):
    """Which GitHub issue a work item (or idea) is. Issue numbers are unique per repository only.

    A row with ``state='pending'`` and no number is a create that was sent (or about to be) but
    not confirmed: the sync looks for the item's marker before it ever sends it again.
    """

    __tablename__ = "github_links"
    __table_args__ = (
        UniqueConstraint("repository", "issue_number"),
        CheckConstraint("(work_item_id IS NULL) <> (idea_id IS NULL)", name="one_owner"),
        CheckConstraint("state IN ('pending', 'linked')", name="state_vocabulary"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_items.id", ondelete="CASCADE"), unique=True
    )
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), unique=True)
    repository: Mapped[str] = mapped_column(String(200))
    issue_number: Mapped[int | None] = mapped_column(Integer)
    issue_id: Mapped[int | None] = mapped_column(BigInteger)
    node_id: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="linked")
    content_hash: Mapped[str | None] = mapped_column(String(64))
    remote_updated_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GitHubPage(Base):
    """The ETag of each page of remote issues we read, so an unchanged page costs a 304."""

    __tablename__ = "github_pages"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    page_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(200))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class GitHubLabel(Base):
    __tablename__ = "github_labels"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    node_id: Mapped[str | None] = mapped_column(String(100))


class GitHubSyncState(Base):
    """Per repository: up to when remote changes were pulled (the next ``since``)."""

    __tablename__ = "github_sync_state"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    pulled_until: Mapped[datetime | None]
    pushed_at: Mapped[datetime | None]


class GitHubWebhookDelivery(Base):
    """A webhook delivery, recorded before it is acknowledged (unique by GitHub's GUID, so a
    replay is recognised) and applied after: ``pending`` until then, ``applied``, ``stale``
    (older than what we hold), ``deferred`` (a tie left to the next poll), ``ignored`` (not
    tracked here) or ``failed`` (with the reason)."""

    __tablename__ = "github_webhook_deliveries"
    __table_args__ = (
        Index("ix_github_webhook_deliveries_status_id", "status", "id"),
        Index("ix_github_webhook_deliveries_issue", "repository", "issue_number", "remote_updated_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    guid: Mapped[str] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    repository: Mapped[str | None] = mapped_column(String(200))
    issue_number: Mapped[int | None]
    remote_updated_at: Mapped[datetime | None]
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]


class GitHubWatchLock(Base):
    """``ailab sync --watch`` holds one row per repository: one watcher at a time, and it says who."""

    __tablename__ = "github_watch_locks"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class GitHubSyncStatus(Base):
    """What the watcher last did per repository, for ``/api/sync/status`` and the dashboard."""

    __tablename__ = "github_sync_status"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_push_at: Mapped[datetime | None]
    last_pull_at: Mapped[datetime | None]
    last_poll_at: Mapped[datetime | None]
    pending_local: Mapped[int | None]
    rate_remaining: Mapped[int | None]
    rate_limit: Mapped[int | None]
    rate_reset_at: Mapped[datetime | None]
    needs_full: Mapped[bool] = mapped_column(Boolean, default=False)
    failures: Mapped[str | None] = mapped_column(Text)  # JSON: [{"item": key, "reason": why}, ...]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UnresolvedRef(Base):
    """A reference to a row that does not exist (yet): kept, not lost, and resolved later."""

    __tablename__ = "unresolved_refs"
    __table_args__ = (UniqueConstraint("from_table", "from_key", "field", "to_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    from_table: Mapped[str] = mapped_column(String(64))
    from_key: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    to_table: Mapped[str] = mapped_column(String(64))
    to_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LegacyRow(Base):
    """A hash of each imported legacy row, so a re-import touches only rows that changed."""

    __tablename__ = "legacy_rows"

    source_table: Mapped[str] = mapped_column(String(64), primary_key=True)
    legacy_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    row_hash: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The legacy file the row came from (absolute path); None for rows imported before 0004.
    source_path: Mapped[str | None] = mapped_column(String(1000))


class DataRevision(Base):
    """One counter bumped by every write path: a cheap change check for caches."""

    __tablename__ = "data_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


class SummaryCount(Base):
    """The dashboard's counts, kept exact by triggers (``ailab.db.derived``): items per ``status``,
    ``priority`` and ``week`` (Monday, ``YYYY-MM-DD``), and the ``blocked`` count (key ``''``)."""

    __tablename__ = "summary_counts"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
