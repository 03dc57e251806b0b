"""Resolvers for ``schema.graphql``: read and change ``World`` objects, shaped as GitHub's GraphQL.

Connections page forwards with opaque cursors. ``Repository.issues`` uses keyset cursors (the
sort key of the last node), so issues created or updated while a client pages do not shift
the pages it has not read yet; the other, small connections use offsets.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLInterfaceType, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

from ailab.sync.simulator.model import Issue, Label, Repo, SimError, iso, parse_iso

if TYPE_CHECKING:
    from ailab.sync.simulator.graphql_api import Context

ERROR_TYPES = {
    "not_found": "NOT_FOUND",
    "gone": "FORBIDDEN",
    "moved": "NOT_FOUND",
    "invalid": "UNPROCESSABLE",
    "invalid_simple": "UNPROCESSABLE",
    "bad_request": "UNPROCESSABLE",
}
CURSOR_PREFIX = "cursor:v2:"
Resolver = Callable[..., Any]


def gql_error(err: SimError) -> GraphQLError:
    """A simulator error as a GraphQL error with GitHub's ``type`` extension."""
    return GraphQLError(err.message, extensions={"type": ERROR_TYPES.get(err.kind, "UNPROCESSABLE")})


def not_found(node_id: Any) -> GraphQLError:
    """GitHub's error for a node id that resolves to nothing."""
    return GraphQLError(
        f"Could not resolve to a node with the global id of '{node_id}'.", extensions={"type": "NOT_FOUND"}
    )


# -- connections -----------------------------------------------------------------------------------
class Page:
    """A connection page; the default resolver reads these attributes by field name."""

    __slots__ = ("_cursors", "_has_next", "_has_previous", "_total", "nodes")

    def __init__(
        self,
        nodes: list[Any],
        cursors: list[str],
        has_next: bool,
        has_previous: bool,
        total: Callable[[], int],
    ) -> None:
        self.nodes = nodes
        self._cursors = cursors
        self._has_next = has_next
        self._has_previous = has_previous
        self._total = total

    @property
    def edges(self) -> list[dict[str, Any]]:
        """The connection's ``edges``: each node with its cursor."""
        return [{"cursor": c, "node": n} for c, n in zip(self._cursors, self.nodes, strict=True)]

    @property
    def pageInfo(self) -> dict[str, Any]:
        """The connection's ``pageInfo``."""
        return {
            "startCursor": self._cursors[0] if self._cursors else None,
            "endCursor": self._cursors[-1] if self._cursors else None,
            "hasNextPage": self._has_next,
            "hasPreviousPage": self._has_previous,
        }

    @property
    def totalCount(self) -> int:
        """The connection's ``totalCount`` (computed only when asked)."""
        return self._total()


def encode_cursor(payload: str) -> str:
    """An opaque cursor, shaped like GitHub's (base64 of a prefix and the position)."""
    return base64.b64encode((CURSOR_PREFIX + payload).encode()).decode()


def decode_cursor(cursor: str) -> str:
    """The position in a cursor; an invalid cursor decodes to an empty string."""
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith(CURSOR_PREFIX):
        raise GraphQLError(
            f"`{cursor}` does not appear to be a valid cursor.",
            extensions={"type": "INVALID_CURSOR_ARGUMENTS"},
        )
    return raw[len(CURSOR_PREFIX) :]


def offset_page(items: list[Any], first: int | None, after: str | None) -> Page:
    """A connection page of ``items`` from the ``first``/``after`` arguments."""
    start = 0
    if after is not None:
        try:
            start = int(decode_cursor(after))
        except ValueError:
            raise GraphQLError(
                f"`{after}` does not appear to be a valid cursor.",
                extensions={"type": "INVALID_CURSOR_ARGUMENTS"},
            ) from None
    size = first if first is not None else 100
    chunk = items[start : start + size]
    cursors = [encode_cursor(str(start + n + 1)) for n in range(len(chunk))]
    return Page(chunk, cursors, start + len(chunk) < len(items), start > 0, lambda: len(items))


def _issue_key(field: str) -> Callable[[Issue], tuple[int, int]]:
    if field == "UPDATED_AT":
        return lambda i: (i.updated_ts, i.number)
    return lambda i: (0, i.number)  # CREATED_AT (numbers grow with creation), COMMENTS (all 0)


def repository_issues(
    repo: Repo,
    info: GraphQLResolveInfo[Any],
    first: int | None = None,
    after: str | None = None,
    filterBy: dict[str, Any] | None = None,
    labels: list[str] | None = None,
    orderBy: dict[str, Any] | None = None,
    states: list[str] | None = None,
) -> Page:
    """``Repository.issues``: filtered by states, labels and ``since``, ordered, paginated."""
    filters = filterBy or {}
    field = (orderBy or {}).get("field", "CREATED_AT")
    descending = (orderBy or {}).get("direction", "ASC") == "DESC"
    wanted_states = {s.lower() for s in (states or filters.get("states") or ())}
    wanted_labels = {n.lower() for n in (labels or filters.get("labels") or ())}
    try:
        since = parse_iso(filters["since"]) if filters.get("since") else None
    except SimError as err:
        raise gql_error(err) from None

    def match(i: Issue) -> bool:
        return (
            (not wanted_states or i.state in wanted_states)
            and (since is None or i.updated_ts >= since)
            and (not wanted_labels or any(lb.name.lower() in wanted_labels for lb in i.labels.values()))
        )

    key = _issue_key(field)
    view = repo.views.get(("gql", field))
    if view is None:
        ordered = list(repo.issues.values())
        ordered.sort(key=key)
        view = (ordered, [key(i) for i in ordered])
        repo.views[("gql", field)] = view
    ordered, keys = view
    if after is not None:
        try:
            first_part, second_part = decode_cursor(after).split(":")
            after_key = (int(first_part), int(second_part))
        except ValueError:
            raise GraphQLError(
                f"`{after}` does not appear to be a valid cursor.",
                extensions={"type": "INVALID_CURSOR_ARGUMENTS"},
            ) from None
        positions = (
            range(bisect_left(keys, after_key) - 1, -1, -1)
            if descending
            else range(bisect_right(keys, after_key), len(ordered))
        )
    else:
        positions = range(len(ordered) - 1, -1, -1) if descending else range(len(ordered))
    size = first if first is not None else 100
    nodes: list[Issue] = []
    has_next = False
    for position in positions:
        issue = ordered[position]
        if match(issue):
            if len(nodes) == size:
                has_next = True
                break
            nodes.append(issue)
    cursors = [encode_cursor("{}:{}".format(*key(i))) for i in nodes]
    return Page(nodes, cursors, has_next, after is not None, lambda: sum(1 for i in ordered if match(i)))


def label_page(
    labels: list[Label],
    first: int | None,
    after: str | None,
    order: dict[str, Any] | None,
    query: str | None = None,
) -> Page:
    """A connection page of labels, ordered as ``orderBy`` asks."""
    if query:
        labels = [lb for lb in labels if query.lower() in lb.name.lower()]
    if order and order.get("field") == "NAME":
        labels = sorted(labels, key=lambda lb: lb.name.lower())
    if order and order.get("direction") == "DESC":
        labels = labels[::-1]
    return offset_page(labels, first, after)


# -- object fields ---------------------------------------------------------------------------------
def _ctx(info: GraphQLResolveInfo[Any]) -> Context:
    return info.context  # type: ignore[no-any-return]


def _html(info: GraphQLResolveInfo[Any]) -> str:
    return _ctx(info).sim.config.html_url


def _summary_deps(i: Issue) -> dict[str, int]:
    return {
        "blockedBy": sum(1 for b in i.blocked_by.values() if b.state == "open"),
        "blocking": sum(1 for b in i.blocking.values() if b.state == "open"),
        "totalBlockedBy": len(i.blocked_by),
        "totalBlocking": len(i.blocking),
    }


def _summary_subs(i: Issue) -> dict[str, int]:
    total = len(i.sub_issues)
    done = sum(1 for c in i.sub_issues if c.state == "closed")
    return {"total": total, "completed": done, "percentCompleted": done * 100 // total if total else 0}


ISSUE_FIELDS: dict[str, Resolver] = {
    "id": lambda i, info: i.node_id,
    "databaseId": lambda i, info: i.id,
    "number": lambda i, info: i.number,
    "title": lambda i, info: i.title,
    "body": lambda i, info: i.body or "",
    "state": lambda i, info: i.state.upper(),
    "stateReason": lambda i, info, **_: i.state_reason.upper() if i.state_reason else None,
    "closed": lambda i, info: i.state == "closed",
    "closedAt": lambda i, info: iso(i.closed_ts),
    "createdAt": lambda i, info: iso(i.created_ts),
    "updatedAt": lambda i, info: iso(i.updated_ts),
    "url": lambda i, info: f"{_html(info)}/{i.repo.full_name}/issues/{i.number}",
    "locked": lambda i, info: False,
    "viewerCanClose": lambda i, info: True,
    "viewerCanReopen": lambda i, info: True,
    "viewerCanLabel": lambda i, info: True,
    "repository": lambda i, info: i.repo,
    "parent": lambda i, info: i.parent,
    "duplicateOf": lambda i, info: i.duplicate_of,
    "labels": lambda i, info, first=None, after=None, orderBy=None: label_page(
        list(i.labels.values()), first, after, orderBy
    ),
    "blockedBy": lambda i, info, first=None, after=None: offset_page(
        list(i.blocked_by.values()), first, after
    ),
    "blocking": lambda i, info, first=None, after=None: offset_page(list(i.blocking.values()), first, after),
    "subIssues": lambda i, info, first=None, after=None: offset_page(list(i.sub_issues), first, after),
    "issueDependenciesSummary": lambda i, info: _summary_deps(i),
    "subIssuesSummary": lambda i, info: _summary_subs(i),
}

LABEL_FIELDS: dict[str, Resolver] = {
    "id": lambda lb, info: lb.node_id,
    "name": lambda lb, info: lb.name,
    "color": lambda lb, info: lb.color,
    "description": lambda lb, info: lb.description,
    "isDefault": lambda lb, info: False,
    "createdAt": lambda lb, info: iso(lb.created_ts),
    "repository": lambda lb, info: lb.repo,
    "url": lambda lb, info: f"{_html(info)}/{lb.repo.full_name}/labels/{lb.name}",
}


def _repo_issue(repo: Repo, info: GraphQLResolveInfo[Any], number: int) -> Issue:
    found = repo.issues.get(number)
    if found is None:
        raise GraphQLError(
            f"Could not resolve to an Issue with the number of {number}.", extensions={"type": "NOT_FOUND"}
        )
    return found


REPOSITORY_FIELDS: dict[str, Resolver] = {
    "id": lambda r, info: r.node_id,
    "databaseId": lambda r, info: r.id,
    "name": lambda r, info: r.name,
    "nameWithOwner": lambda r, info: r.full_name,
    "hasIssuesEnabled": lambda r, info: r.has_issues,
    "url": lambda r, info: f"{_html(info)}/{r.full_name}",
    "issue": _repo_issue,
    "issues": repository_issues,
    "label": lambda r, info, name: r.labels.get(name.lower()),
    "labels": lambda r, info, first=None, after=None, orderBy=None, query=None: label_page(
        list(r.labels.values()), first, after, orderBy, query
    ),
}

QUERY_FIELDS: dict[str, Resolver] = {
    "repository": lambda _, info, owner, name, followRenames=True: _ctx(info).sim.world.repo(owner, name),
    "node": lambda _, info, id: _node(info, id),
    "nodes": lambda _, info, ids: [_ctx(info).sim.world.node(i) for i in ids],
    "rateLimit": lambda _, info, dryRun=False: _ctx(info).rate_limit(),
}


def _node(info: GraphQLResolveInfo[Any], node_id: str) -> Issue | Label | Repo:
    found = _ctx(info).sim.world.node(node_id)
    if found is None:
        raise not_found(node_id)
    return found


def _type_of(value: Any, *_: Any) -> str | None:
    if isinstance(value, Issue):
        return "Issue"
    if isinstance(value, Label):
        return "Label"
    if isinstance(value, Repo):
        return "Repository"
    return None


def attach(schema: GraphQLSchema) -> None:
    """Wire the resolvers into a schema built from ``schema.graphql``."""
    from ailab.sync.simulator.graphql_mutations import MUTATION_FIELDS

    for type_name, table in (
        ("Issue", ISSUE_FIELDS),
        ("Label", LABEL_FIELDS),
        ("Repository", REPOSITORY_FIELDS),
        ("Query", QUERY_FIELDS),
        ("Mutation", MUTATION_FIELDS),
    ):
        gql_type = schema.type_map[type_name]
        assert isinstance(gql_type, GraphQLObjectType)
        for name, resolver in table.items():
            gql_type.fields[name].resolve = resolver
    for name in ("Node", "Labelable", "Closable"):
        interface = schema.type_map[name]
        assert isinstance(interface, GraphQLInterfaceType)
        interface.resolve_type = _type_of
