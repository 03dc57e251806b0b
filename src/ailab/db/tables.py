"""The relational schema as SQLAlchemy Core tables: what every query, migration check and
trigger is written against.

What the old system kept in JSON columns is relational here: tags (``tags`` + link tables with
the reverse index), dependencies (``work_item_dependencies``, both directions indexed), and
acceptance criteria and blockers as ordered child rows. Leftover legacy attributes that nothing
queries (a project's team, an idea's open questions, ...) live in ``extra``.

Timestamps are naive UTC datetimes. Indexes match the queries in ``ailab.queries``; tests check
them with EXPLAIN.

Core only, no ORM: the dashboard server imports this and never the ORM, which with the mapped
classes would add ~8 MiB to every server process (measured). ``ailab.db.models`` maps ORM
classes onto these tables for the code that wants objects (sync, legacy import).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ailab.vocab import PRIORITIES, STATUSES

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """The current UTC time without ``tzinfo``: what the ``DateTime`` columns hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("status", String(32), nullable=False, default="active"),
    Column("priority", String(16)),
    Column("category", String(64)),
    Column("visibility", String(32)),
    Column("owner", String(200)),
    Column("repository_url", String(500)),
    Column("github_repo_id", BigInteger),
    Column("vision", Text),
    Column("notes", Text),
    Column("progress_percentage", Integer),
    Column("health_status", String(32)),
    Column("start_date", DateTime),
    Column("target_date", DateTime),
    Column("extra", JSON),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("updated_at", DateTime, nullable=False, default=utcnow, onupdate=utcnow),
)

milestones = Table(
    "milestones",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("title", String(300), nullable=False),
    Column("description", Text),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="SET NULL"), index=True),
    Column("status", String(32)),
    Column("due_date", DateTime),
    Column("completed_at", DateTime),
    Column("progress_percentage", Integer),
    Column("extra", JSON),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("updated_at", DateTime, nullable=False, default=utcnow, onupdate=utcnow),
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    # Work items with this tag: kept by triggers (ailab.db.derived), never written by the app.
    Column("item_count", Integer, nullable=False, default=0, server_default="0"),
)

work_item_tags = Table(
    "work_item_tags",
    metadata,
    Column("work_item_id", Integer, ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # A copy of work_items.created_at, filled and kept by triggers (ailab.db.derived).
    Column("item_created_at", DateTime),
    # A tag's items newest first, in list-page order: any tag's first page is one index range.
    Index("ix_work_item_tags_tag_created", "tag_id", "item_created_at", "work_item_id"),
)

idea_tags = Table(
    "idea_tags",
    metadata,
    Column("idea_id", Integer, ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_idea_tags_tag_idea", "tag_id", "idea_id"),
)

# ``work_item_id`` depends on (is blocked by) ``depends_on_id``.
work_item_dependencies = Table(
    "work_item_dependencies",
    metadata,
    Column("work_item_id", Integer, ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True),
    Column("depends_on_id", Integer, ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True),
    CheckConstraint("work_item_id <> depends_on_id", name="no_self_dependency"),
    # "What does this block": dependants of an item.
    Index("ix_work_item_dependencies_depends_on", "depends_on_id", "work_item_id"),
)

work_items = Table(
    "work_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False, default="todo"),
    Column("priority", String(16), nullable=False, default="medium"),
    Column("type", String(32), nullable=False, index=True, default="task"),
    Column("issue_type", String(32)),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="SET NULL")),
    Column("milestone_id", Integer, ForeignKey("milestones.id", ondelete="SET NULL"), index=True),
    Column("parent_id", Integer, ForeignKey("work_items.id", ondelete="SET NULL"), index=True),
    Column("assignee", String(200)),
    Column("author", String(200)),
    Column("due_date", DateTime),
    Column("estimated_hours", Float),
    Column("actual_hours", Float),
    Column("notes", Text),
    Column("file_path", String(500)),
    Column("repository_url", String(500)),
    Column("is_draft", Boolean, nullable=False, default=False),
    Column("archived", Boolean, nullable=False, default=False),
    Column("extra", JSON),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("updated_at", DateTime, nullable=False, default=utcnow, onupdate=utcnow),
    # Dependencies that are still open: kept by triggers (ailab.db.derived), never written by the app.
    Column("open_dependencies", Integer, nullable=False, default=0, server_default="0"),
    CheckConstraint(_in("status", STATUSES), name="status_vocabulary"),
    CheckConstraint(_in("priority", PRIORITIES), name="priority_vocabulary"),
    # Filtered, newest-first pages: status (+priority) then keyset on (created_at, id).
    Index("ix_work_items_created", "created_at", "id"),
    Index("ix_work_items_priority_created", "priority", "created_at", "id"),
    Index("ix_work_items_project_status", "project_id", "status"),
    Index("ix_work_items_status_created", "status", "created_at", "id"),
    Index("ix_work_items_status_priority_created", "status", "priority", "created_at", "id"),
    Index("ix_work_items_updated", "updated_at"),
)

acceptance_criteria = Table(
    "acceptance_criteria",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("work_item_id", Integer, ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    UniqueConstraint("work_item_id", "position"),
)

blockers = Table(
    "blockers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("work_item_id", Integer, ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("resolved", Boolean, nullable=False, default=False),
    UniqueConstraint("work_item_id", "position"),
)

ideas = Table(
    "ideas",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("status", String(32), nullable=False, default="backlog"),
    Column("priority", String(16)),
    Column("category", String(64)),
    Column("estimated_effort", String(100)),
    Column("author", String(200)),
    Column("target_audience", String(200)),
    Column("notes", Text),
    Column("extra", JSON),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("updated_at", DateTime, nullable=False, default=utcnow, onupdate=utcnow),
    Index("ix_ideas_status_priority", "status", "priority"),
)

# Which GitHub issue a work item (or idea) is; issue numbers are unique per repository only. A
# row with ``state='pending'`` and no number is a create that was sent (or about to be) but not
# confirmed: the sync looks for the item's marker before it ever sends it again.
github_links = Table(
    "github_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("work_item_id", Integer, ForeignKey("work_items.id", ondelete="CASCADE"), unique=True),
    Column("idea_id", Integer, ForeignKey("ideas.id", ondelete="CASCADE"), unique=True),
    Column("repository", String(200), nullable=False),
    Column("issue_number", Integer),
    Column("issue_id", BigInteger),
    Column("node_id", String(100)),
    Column("state", String(16), nullable=False, default="linked"),
    Column("content_hash", String(64)),
    Column("remote_updated_at", DateTime),
    Column("synced_at", DateTime),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("repository", "issue_number"),
    CheckConstraint("(work_item_id IS NULL) <> (idea_id IS NULL)", name="one_owner"),
    CheckConstraint("state IN ('pending', 'linked')", name="state_vocabulary"),
)

github_pages = Table(
    "github_pages",
    metadata,
    Column("repository", String(200), primary_key=True),
    Column("page_key", String(300), primary_key=True),
    Column("etag", String(200)),
    Column("body_hash", String(64)),
    Column("fetched_at", DateTime, nullable=False, default=utcnow),
)

github_labels = Table(
    "github_labels",
    metadata,
    Column("repository", String(200), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("node_id", String(100)),
)

github_sync_state = Table(
    "github_sync_state",
    metadata,
    Column("repository", String(200), primary_key=True),
    Column("pulled_until", DateTime),
    Column("pushed_at", DateTime),
)

github_webhook_deliveries = Table(
    "github_webhook_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("guid", String(100), nullable=False, unique=True),
    Column("event", String(64), nullable=False),
    Column("action", String(64)),
    Column("repository", String(200)),
    Column("issue_number", Integer),
    Column("remote_updated_at", DateTime),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("reason", String(500)),
    Column("received_at", DateTime, nullable=False, default=utcnow),
    Column("applied_at", DateTime),
    Index("ix_github_webhook_deliveries_issue", "repository", "issue_number", "remote_updated_at"),
    Index("ix_github_webhook_deliveries_status_id", "status", "id"),
)

github_watch_locks = Table(
    "github_watch_locks",
    metadata,
    Column("repository", String(200), primary_key=True),
    Column("holder", String(300), nullable=False),
    Column("acquired_at", DateTime, nullable=False),
    Column("heartbeat_at", DateTime, nullable=False),
)

github_sync_status = Table(
    "github_sync_status",
    metadata,
    Column("repository", String(200), primary_key=True),
    Column("last_push_at", DateTime),
    Column("last_pull_at", DateTime),
    Column("last_poll_at", DateTime),
    Column("pending_local", Integer),
    Column("rate_remaining", Integer),
    Column("rate_limit", Integer),
    Column("rate_reset_at", DateTime),
    Column("needs_full", Boolean, nullable=False, default=False),
    Column("failures", Text),  # JSON: [{"item": key, "reason": why}, ...]
    Column("updated_at", DateTime, nullable=False, default=utcnow),
)

unresolved_refs = Table(
    "unresolved_refs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("from_table", String(64), nullable=False),
    Column("from_key", String(64), nullable=False),
    Column("field", String(64), nullable=False),
    Column("to_table", String(64), nullable=False),
    Column("to_key", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("from_table", "from_key", "field", "to_key"),
)

legacy_rows = Table(
    "legacy_rows",
    metadata,
    Column("source_table", String(64), primary_key=True),
    Column("legacy_id", String(200), primary_key=True),
    Column("row_hash", String(64), nullable=False),
    Column("imported_at", DateTime, nullable=False, default=utcnow),
    # The legacy file the row came from (absolute path); None for rows imported before 0004.
    Column("source_path", String(1000)),
)

data_revision = Table(
    "data_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", BigInteger, nullable=False, default=0),
)

summary_counts = Table(
    "summary_counts",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("key", String(32), primary_key=True),
    Column("n", BigInteger, nullable=False, default=0),
)


# Plain ``str`` column names, as the declarative classes gave them: Core keeps a name as
# ``quoted_name`` (a ``str`` subclass), and result rows are keyed by these names; orjson, like
# other strict serializers, refuses a ``str`` subclass as a dict key.
for _table in metadata.tables.values():
    for _column in _table.columns:
        _column.name = str(_column.name)
