"""positions from 1 everywhere; legacy rows remember their source file

Revision ID: 0004
Revises: 0005 (the newest head in main when 0004 merged; 0003 had not landed)
Create Date: 2026-12-04

* Acceptance criteria and blockers are numbered from 1, as the API writes them; the legacy import
  and the demo seed wrote them from 0. Lists that start at 0 move up by one (in two steps, so the
  per-item unique position never collides midway).
* ``legacy_rows.source_path``: the legacy file each row was imported from, so importing a
  *different* file whose ids overlap is reported and refused without ``--replace``. Rows imported
  before this revision have none (their source is unknown, and is not treated as different).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBERED = ("acceptance_criteria", "blockers")


def _shift(table: str, zero_based: bool) -> None:
    # Items whose list starts at 0 (upgrade) or, going back, every item (downgrade).
    owners = (
        f"work_item_id IN (SELECT work_item_id FROM {table} GROUP BY work_item_id HAVING MIN(position) = 0)"
        if zero_based
        else "position > 0"
    )
    step = "+ 1" if zero_based else "- 1"
    op.execute(f"UPDATE {table} SET position = -(position {step}) - 1 WHERE {owners}")
    op.execute(f"UPDATE {table} SET position = -(position + 1) WHERE position < 0")


def upgrade() -> None:
    for table in NUMBERED:
        _shift(table, zero_based=True)
    with op.batch_alter_table("legacy_rows") as batch:
        batch.add_column(sa.Column("source_path", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("legacy_rows") as batch:
        batch.drop_column("source_path")
    for table in NUMBERED:
        _shift(table, zero_based=False)
