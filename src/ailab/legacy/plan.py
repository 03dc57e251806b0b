"""What an import will write, decided before anything is written.

``EntityPlan`` is one source row mapped onto the new schema (its column values, the rows it
refers to, its child rows and GitHub link); ``MapContext`` is what the mappers need to know about
the rest of the source and about the target. The row hash in each plan is what ``legacy_rows``
keeps, so a later run can tell a changed source row from an unchanged one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ailab.legacy.report import ImportReport
from ailab.legacy.target import TargetState

# Part of every row hash: bump it when the mapping changes, so a re-run rewrites every row.
MAPPING_VERSION = "legacy-map-1"


@dataclass(slots=True)
class GitHubPlan:
    """The GitHub issue a source row names (repository and number), and when it was last synced."""

    repository: str
    issue_number: int
    synced_at: datetime | None = None


@dataclass(slots=True)
class EntityPlan:
    """One source row, mapped. ``values`` are target columns except ``id`` and foreign keys."""

    table: str  # target table
    key: str
    source_table: str
    row_hash: str
    values: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)  # FK column -> key of an existing row
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)  # (field, to_table, to_key)
    tags: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    criteria: list[tuple[str, bool]] = field(default_factory=list)
    blockers: list[tuple[str, bool]] = field(default_factory=list)
    github: GitHubPlan | None = None


@dataclass
class Plan:
    """Every mapped row, per target table, in source order."""

    entities: dict[str, list[EntityPlan]]
    report: ImportReport

    def rows(self, table: str) -> list[EntityPlan]:
        """The planned rows of ``table`` (empty when the source has none)."""
        return self.entities.get(table, [])


@dataclass
class MapContext:
    """What the mappers share while planning: the report, the target's state and the source's keys."""

    report: ImportReport
    state: TargetState
    generation: int
    now: datetime
    source_keys: dict[str, set[str]] = field(default_factory=dict)
    source_project_repos: dict[str, str | None] = field(default_factory=dict)
    # (repository, number) -> owner (table, key): links already taken, in the target or this run.
    github_claims: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)

    def exists(self, table: str, key: str) -> bool:
        """True when row ``key`` of ``table`` is in the source or already in the target."""
        return key in self.source_keys.get(table, ()) or key in self.state.ids.get(table, {})

    def project_repository(self, key: str | None) -> str | None:
        """The repository URL of project ``key``, from the source, else from the target."""
        if key is None:
            return None
        if key in self.source_project_repos:
            return self.source_project_repos[key]
        return self.state.project_repos.get(key)

    def claim_github(self, repository: str, number: int, owner: tuple[str, str]) -> tuple[str, str] | None:
        """Take ``(repository, number)`` for ``owner``; returns the other owner if already taken."""
        holder = self.github_claims.setdefault((repository, number), owner)
        return None if holder == owner else holder


def row_hash(*parts: Any) -> str:
    """A stable hash of a source row and whatever else its mapping depends on."""
    payload = orjson.dumps([MAPPING_VERSION, *parts], default=_hashable, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def _hashable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return repr(value)
