"""GraphQL mutation resolvers. Each one either applies whole or raises a GraphQLError.

graphql-core runs root mutation fields one after another, so aliased mutations in one request
apply in order; a failed one becomes ``{"type": ..., "path": [alias], "message": ...}`` with
``data[alias] = null`` while the others keep their results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo

from ailab.sync.simulator.graphql_resolvers import gql_error, not_found
from ailab.sync.simulator.model import Issue, Label, Repo, SimError
from ailab.sync.simulator.state import World

if TYPE_CHECKING:
    from ailab.sync.simulator.graphql_api import Context

Mutation = Callable[[World, dict[str, Any]], dict[str, Any]]


def _node_of(world: World, node_id: Any, kind: type[Any]) -> Any:
    found = world.node(node_id) if isinstance(node_id, str) else None
    if not isinstance(found, kind):
        raise not_found(node_id)
    return found


def _issue(world: World, node_id: Any) -> Issue:
    issue: Issue = _node_of(world, node_id, Issue)
    return issue


def _payload(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"clientMutationId": data.get("clientMutationId"), **fields}


def create_issue(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``createIssue``."""
    repo: Repo = _node_of(world, data["repositoryId"], Repo)
    labels = world.labels_by_node_ids(data.get("labelIds") or ())
    parent = _issue(world, data["parentIssueId"]) if data.get("parentIssueId") else None
    return _payload(data, issue=world.create_issue(repo, data["title"], data.get("body"), labels, parent))


def update_issue(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``updateIssue``: title, body and labels (absent fields stay)."""
    issue = _issue(world, data["id"])
    labels = world.labels_by_node_ids(data["labelIds"]) if data.get("labelIds") is not None else None
    body = data["body"] if data.get("body") is not None else ...
    world.edit(issue, title=data.get("title"), body=body, labels=labels)
    if data.get("state") is not None:
        world.set_state(issue, data["state"].lower())
    return _payload(data, issue=issue)


def close_issue(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``closeIssue`` with its state reason (COMPLETED, NOT_PLANNED, DUPLICATE)."""
    issue = _issue(world, data["issueId"])
    reason = (data.get("stateReason") or "COMPLETED").lower()
    duplicate = _issue(world, data["duplicateIssueId"]) if data.get("duplicateIssueId") else None
    world.set_state(issue, "closed", reason, duplicate)
    return _payload(data, issue=issue)


def reopen_issue(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``reopenIssue``."""
    issue = _issue(world, data["issueId"])
    world.set_state(issue, "open")
    return _payload(data, issue=issue)


def add_labels(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``addLabelsToLabelable``."""
    issue = _issue(world, data["labelableId"])
    world.add_labels(issue, world.labels_by_node_ids(data["labelIds"]))
    return _payload(data, labelable=issue)


def remove_labels(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``removeLabelsFromLabelable``."""
    issue = _issue(world, data["labelableId"])
    world.remove_labels(issue, world.labels_by_node_ids(data["labelIds"]))
    return _payload(data, labelable=issue)


def create_label(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``createLabel``."""
    repo: Repo = _node_of(world, data["repositoryId"], Repo)
    label: Label = world.create_label(repo, data["name"], data["color"], data.get("description"))
    return _payload(data, label=label)


def add_blocked_by(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``addBlockedBy``."""
    issue, blocker = _issue(world, data["issueId"]), _issue(world, data["blockingIssueId"])
    world.add_blocked_by(issue, blocker)
    return _payload(data, issue=issue, blockingIssue=blocker)


def remove_blocked_by(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``removeBlockedBy``."""
    issue, blocker = _issue(world, data["issueId"]), _issue(world, data["blockingIssueId"])
    world.remove_blocked_by(issue, blocker.id)
    return _payload(data, issue=issue, blockingIssue=blocker)


def add_sub_issue(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``addSubIssue`` (by node id; ``subIssueUrl`` is not supported)."""
    parent = _issue(world, data["issueId"])
    if not data.get("subIssueId"):
        raise SimError("invalid", "subIssueId is required (subIssueUrl is not supported by the simulator).")
    child = _issue(world, data["subIssueId"])
    world.add_sub_issue(parent, child, bool(data.get("replaceParent")))
    return _payload(data, issue=parent, subIssue=child)


def remove_sub_issue(world: World, data: dict[str, Any]) -> dict[str, Any]:
    """``removeSubIssue``."""
    parent, child = _issue(world, data["issueId"]), _issue(world, data["subIssueId"])
    world.remove_sub_issue(parent, child)
    return _payload(data, issue=parent, subIssue=child)


def _resolver(mutation: Mutation) -> Callable[..., dict[str, Any]]:
    @functools.wraps(mutation)
    def resolve(_: Any, info: GraphQLResolveInfo[Any], input: dict[str, Any]) -> dict[str, Any]:
        context: Context = info.context
        try:
            result = mutation(context.sim.world, input)
        except SimError as err:
            raise gql_error(err) from None
        context.sim.counters.writes += 1
        return result

    return resolve


MUTATION_FIELDS: dict[str, Callable[..., Any]] = {
    "createIssue": _resolver(create_issue),
    "updateIssue": _resolver(update_issue),
    "closeIssue": _resolver(close_issue),
    "reopenIssue": _resolver(reopen_issue),
    "addLabelsToLabelable": _resolver(add_labels),
    "removeLabelsFromLabelable": _resolver(remove_labels),
    "createLabel": _resolver(create_label),
    "addBlockedBy": _resolver(add_blocked_by),
    "removeBlockedBy": _resolver(remove_blocked_by),
    "addSubIssue": _resolver(add_sub_issue),
    "removeSubIssue": _resolver(remove_sub_issue),
}
