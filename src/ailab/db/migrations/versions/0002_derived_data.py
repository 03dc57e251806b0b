"""derived data kept by triggers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The dashboard's counts (``summary_counts``, ``tags.item_count``, ``work_items.open_dependencies``)
and the tag index in page order (``work_item_tags.item_created_at``), filled from the existing
rows and then kept exact by triggers: see ``ailab.db.derived``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ailab.db import derived

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "summary_counts",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_summary_counts")),
    )
    # Plain ALTER TABLE ... ADD COLUMN on both databases (no table copy).
    op.add_column("tags", sa.Column("item_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column(
        "work_items", sa.Column("open_dependencies", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("work_item_tags", sa.Column("item_created_at", sa.DateTime(), nullable=True))
    # Filled before the index is built: one sorted build instead of 280k index updates.
    derived.rebuild(op.get_bind())
    with op.batch_alter_table("work_item_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_work_item_tags_tag_item")
        batch_op.create_index(
            "ix_work_item_tags_tag_created", ["tag_id", "item_created_at", "work_item_id"], unique=False
        )
    derived.create_triggers(op.get_bind())


def downgrade() -> None:
    derived.drop_triggers(op.get_bind())
    with op.batch_alter_table("work_item_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_work_item_tags_tag_created")
        batch_op.create_index("ix_work_item_tags_tag_item", ["tag_id", "work_item_id"], unique=False)
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), not a batch copy: copying work_items
    # would drop the old table, and with foreign keys on that cascades to every link and edge.
    op.drop_column("work_item_tags", "item_created_at")
    op.drop_column("work_items", "open_dependencies")
    op.drop_column("tags", "item_count")
    op.drop_table("summary_counts")
