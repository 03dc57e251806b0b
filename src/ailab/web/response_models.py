"""What the API answers with: the schema of every 2xx body, for OpenAPI only.

The handlers build plain dicts and render them with orjson (no pydantic per request, on
either lane). These models state what those dicts are; the tests hold both lanes' answers
to this schema (``tests/test_web_contract.py``) and the fuzz test checks every answer it
provokes. ``extra="forbid"``: a field a handler adds without declaring it fails them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ailab.web.schemas import Priority, Status


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListItem(Answer):
    id: int
    key: str
    title: str
    status: Status
    priority: Priority
    type: str
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    project: str | None = Field(description="Project key.")
    tags: list[str]
    depends_on: list[int] = Field(description="Ids of the items this one waits for.")
    blocks: list[int] = Field(description="Ids of the items waiting for this one.")


class WorkItemPage(Answer):
    items: list[ListItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
    limit: int


class ProjectRef(Answer):
    key: str
    name: str


class GitHubLink(Answer):
    repository: str
    issue_number: int | None
    state: str
    synced_at: datetime | None
    url: str | None


class Neighbour(Answer):
    id: int
    key: str
    title: str
    status: Status


class Criterion(Answer):
    position: int
    text: str
    done: bool


class Blocker(Answer):
    position: int
    text: str
    resolved: bool


class WorkItem(Answer):
    id: int
    key: str
    title: str
    description: str
    status: Status
    priority: Priority
    type: str
    issue_type: str | None
    project_id: int | None
    milestone_id: int | None
    parent_id: int | None
    assignee: str | None
    author: str | None
    due_date: datetime | None
    estimated_hours: float | None
    actual_hours: float | None
    notes: str | None
    file_path: str | None
    repository_url: str | None
    is_draft: bool
    archived: bool
    created_at: datetime
    updated_at: datetime
    open_dependencies: int = Field(description="Dependencies not done or cancelled yet.")
    project: ProjectRef | None
    github: GitHubLink | None
    tags: list[str]
    depends_on: list[Neighbour]
    blocks: list[Neighbour]
    criteria: list[Criterion]
    blockers: list[Blocker]


class TransitiveBlocker(Answer):
    id: int
    key: str
    title: str
    status: Status
    priority: Priority
    depth: int = Field(ge=1, description="Fewest dependency hops from the item.")


class Blockers(Answer):
    item: str = Field(description="The id or key as requested.")
    total: int
    truncated: bool = Field(description="The walk stopped early: farther blockers may be missing.")
    blockers: list[TransitiveBlocker]


class TagCount(Answer):
    name: str
    count: int


class Weekly(Answer):
    weeks: list[date] = Field(description="Mondays of the 52 weeks up to the newest item's week.")
    counts: list[int]
    anchor: str


class Summary(Answer):
    total: int
    open: int
    closed: int
    by_status: dict[Status, int]
    by_priority: dict[Priority, int]
    blocked: int = Field(description="Open items waiting for an open dependency.")
    top_tags: list[TagCount]
    created_per_week: Weekly
    revision: int = Field(description="The data revision the summary was computed at.")
    generated_at: datetime


class Health(Answer):
    """``/readyz`` (and its alias ``/healthz``): the database answers and its schema is at head."""

    status: Literal["ok"]
    database: str = Field(description="`sqlite` or `postgresql`.")
    revision: int | None = Field(description="The data revision (None while every connection is busy).")
    schema_revision: str | None = Field(None, description="The database's Alembic revision.")
    pool: Literal["available", "busy"] = Field(
        "available", description="`busy`: every connection is in use, so the database is answering."
    )


class Liveness(Answer):
    """``/livez``: the process runs and its event loop answers; nothing else is checked."""

    status: Literal["alive"]
