"""GraphQL documents for batched writes: several mutations in one request, under aliases.

GitHub runs aliased mutations in order and reports a failed one as an error whose ``path``
names its alias, while the others keep their data; ``Batch`` keeps the alias -> item mapping
so the caller can retry only what failed. Each mutation takes its input as a variable of the
schema's input type (``$a0: UpdateIssueInput!``), so titles and bodies are never spliced into
the query text. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ailab.sync.mapping import IssueFields, group_hashes

ISSUE_RESULT = "issue { id databaseId number updatedAt }"
# (mutation field, input type, selection)
CREATE = ("createIssue", "CreateIssueInput", ISSUE_RESULT)
UPDATE = ("updateIssue", "UpdateIssueInput", "issue { id updatedAt }")
CLOSE = ("closeIssue", "CloseIssueInput", "issue { id updatedAt }")
REOPEN = ("reopenIssue", "ReopenIssueInput", "issue { id updatedAt }")
ADD_EDGE = ("addBlockedBy", "AddBlockedByInput", "issue { id }")
REMOVE_EDGE = ("removeBlockedBy", "RemoveBlockedByInput", "issue { id }")
CREATE_LABEL = ("createLabel", "CreateLabelInput", "label { id name }")
CLOSE_REASONS = {"completed": "COMPLETED", "not_planned": "NOT_PLANNED", "duplicate": "DUPLICATE"}


@dataclass
class Batch:
    """Aliased mutations being collected for one request."""

    fields: list[tuple[str, tuple[str, str, str], dict[str, Any]]] = field(default_factory=list)
    owner: dict[str, Any] = field(default_factory=dict)  # alias -> whatever the caller tracks

    def add(self, mutation: tuple[str, str, str], payload: dict[str, Any], owner: Any) -> str:
        """Add one mutation under a fresh alias; ``owner`` is what its answer belongs to. Returns the alias."""
        alias = f"m{len(self.fields)}"
        self.fields.append((alias, mutation, payload))
        self.owner[alias] = owner
        return alias

    def __len__(self) -> int:
        return len(self.fields)

    def document(self) -> tuple[str, dict[str, Any]]:
        """The mutation text and its variables."""
        params = ", ".join(f"${alias}: {kind}!" for alias, (_, kind, _), _ in self.fields)
        body = "\n  ".join(
            f"{alias}: {name}(input: ${alias}) {{ {sel} }}" for alias, (name, _, sel), _ in self.fields
        )
        variables = {alias: payload for alias, _, payload in self.fields}
        return f"mutation({params}) {{\n  {body}\n}}", variables


def create_input(repository_id: str, fields: IssueFields, label_ids: list[str]) -> dict[str, Any]:
    """The ``createIssue`` input for an issue's fields."""
    return {"repositoryId": repository_id, "title": fields.title, "body": fields.body, "labelIds": label_ids}


def update_input(
    node_id: str, fields: IssueFields, groups: frozenset[str], label_ids: list[str]
) -> dict[str, Any]:
    """Only the pushed groups: a group changed on GitHub and not pushed is left alone."""
    payload: dict[str, Any] = {"id": node_id}
    if "title" in groups:
        payload["title"] = fields.title
    if "body" in groups:
        payload["body"] = fields.body
    if "labels" in groups:
        payload["labelIds"] = label_ids
    return payload


def close_input(node_id: str, reason: str | None) -> dict[str, Any]:
    """The ``closeIssue`` input; the state reason maps to GitHub's COMPLETED / NOT_PLANNED."""
    return {"issueId": node_id, "stateReason": CLOSE_REASONS.get(reason or "completed", "COMPLETED")}


def reopen_input(node_id: str) -> dict[str, Any]:
    """The ``reopenIssue`` input."""
    return {"issueId": node_id}


def label_input(repository_id: str, name: str, color: str) -> dict[str, Any]:
    """The ``createLabel`` input."""
    return {"repositoryId": repository_id, "name": name, "color": color}


def edge_input(issue_node: str, blocker_node: str) -> dict[str, Any]:
    """The ``addBlockedBy``/``removeBlockedBy`` input: ``issue_node`` is blocked by ``blocker_node``."""
    return {"issueId": issue_node, "blockingIssueId": blocker_node}


_STATE_VALUES = (("open", None), ("closed", "completed"), ("closed", "not_planned"), ("closed", "duplicate"))


def state_from_hash(state_hash: str) -> tuple[str, str | None] | None:
    """The (state, reason) a state-group hash stands for: the group's values are few, so try them."""
    for state, reason in _STATE_VALUES:
        probe = IssueFields("", "", frozenset(), state, reason)
        if group_hashes(probe).state == state_hash:
            return state, reason
    return None


def is_already_done(error: dict[str, Any], kind: str) -> bool:
    """An edge that already exists (add) or is already gone (remove) counts as done."""
    message = str(error.get("message", "")).lower()
    if kind == "add":
        return "already" in message
    return error.get("type") == "NOT_FOUND" or "not found" in message
