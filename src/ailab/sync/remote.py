"""Reading GitHub in bulk: issue listings with stored page ETags, markers, labels and edges.

* ``read_listing``: ``GET /repos/{o}/{r}/issues?state=all&per_page=100&...`` page by page. Page 1
  first (its ``link`` header names the last page), then the rest concurrently through the read
  lane, each with the ETag stored for it: an unchanged page answers 304 (free on GitHub's
  primary limit) and its issues are taken as unchanged. An issue seen twice means the listing
  shifted while we read it (an issue was updated mid-read), so the result is marked unstable
  and the caller does not move its watermark.
* ``find_markers``: newest issues first, until older than the oldest pending create, looking for
  ``<!-- ailab:item=KEY -->``: how an ambiguous create is resolved without resending it.
* ``read_edges``: current blocked-by relations of many issues, 100 per GraphQL ``nodes`` query.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ailab.errors import GitHubError, GitHubNotFoundError
from ailab.sync.client import ApiResponse, GitHubClient
from ailab.sync.mapping import IssueFields, find_marker
from ailab.sync.timestamps import parse_time

PER_PAGE = 100
EDGE_PAGE = 50  # GitHub allows at most 50 blocked-by issues per issue
NODES_PER_QUERY = 100


@dataclass(frozen=True)
class RemoteIssue:
    """The synced fields of one issue as GitHub returned them."""

    number: int
    id: int | None
    node_id: str | None
    title: str
    body: str
    labels: frozenset[str]
    state: str
    state_reason: str | None
    updated_at: datetime | None
    created_at: datetime | None

    @property
    def marker(self) -> str | None:
        """The work item key in this issue's body marker, or None."""
        return find_marker(self.body)

    def fields(self) -> IssueFields:
        """What this issue shows, in the form the plan hashes (edges are compared separately)."""
        return IssueFields(self.title, self.body, self.labels, self.state, self.state_reason)

    @classmethod
    def from_rest(cls, data: dict[str, Any]) -> RemoteIssue | None:
        """``None`` for pull requests, which the issues endpoint also lists."""
        if data.get("pull_request"):
            return None
        labels = frozenset(
            str(label["name"]) if isinstance(label, dict) else str(label)
            for label in data.get("labels") or ()
        )
        return cls(
            number=int(data["number"]),
            id=data.get("id"),
            node_id=data.get("node_id"),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            labels=labels,
            state=str(data.get("state") or "open"),
            state_reason=data.get("state_reason"),
            updated_at=parse_time(data.get("updated_at")),
            created_at=parse_time(data.get("created_at")),
        )


@dataclass
class Listing:
    """The outcome of reading one listing."""

    issues: dict[int, RemoteIssue] = field(default_factory=dict)  # from 200 pages only
    pages: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # page_key -> (etag, body_hash)
    page_of: dict[int, str] = field(default_factory=dict)  # issue number -> page_key
    requests: int = 0
    not_modified: int = 0
    stable: bool = True
    server_time: datetime | None = None  # the ``date`` of the first page: everything before it was listed
    unchanged_high_water: datetime | None = None  # newest update on the pages that answered 304

    @property
    def high_water(self) -> datetime | None:
        """The newest ``updated_at`` listed (on changed pages, or remembered for unchanged ones)."""
        times = [i.updated_at for i in self.issues.values() if i.updated_at is not None]
        if self.unchanged_high_water is not None:
            times.append(self.unchanged_high_water)
        return max(times) if times else None


def _page_number(url: str | None) -> int | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("page")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def _server_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _page_meta(rows: list[Any], issues: list[RemoteIssue]) -> str:
    """What ``github_pages.body_hash`` keeps of a page: ``count:newest-update-epoch:digest``."""
    times = [i.updated_at for i in issues if i.updated_at is not None]
    newest = int(max(times).replace(tzinfo=UTC).timestamp()) if times else 0
    seen = "|".join(f"{i.number}@{i.updated_at}" for i in issues)
    digest = hashlib.blake2b(seen.encode(), digest_size=20).hexdigest()
    return f"{len(rows)}:{newest}:{digest}"


def _meta_count(meta: str | None) -> int:
    try:
        return int((meta or "").split(":", 1)[0])
    except ValueError:
        return 0


def _meta_newest(meta: str | None) -> datetime | None:
    parts = (meta or "").split(":")
    try:
        epoch = int(parts[1]) if len(parts) == 3 else 0
    except ValueError:
        return None
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None) if epoch else None


async def read_listing(
    client: GitHubClient,
    repository: str,
    params: dict[str, str],
    prefix: str,
    stored: dict[str, tuple[str | None, str | None]],
) -> Listing:
    """Read every page of ``GET /repos/{repository}/issues`` with ``params`` (see module doc).

    ``prefix`` names this listing in ``github_pages`` (``page_key = prefix + "page=N"``);
    ``stored`` is what ``SyncStore.pages`` returned for it.
    """
    path = f"/repos/{repository}/issues"
    listing = Listing()
    seen: set[int] = set()
    stored = {k: v for k, v in stored.items() if k.startswith(prefix)}

    def key(page: int) -> str:
        return f"{prefix}page={page}"

    async def fetch(page: int) -> tuple[int, ApiResponse]:
        etag = stored.get(key(page), (None, None))[0]
        query = {**params, "per_page": str(PER_PAGE), "page": str(page)}
        return page, await client.rest("GET", path, params=query, etag=etag)

    def take(page: int, response: ApiResponse) -> None:
        listing.requests += 1
        if response.not_modified:
            listing.not_modified += 1
            old = stored.get(key(page))
            if old is not None:
                listing.pages[key(page)] = (old[0], old[1] or "0:0:")
                newest = _meta_newest(old[1])
                if newest is not None and (
                    listing.unchanged_high_water is None or newest > listing.unchanged_high_water
                ):
                    listing.unchanged_high_water = newest
            return
        rows = response.data if isinstance(response.data, list) else []
        issues = [i for i in (RemoteIssue.from_rest(row) for row in rows) if i is not None]
        listing.pages[key(page)] = (response.etag, _page_meta(rows, issues))
        for issue in issues:
            if issue.number in seen:
                listing.stable = False  # an issue moved while we paged: pages may have skipped one
            seen.add(issue.number)
            listing.issues[issue.number] = issue
            listing.page_of[issue.number] = key(page)

    _, first = await fetch(1)
    take(1, first)
    listing.server_time = _server_time(first.headers.get("date"))
    known_last = max((_page_number("?" + k[len(prefix) :]) or 1 for k in stored), default=1)
    last = _page_number(first.links.get("last")) or (known_last if first.not_modified else 1)
    results = await asyncio.gather(*(fetch(p) for p in range(2, last + 1)))
    for page, response in sorted(results, key=lambda r: r[0]):
        take(page, response)
    # Pages added since: follow "next" from the last page, or probe after a full unchanged one.
    page, response = (last, results[-1][1]) if results else (1, first)
    while True:
        if response.not_modified:
            full = _meta_count(listing.pages.get(key(page), (None, "0:0:"))[1]) >= PER_PAGE
            if not full:
                break
        elif "next" not in response.links:
            break
        page, response = await fetch(page + 1)
        take(page, response)
    return listing


async def find_markers(
    client: GitHubClient, repository: str, keys: Iterable[str], not_before: datetime | None, max_pages: int
) -> dict[str, RemoteIssue]:
    """Issues carrying the marker of one of ``keys``, searching newest first (lowest number wins)."""
    wanted = set(keys)
    found: dict[str, RemoteIssue] = {}
    # Only a stopping rule, never a filter: our clock and GitHub's may disagree, so a whole page is
    # always read before older issues end the search.
    horizon = not_before - timedelta(minutes=10) if not_before else None
    for page in range(1, max_pages + 1):
        params = {
            "state": "all",
            "sort": "created",
            "direction": "desc",
            "per_page": str(PER_PAGE),
            "page": str(page),
        }
        response = await client.rest("GET", f"/repos/{repository}/issues", params=params)
        rows = response.data if isinstance(response.data, list) else []
        older = False
        for row in rows:
            issue = RemoteIssue.from_rest(row)
            if issue is None:
                continue
            marker = issue.marker
            if marker in wanted and (marker not in found or issue.number < found[marker].number):
                found[marker] = issue
            if horizon and issue.created_at and issue.created_at < horizon:
                older = True
        if older or "next" not in response.links or not rows:
            break
    return found


async def list_labels(client: GitHubClient, repository: str) -> dict[str, str]:
    """Every label of the repository: ``name -> node_id``."""
    labels: dict[str, str] = {}
    page = 1
    while True:
        response = await client.rest(
            "GET", f"/repos/{repository}/labels", params={"per_page": str(PER_PAGE), "page": str(page)}
        )
        for row in response.data or ():
            labels[str(row["name"])] = str(row["node_id"])
        if "next" not in response.links:
            return labels
        page += 1


REPOSITORY_QUERY = """query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) { id hasIssuesEnabled }
}"""


async def repository_id(client: GitHubClient, repository: str) -> str:
    """The repository's GraphQL node id; a clear error when the token cannot see it or issues are off."""
    owner, name = repository.split("/", 1)
    answer = await client.graphql(REPOSITORY_QUERY, {"owner": owner, "name": name})
    repo = answer.data.get("repository")
    if not isinstance(repo, dict):
        raise GitHubNotFoundError(
            f"GitHub has no repository {repository} visible to this token. Check AILAB_GITHUB_REPO (or the "
            "project's repository_url) and the token's repository access."
        )
    if repo.get("hasIssuesEnabled") is False:
        raise GitHubError(f"Issues are disabled in {repository}; enable them in the repository settings.")
    return str(repo["id"])


EDGES_QUERY = f"""query($ids: [ID!]!) {{
  nodes(ids: $ids) {{ ... on Issue {{ id blockedBy(first: {EDGE_PAGE}) {{ nodes {{ id }} }} }} }}
}}"""


async def read_edges(client: GitHubClient, node_ids: Iterable[str]) -> dict[str, set[str]]:
    """``issue node id -> node ids of the issues blocking it``, 100 issues per request."""
    ids = list(dict.fromkeys(node_ids))
    chunks = [ids[i : i + NODES_PER_QUERY] for i in range(0, len(ids), NODES_PER_QUERY)]
    answers = await asyncio.gather(*(client.graphql(EDGES_QUERY, {"ids": chunk}) for chunk in chunks))
    edges: dict[str, set[str]] = {}
    for answer in answers:
        for node in answer.data.get("nodes") or ():
            if isinstance(node, dict) and node.get("id"):
                blockers = (node.get("blockedBy") or {}).get("nodes") or ()
                edges[str(node["id"])] = {str(b["id"]) for b in blockers if isinstance(b, dict)}
    return edges


# -- remotes that changed under us ---------------------------------------------------------------
@dataclass(frozen=True)
class Located:
    """Where a linked issue is now: ``here`` (as linked), ``moved`` (301) or ``gone`` (404/410)."""

    status: str
    issue: RemoteIssue | None = None
    repository: str | None = None


def _repository_of(data: Any) -> str | None:
    """``owner/name`` from an issue's ``repository_url`` (``.../repos/owner/name``)."""
    url = data.get("repository_url") if isinstance(data, dict) else None
    parts = urlsplit(str(url or "")).path.rstrip("/").split("/")
    return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 3 and parts[-3] == "repos" else None


def _gone(err: GitHubError) -> bool:
    return getattr(err, "status", None) in (404, 410)


async def locate_issue(client: GitHubClient, repository: str, number: int) -> Located:
    """``GET`` the issue, following a 301 (a transfer) to where it lives now, as GitHub documents.

    The redirect is followed only to the API host the client talks to (the token goes with it).
    """
    try:
        response = await client.rest("GET", f"/repos/{repository}/issues/{number}")
    except GitHubError as err:
        if _gone(err):
            return Located("gone")
        raise
    if response.status in (301, 302, 307, 308):
        target = response.headers.get("location") or (response.data or {}).get("url")
        path = client.same_host_path(str(target or ""))
        if path is None:
            raise GitHubError(
                f"GitHub redirected {repository}#{number} to {target!r}, outside {client.config.api_url}; "
                "not followed. Check AILAB_GITHUB_API_URL."
            )
        try:
            response = await client.rest("GET", path)
        except GitHubError as err:
            if _gone(err):
                return Located("gone")
            raise
        issue = RemoteIssue.from_rest(response.data)
        where = _repository_of(response.data)
        if issue is None or where is None:
            return Located("gone")
        return Located("moved", issue, where)
    issue = RemoteIssue.from_rest(response.data) if isinstance(response.data, dict) else None
    return Located("here", issue, repository) if issue is not None else Located("gone")


PROBE_QUERY = """query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    id
    issues(first: 1, orderBy: {field: CREATED_AT, direction: DESC}) { totalCount nodes { number } }
    labels(first: 1) { totalCount }
  }
}"""


@dataclass(frozen=True)
class RemoteCounts:
    """What the drift probe reads in one GraphQL request: the repository's identity and sizes."""

    repository_id: str
    issues: int
    newest: int  # the highest issue number (0: no issue)
    labels: int

    def pack(self) -> tuple[str, str]:
        """``(etag, body_hash)`` columns of the ``github_pages`` row that keeps the baseline."""
        return self.repository_id, f"{self.issues}:{self.newest}:{self.labels}"

    @classmethod
    def unpack(cls, etag: str | None, body: str | None) -> RemoteCounts | None:
        """``pack`` reversed; ``None`` (no baseline) when a column is missing or does not parse."""
        try:
            issues, newest, labels = (int(v) for v in (body or "").split(":"))
        except ValueError:
            return None
        return cls(etag or "", issues, newest, labels) if etag else None


async def probe_counts(client: GitHubClient, repository: str) -> RemoteCounts:
    """The drift probe's one GraphQL request (``GitHubNotFoundError`` when the token cannot see it)."""
    owner, name = repository.split("/", 1)
    answer = await client.graphql(PROBE_QUERY, {"owner": owner, "name": name})
    repo = answer.data.get("repository")
    if not isinstance(repo, dict):
        raise GitHubNotFoundError(
            f"GitHub has no repository {repository} visible to this token. Check AILAB_GITHUB_REPO (or the "
            "project's repository_url) and the token's repository access."
        )
    issues = repo.get("issues") or {}
    nodes = [n for n in issues.get("nodes") or () if isinstance(n, dict)]
    return RemoteCounts(
        repository_id=str(repo.get("id")),
        issues=int(issues.get("totalCount") or 0),
        newest=int(nodes[0]["number"]) if nodes else 0,
        labels=int((repo.get("labels") or {}).get("totalCount") or 0),
    )
