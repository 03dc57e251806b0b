"""webhook deliveries, the watch lock and the sync status

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-04

``github_webhook_deliveries`` records each GitHub delivery (unique by its GUID) before it is
acknowledged and applied; ``github_watch_locks`` lets one ``ailab sync --watch`` per repository
run; ``github_sync_status`` is what the watcher last did, shown by ``/api/sync/status``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "github_webhook_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("guid", sa.String(length=100), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("repository", sa.String(length=200), nullable=True),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("remote_updated_at", sa.DateTime(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_github_webhook_deliveries")),
        sa.UniqueConstraint("guid", name=op.f("uq_github_webhook_deliveries_guid")),
    )
    op.create_index(
        "ix_github_webhook_deliveries_status_id", "github_webhook_deliveries", ["status", "id"], unique=False
    )
    op.create_index(
        "ix_github_webhook_deliveries_issue",
        "github_webhook_deliveries",
        ["repository", "issue_number", "remote_updated_at"],
        unique=False,
    )
    op.create_table(
        "github_watch_locks",
        sa.Column("repository", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=300), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("repository", name=op.f("pk_github_watch_locks")),
    )
    op.create_table(
        "github_sync_status",
        sa.Column("repository", sa.String(length=200), nullable=False),
        sa.Column("last_push_at", sa.DateTime(), nullable=True),
        sa.Column("last_pull_at", sa.DateTime(), nullable=True),
        sa.Column("last_poll_at", sa.DateTime(), nullable=True),
        sa.Column("pending_local", sa.Integer(), nullable=True),
        sa.Column("rate_remaining", sa.Integer(), nullable=True),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("rate_reset_at", sa.DateTime(), nullable=True),
        sa.Column("needs_full", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("repository", name=op.f("pk_github_sync_status")),
    )


def downgrade() -> None:
    op.drop_table("github_sync_status")
    op.drop_table("github_watch_locks")
    op.drop_index("ix_github_webhook_deliveries_issue", table_name="github_webhook_deliveries")
    op.drop_index("ix_github_webhook_deliveries_status_id", table_name="github_webhook_deliveries")
    op.drop_table("github_webhook_deliveries")
