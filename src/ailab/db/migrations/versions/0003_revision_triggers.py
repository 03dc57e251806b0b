"""data revision kept by the database

Revision ID: 0003
Revises: 0004 (the head in main when it landed)
Create Date: 2026-12-04

Triggers bump ``data_revision`` on any change to the tables the dashboard summary is made of,
whatever wrote it; on Postgres a bump also sends ``NOTIFY ailab_data_revision`` at commit. See
``ailab.db.revision``.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from ailab.db import revision as data_revision

revision: str = "0003"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    data_revision.create_revision_triggers(op.get_bind())


def downgrade() -> None:
    data_revision.drop_revision_triggers(op.get_bind())
