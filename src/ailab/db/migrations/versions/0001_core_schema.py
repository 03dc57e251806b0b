"""core schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28

The relational schema that replaces the old JSON columns (see ailab.db.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_revision")),
    )
    op.execute("INSERT INTO data_revision (id, revision) VALUES (1, 0)")
    op.create_table(
        "github_labels",
        sa.Column("repository", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("repository", "name", name=op.f("pk_github_labels")),
    )
    op.create_table(
        "github_pages",
        sa.Column("repository", sa.String(length=200), nullable=False),
        sa.Column("page_key", sa.String(length=300), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("body_hash", sa.String(length=64), nullable=True),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("repository", "page_key", name=op.f("pk_github_pages")),
    )
    op.create_table(
        "github_sync_state",
        sa.Column("repository", sa.String(length=200), nullable=False),
        sa.Column("pulled_until", sa.DateTime(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("repository", name=op.f("pk_github_sync_state")),
    )
    op.create_table(
        "ideas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("estimated_effort", sa.String(length=100), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("target_audience", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ideas")),
        sa.UniqueConstraint("key", name=op.f("uq_ideas_key")),
    )
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.create_index("ix_ideas_status_priority", ["status", "priority"], unique=False)

    op.create_table(
        "legacy_rows",
        sa.Column("source_table", sa.String(length=64), nullable=False),
        sa.Column("legacy_id", sa.String(length=200), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source_table", "legacy_id", name=op.f("pk_legacy_rows")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("visibility", sa.String(length=32), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("repository_url", sa.String(length=500), nullable=True),
        sa.Column("github_repo_id", sa.BigInteger(), nullable=True),
        sa.Column("vision", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("progress_percentage", sa.Integer(), nullable=True),
        sa.Column("health_status", sa.String(length=32), nullable=True),
        sa.Column("start_date", sa.DateTime(), nullable=True),
        sa.Column("target_date", sa.DateTime(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("key", name=op.f("uq_projects_key")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "unresolved_refs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_table", sa.String(length=64), nullable=False),
        sa.Column("from_key", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("to_table", sa.String(length=64), nullable=False),
        sa.Column("to_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unresolved_refs")),
        sa.UniqueConstraint(
            "from_table",
            "from_key",
            "field",
            "to_key",
            name=op.f("uq_unresolved_refs_from_table_from_key_field_to_key"),
        ),
    )
    op.create_table(
        "idea_tags",
        sa.Column("idea_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["idea_id"], ["ideas.id"], name=op.f("fk_idea_tags_idea_id_ideas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_idea_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("idea_id", "tag_id", name=op.f("pk_idea_tags")),
    )
    with op.batch_alter_table("idea_tags", schema=None) as batch_op:
        batch_op.create_index("ix_idea_tags_tag_idea", ["tag_id", "idea_id"], unique=False)

    op.create_table(
        "milestones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("due_date", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("progress_percentage", sa.Integer(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_milestones_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestones")),
        sa.UniqueConstraint("key", name=op.f("uq_milestones_key")),
    )
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_milestones_project_id"), ["project_id"], unique=False)

    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("issue_type", sa.String(length=32), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("milestone_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("due_date", sa.DateTime(), nullable=True),
        sa.Column("estimated_hours", sa.Float(), nullable=True),
        sa.Column("actual_hours", sa.Float(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("file_path", sa.String(length=500), nullable=True),
        sa.Column("repository_url", sa.String(length=500), nullable=True),
        sa.Column("is_draft", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "priority IN ('low', 'medium', 'high', 'critical')",
            name=op.f("ck_work_items_priority_vocabulary"),
        ),
        sa.CheckConstraint(
            "status IN ('todo', 'in_progress', 'review', 'blocked', 'done', 'cancelled')",
            name=op.f("ck_work_items_status_vocabulary"),
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"],
            ["milestones.id"],
            name=op.f("fk_work_items_milestone_id_milestones"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["work_items.id"],
            name=op.f("fk_work_items_parent_id_work_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_work_items_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
        sa.UniqueConstraint("key", name=op.f("uq_work_items_key")),
    )
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.create_index("ix_work_items_created", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_items_milestone_id"), ["milestone_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_items_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(
            "ix_work_items_priority_created", ["priority", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_work_items_project_status", ["project_id", "status"], unique=False)
        batch_op.create_index("ix_work_items_status_created", ["status", "created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_work_items_status_priority_created", ["status", "priority", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_work_items_type"), ["type"], unique=False)
        batch_op.create_index("ix_work_items_updated", ["updated_at"], unique=False)

    op.create_table(
        "acceptance_criteria",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_acceptance_criteria_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acceptance_criteria")),
        sa.UniqueConstraint(
            "work_item_id", "position", name=op.f("uq_acceptance_criteria_work_item_id_position")
        ),
    )
    op.create_table(
        "blockers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_blockers_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blockers")),
        sa.UniqueConstraint("work_item_id", "position", name=op.f("uq_blockers_work_item_id_position")),
    )
    op.create_table(
        "github_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_item_id", sa.Integer(), nullable=True),
        sa.Column("idea_id", sa.Integer(), nullable=True),
        sa.Column("repository", sa.String(length=200), nullable=False),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("issue_id", sa.BigInteger(), nullable=True),
        sa.Column("node_id", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("remote_updated_at", sa.DateTime(), nullable=True),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'linked')", name=op.f("ck_github_links_state_vocabulary")),
        sa.CheckConstraint(
            "(work_item_id IS NULL) <> (idea_id IS NULL)", name=op.f("ck_github_links_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["idea_id"], ["ideas.id"], name=op.f("fk_github_links_idea_id_ideas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_github_links_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_github_links")),
        sa.UniqueConstraint("idea_id", name=op.f("uq_github_links_idea_id")),
        sa.UniqueConstraint(
            "repository", "issue_number", name=op.f("uq_github_links_repository_issue_number")
        ),
        sa.UniqueConstraint("work_item_id", name=op.f("uq_github_links_work_item_id")),
    )
    op.create_table(
        "work_item_dependencies",
        sa.Column("work_item_id", sa.Integer(), nullable=False),
        sa.Column("depends_on_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "work_item_id <> depends_on_id", name=op.f("ck_work_item_dependencies_no_self_dependency")
        ),
        sa.ForeignKeyConstraint(
            ["depends_on_id"],
            ["work_items.id"],
            name=op.f("fk_work_item_dependencies_depends_on_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_work_item_dependencies_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_item_id", "depends_on_id", name=op.f("pk_work_item_dependencies")),
    )
    with op.batch_alter_table("work_item_dependencies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_item_dependencies_depends_on", ["depends_on_id", "work_item_id"], unique=False
        )

    op.create_table(
        "work_item_tags",
        sa.Column("work_item_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_work_item_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_work_item_tags_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_item_id", "tag_id", name=op.f("pk_work_item_tags")),
    )
    with op.batch_alter_table("work_item_tags", schema=None) as batch_op:
        batch_op.create_index("ix_work_item_tags_tag_item", ["tag_id", "work_item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("work_item_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_work_item_tags_tag_item")

    op.drop_table("work_item_tags")
    with op.batch_alter_table("work_item_dependencies", schema=None) as batch_op:
        batch_op.drop_index("ix_work_item_dependencies_depends_on")

    op.drop_table("work_item_dependencies")
    op.drop_table("github_links")
    op.drop_table("blockers")
    op.drop_table("acceptance_criteria")
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_index("ix_work_items_updated")
        batch_op.drop_index(batch_op.f("ix_work_items_type"))
        batch_op.drop_index("ix_work_items_status_priority_created")
        batch_op.drop_index("ix_work_items_status_created")
        batch_op.drop_index("ix_work_items_project_status")
        batch_op.drop_index("ix_work_items_priority_created")
        batch_op.drop_index(batch_op.f("ix_work_items_parent_id"))
        batch_op.drop_index(batch_op.f("ix_work_items_milestone_id"))
        batch_op.drop_index("ix_work_items_created")

    op.drop_table("work_items")
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_milestones_project_id"))

    op.drop_table("milestones")
    with op.batch_alter_table("idea_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_idea_tags_tag_idea")

    op.drop_table("idea_tags")
    op.drop_table("unresolved_refs")
    op.drop_table("tags")
    op.drop_table("projects")
    op.drop_table("legacy_rows")
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.drop_index("ix_ideas_status_priority")

    op.drop_table("ideas")
    op.drop_table("github_sync_state")
    op.drop_table("github_pages")
    op.drop_table("github_labels")
    op.drop_table("data_revision")
