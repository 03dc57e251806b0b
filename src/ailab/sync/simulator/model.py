"""The simulated remote's objects: repositories, issues and labels, their IDs and timestamps.

Plain slotted classes (no validation here: ``World`` in ``state.py`` changes them consistently).
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime
from typing import Any

from ailab.errors import GitHubError


class SimError(GitHubError):
    """The simulated GitHub refuses a request (unknown issue, invalid field, ...).

    ``kind`` is one of ``not_found`` (404), ``gone`` (410), ``moved`` (301 to ``location``, the
    API path of a transferred issue), ``invalid`` (422 with ``errors[]``), ``invalid_simple``
    (422, simple body) or ``bad_request`` (400).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        resource: str = "Issue",
        field: str | None = None,
        code: str = "invalid",
        location: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.location = location
        self.message = message
        self.resource = resource
        self.field = field
        self.code = code


def node_id(type_name: str, db_id: int) -> str:
    """GitHub's legacy global ID: base64 of ``0<len>:<Type><id>`` (``MDU6SXNzdWUx`` = Issue 1)."""
    return base64.b64encode(f"0{len(type_name)}:{type_name}{db_id}".encode()).decode()


def parse_node_id(value: str) -> tuple[str, int] | None:
    """``(type, id)`` for a node ID made by ``node_id``, else ``None``."""
    try:
        raw = base64.b64decode(value.encode(), validate=True).decode()
        prefix, rest = raw.split(":", 1)
        length = int(prefix)
        type_name, digits = rest[:length], rest[length:]
        return type_name, int(digits)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def iso(ts: int | None) -> str | None:
    """A Unix timestamp in GitHub's ISO 8601 form (None stays None)."""
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_iso(value: str) -> int:
    """Seconds since the epoch for an ISO 8601 time (``Z`` or an offset; naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise SimError("invalid", f"{value!r} is not an ISO 8601 time (YYYY-MM-DDTHH:MM:SSZ).") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


class Label:
    """A repository label, with its REST JSON cached on it."""

    __slots__ = ("color", "created_ts", "description", "id", "json", "name", "node_id", "repo")

    def __init__(self, repo: Repo, db_id: int, name: str, color: str, description: str | None, ts: int):
        self.repo = repo
        self.id = db_id
        self.node_id = node_id("Label", db_id)
        self.name = name
        self.color = color
        self.description = description
        self.created_ts = ts
        self.json: dict[str, Any] | None = None  # REST shape, filled by rest_shapes


class Issue:
    """An issue as GitHub keeps it: fields, labels, blocked-by/blocking edges, sub-issues, cached REST bytes."""

    __slots__ = (
        "blocked_by",
        "blocking",
        "body",
        "closed_ts",
        "created_ts",
        "duplicate_of",
        "id",
        "labels",
        "node_id",
        "number",
        "parent",
        "repo",
        "rest_bytes",
        "state",
        "state_reason",
        "sub_issues",
        "title",
        "updated_ts",
    )

    def __init__(self, repo: Repo, db_id: int, number: int, title: str, body: str | None, ts: int):
        self.repo = repo
        self.id = db_id
        self.node_id = node_id("Issue", db_id)
        self.number = number
        self.title = title
        self.body = body
        self.state = "open"
        self.state_reason: str | None = None
        self.labels: dict[int, Label] = {}
        self.created_ts = ts
        self.updated_ts = ts
        self.closed_ts: int | None = None
        self.blocked_by: dict[int, Issue] = {}
        self.blocking: dict[int, Issue] = {}
        self.parent: Issue | None = None
        self.sub_issues: list[Issue] = []
        self.duplicate_of: Issue | None = None
        self.rest_bytes: bytes | None = None  # cached REST JSON, dropped on every change

    def __repr__(self) -> str:
        return f"<Issue {self.repo.full_name}#{self.number} {self.state} {self.title!r}>"


class Repo:
    """A repository: its issues and labels, and a version that invalidates cached list views on change."""

    __slots__ = (
        "full_name",
        "gone",
        "has_issues",
        "id",
        "issues",
        "labels",
        "moved",
        "name",
        "next_number",
        "node_id",
        "owner",
        "version",
        "views",
    )

    def __init__(self, db_id: int, owner: str, name: str, has_issues: bool):
        self.id = db_id
        self.node_id = node_id("Repository", db_id)
        self.owner = owner
        self.name = name
        self.full_name = f"{owner}/{name}"
        self.has_issues = has_issues
        self.issues: dict[int, Issue] = {}  # number -> issue, in creation order
        self.labels: dict[str, Label] = {}  # lower-case name -> label, in creation order
        self.next_number = 1
        self.gone: set[int] = set()  # numbers of deleted issues: 410 Gone
        self.moved: dict[int, Issue] = {}  # number -> the issue it was transferred to: 301
        self.version = 0  # bumped on every change; keys list caches
        self.views: dict[tuple[Any, ...], Any] = {}

    def changed(self) -> None:
        """Note a change to any issue or label: bump the version and drop the cached list views."""
        self.version += 1
        if self.views:
            self.views.clear()
