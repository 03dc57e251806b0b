"""Request bodies of the write endpoints (for OpenAPI and a first type check).

Deliberately lenient: vocabularies, references, duplicates and cycles are checked by
``ailab.queries`` (one place, same messages for every caller). Unknown fields are rejected.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CriterionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    done: bool = False


class BlockerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    resolved: bool = False


class WorkItemPatch(BaseModel):
    """Fields to change; list fields replace the whole list."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=500)
    description: str | None = None
    status: str | None = Field(
        None, examples=["todo", "in_progress", "review", "blocked", "done", "cancelled"]
    )
    priority: str | None = Field(None, examples=["low", "medium", "high", "critical"])
    type: str | None = Field(None, max_length=32)
    issue_type: str | None = None
    project: str | None = Field(None, description="Project key.")
    parent: int | str | None = Field(None, description="Parent work item id or key.")
    assignee: str | None = None
    author: str | None = None
    due_date: datetime | None = None
    estimated_hours: float | None = None
    actual_hours: float | None = None
    notes: str | None = None
    file_path: str | None = None
    repository_url: str | None = None
    is_draft: bool | None = None
    archived: bool | None = None
    tags: list[str] | None = Field(None, description="Tag names; created when new. Each at most once.")
    depends_on: list[int | str] | None = Field(None, description="Ids or keys of items this one waits for.")
    criteria: list[str | CriterionIn] | None = None
    blockers: list[str | BlockerIn] | None = None


class WorkItemCreate(WorkItemPatch):
    title: str = Field(..., min_length=1, max_length=500)
    key: str | None = Field(None, max_length=64, description="Default: WI-<id, 6 digits>.")
