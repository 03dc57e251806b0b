"""ORM classes mapped onto the schema's tables (``ailab.db.tables``), for the code that works
with objects: the GitHub sync, the legacy import, benchmarks. Queries and the dashboard use the
Core tables directly and never import this (nor the ORM).

Each class maps its table's columns as typed attributes and adds relationships and validation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, relationship, validates

from ailab.db import tables
from ailab.vocab import check_priority, check_status


class Base(DeclarativeBase):
    """Declarative base on ``tables.metadata``: the classes map the Core tables, never define their own."""

    metadata = tables.metadata


class Project(Base):
    """A project, which groups milestones and work items."""

    __table__ = tables.projects

    id: Mapped[int]
    key: Mapped[str]
    name: Mapped[str]
    description: Mapped[str]
    status: Mapped[str]
    priority: Mapped[str | None]
    category: Mapped[str | None]
    visibility: Mapped[str | None]
    owner: Mapped[str | None]
    repository_url: Mapped[str | None]
    github_repo_id: Mapped[int | None]
    vision: Mapped[str | None]
    notes: Mapped[str | None]
    progress_percentage: Mapped[int | None]
    health_status: Mapped[str | None]
    start_date: Mapped[datetime | None]
    target_date: Mapped[datetime | None]
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Milestone(Base):
    """A milestone: a due date and progress, within a project or on its own."""

    __table__ = tables.milestones

    id: Mapped[int]
    key: Mapped[str]
    title: Mapped[str]
    description: Mapped[str | None]
    project_id: Mapped[int | None]
    status: Mapped[str | None]
    due_date: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    progress_percentage: Mapped[int | None]
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Tag(Base):
    """A tag name shared by work items and ideas."""

    __table__ = tables.tags

    id: Mapped[int]
    name: Mapped[str]
    # Work items with this tag: kept by triggers (ailab.db.derived), never written by the app.
    item_count: Mapped[int]


class WorkItemTag(Base):
    """A work item's tag (the link table)."""

    __table__ = tables.work_item_tags

    work_item_id: Mapped[int]
    tag_id: Mapped[int]
    # A copy of work_items.created_at, filled and kept by triggers (ailab.db.derived).
    item_created_at: Mapped[datetime | None]


class IdeaTag(Base):
    """An idea's tag (the link table)."""

    __table__ = tables.idea_tags

    idea_id: Mapped[int]
    tag_id: Mapped[int]


class WorkItemDependency(Base):
    """``work_item_id`` depends on (is blocked by) ``depends_on_id``."""

    __table__ = tables.work_item_dependencies

    work_item_id: Mapped[int]
    depends_on_id: Mapped[int]


class WorkItem(Base):
    """A work item, with its tags, acceptance criteria, blockers and dependencies; ``status`` and
    ``priority`` are checked against ``ailab.vocab`` on assignment."""

    __table__ = tables.work_items

    id: Mapped[int]
    key: Mapped[str]
    title: Mapped[str]
    description: Mapped[str]
    status: Mapped[str]
    priority: Mapped[str]
    type: Mapped[str]
    issue_type: Mapped[str | None]
    project_id: Mapped[int | None]
    milestone_id: Mapped[int | None]
    parent_id: Mapped[int | None]
    assignee: Mapped[str | None]
    author: Mapped[str | None]
    due_date: Mapped[datetime | None]
    estimated_hours: Mapped[float | None]
    actual_hours: Mapped[float | None]
    notes: Mapped[str | None]
    file_path: Mapped[str | None]
    repository_url: Mapped[str | None]
    is_draft: Mapped[bool]
    archived: Mapped[bool]
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Dependencies that are still open: kept by triggers (ailab.db.derived), never written by the app.
    open_dependencies: Mapped[int]

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
    """One of a work item's acceptance criteria, in ``position`` order; deleted with the item."""

    __table__ = tables.acceptance_criteria

    id: Mapped[int]
    work_item_id: Mapped[int]
    position: Mapped[int]
    text: Mapped[str]
    done: Mapped[bool]


class Blocker(Base):
    """One of a work item's free-text blockers, in ``position`` order; deleted with the item."""

    __table__ = tables.blockers

    id: Mapped[int]
    work_item_id: Mapped[int]
    position: Mapped[int]
    text: Mapped[str]
    resolved: Mapped[bool]


class Idea(Base):
    """An idea, with its tags."""

    __table__ = tables.ideas

    id: Mapped[int]
    key: Mapped[str]
    title: Mapped[str]
    description: Mapped[str]
    status: Mapped[str]
    priority: Mapped[str | None]
    category: Mapped[str | None]
    estimated_effort: Mapped[str | None]
    author: Mapped[str | None]
    target_audience: Mapped[str | None]
    notes: Mapped[str | None]
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    tags: Mapped[list[Tag]] = relationship(secondary="idea_tags", order_by="Tag.name")


class GitHubLink(Base):
    """Which GitHub issue a work item (or idea) is. Issue numbers are unique per repository only.

    A row with ``state='pending'`` and no number is a create that was sent (or about to be) but
    not confirmed: the sync looks for the item's marker before it ever sends it again.
    """

    __table__ = tables.github_links

    id: Mapped[int]
    work_item_id: Mapped[int | None]
    idea_id: Mapped[int | None]
    repository: Mapped[str]
    issue_number: Mapped[int | None]
    issue_id: Mapped[int | None]
    node_id: Mapped[str | None]
    state: Mapped[str]
    content_hash: Mapped[str | None]
    remote_updated_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class GitHubPage(Base):
    """The ETag of each page of remote issues we read, so an unchanged page costs a 304."""

    __table__ = tables.github_pages

    repository: Mapped[str]
    page_key: Mapped[str]
    etag: Mapped[str | None]
    body_hash: Mapped[str | None]
    fetched_at: Mapped[datetime]


class GitHubLabel(Base):
    """A label known to exist in a GitHub repository, so the sync creates each one once."""

    __table__ = tables.github_labels

    repository: Mapped[str]
    name: Mapped[str]
    node_id: Mapped[str | None]


class GitHubSyncState(Base):
    """Per repository: up to when remote changes were pulled (the next ``since``)."""

    __table__ = tables.github_sync_state

    repository: Mapped[str]
    pulled_until: Mapped[datetime | None]
    pushed_at: Mapped[datetime | None]


class GitHubWebhookDelivery(Base):
    """A webhook delivery, recorded before it is acknowledged (unique by GitHub's GUID, so a
    replay is recognised) and applied after: ``pending`` until then, ``applied``, ``stale``
    (older than what we hold), ``deferred`` (a tie left to the next poll), ``ignored`` (not
    tracked here) or ``failed`` (with the reason)."""

    __table__ = tables.github_webhook_deliveries

    id: Mapped[int]
    guid: Mapped[str]
    event: Mapped[str]
    action: Mapped[str | None]
    repository: Mapped[str | None]
    issue_number: Mapped[int | None]
    remote_updated_at: Mapped[datetime | None]
    payload: Mapped[str]
    status: Mapped[str]
    reason: Mapped[str | None]
    received_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]


class GitHubWatchLock(Base):
    """``ailab sync --watch`` holds one row per repository: one watcher at a time, and it says who."""

    __table__ = tables.github_watch_locks

    repository: Mapped[str]
    holder: Mapped[str]
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class GitHubSyncStatus(Base):
    """What the watcher last did per repository, for ``/api/sync/status`` and the dashboard."""

    __table__ = tables.github_sync_status

    repository: Mapped[str]
    last_push_at: Mapped[datetime | None]
    last_pull_at: Mapped[datetime | None]
    last_poll_at: Mapped[datetime | None]
    pending_local: Mapped[int | None]
    rate_remaining: Mapped[int | None]
    rate_limit: Mapped[int | None]
    rate_reset_at: Mapped[datetime | None]
    needs_full: Mapped[bool]
    failures: Mapped[str | None]
    updated_at: Mapped[datetime]


class UnresolvedRef(Base):
    """A reference to a row that does not exist (yet): kept, not lost, and resolved later."""

    __table__ = tables.unresolved_refs

    id: Mapped[int]
    from_table: Mapped[str]
    from_key: Mapped[str]
    field: Mapped[str]
    to_table: Mapped[str]
    to_key: Mapped[str]
    created_at: Mapped[datetime]


class LegacyRow(Base):
    """A hash of each imported legacy row, so a re-import touches only rows that changed."""

    __table__ = tables.legacy_rows

    source_table: Mapped[str]
    legacy_id: Mapped[str]
    row_hash: Mapped[str]
    imported_at: Mapped[datetime]
    # The legacy file the row came from (absolute path); None for rows imported before 0004.
    source_path: Mapped[str | None]


class DataRevision(Base):
    """One counter bumped by every write path: a cheap change check for caches."""

    __table__ = tables.data_revision

    id: Mapped[int]
    revision: Mapped[int]


class SummaryCount(Base):
    """The dashboard's counts, kept exact by triggers (``ailab.db.derived``): items per ``status``,
    ``priority`` and ``week`` (Monday, ``YYYY-MM-DD``), and the ``blocked`` count (key ``''``)."""

    __table__ = tables.summary_counts

    kind: Mapped[str]
    key: Mapped[str]
    n: Mapped[int]
