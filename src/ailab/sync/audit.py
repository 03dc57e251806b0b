"""``ailab sync --check``: a read-only audit that lists drift between the items and GitHub.

Per repository it reads every issue page without conditional headers (an old ETag must not
hide a different remote), looks up by number each linked issue the listing lacks (following a
301, as the sync would), and reads the blocked-by relations of the linked issues (100 per
GraphQL query). Every request goes through the client's read lane and its rate-limit rules;
nothing is written, on GitHub or in the database (opened read-only).

Drift, item by item: ``missing`` (the linked issue is gone), ``moved`` (transferred; the link
is stale), ``duplicate`` (a marker on more than one issue), ``orphan`` (an issue claims an item
we do not have), ``unsynced`` (an item without an issue), and a mismatch of ``title``, ``body``,
``labels``, ``state`` or ``edges`` between the issue and what the item renders to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.sync.client import GitHubClient
from ailab.sync.config import SyncConfig
from ailab.sync.engine import FULL_PREFIX, run_blocking
from ailab.sync.mapping import IssueRef, LocalItem, group_hashes, render
from ailab.sync.recovery import markers
from ailab.sync.remote import Listing, RemoteIssue, locate_issue, read_edges, read_listing
from ailab.sync.store import Link, SyncStore
from ailab.sync.summary import EXIT_DRIFT, EXIT_OK

CONTENT_GROUPS = ("title", "body", "labels", "state")


@dataclass(frozen=True)
class Drift:
    """One difference between an item (or an issue) and GitHub."""

    item: str  # the item's key, or "owner/name#n" for an orphan issue
    kind: str
    detail: str


@dataclass
class Audit:
    """What ``--check`` found."""

    items: int = 0
    issues: int = 0
    drift: list[Drift] = field(default_factory=list)
    requests: int = 0
    not_modified: int = 0

    @property
    def exit_code(self) -> int:
        """``EXIT_DRIFT`` when anything drifted, else ``EXIT_OK``."""
        return EXIT_DRIFT if self.drift else EXIT_OK

    def kinds(self) -> dict[str, int]:
        """How many drifts of each kind, sorted by kind."""
        counts: dict[str, int] = defaultdict(int)
        for drift in self.drift:
            counts[drift.kind] += 1
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document of ``--check`` (stable keys, for cron jobs and CI)."""
        return {
            "ok": not self.drift,
            "exit_code": self.exit_code,
            "items": self.items,
            "issues": self.issues,
            "drift": [{"item": d.item, "kind": d.kind, "detail": d.detail} for d in self.drift],
            "kinds": self.kinds(),
            "requests": self.requests,
        }


def check(
    engine: Engine,
    config: SyncConfig,
    *,
    clock: Clock = SYSTEM_CLOCK,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Audit:
    """``run_check`` for callers without an event loop."""
    return run_blocking(run_check(engine, config, clock=clock, transport=transport))


async def run_check(
    engine: Engine,
    config: SyncConfig,
    *,
    clock: Clock = SYSTEM_CLOCK,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Audit:
    """Compare every item with its issue on GitHub; reads only (see the module docstring)."""
    store = SyncStore(engine)
    items = store.load_items(lambda url, key: config.repository_for(url, key).full_name)
    links = store.load_links()
    by_id = {i.id: i for i in items}
    refs = {
        by_id[wid].key: IssueRef(link.repository, int(link.issue_number), link.node_id)
        for wid, link in links.items()
        if link.linked and wid in by_id and link.issue_number is not None
    }
    by_repo: dict[str, list[LocalItem]] = defaultdict(list)
    for item in items:
        link = links.get(item.id)
        by_repo[link.repository if link is not None and link.linked else item.repository].append(item)
    audit = Audit(items=len(items))
    keys = {i.key for i in items}
    async with GitHubClient(config, clock=clock, transport=transport) as client:
        for repository in sorted(by_repo):
            params = {"state": "all", "sort": "created", "direction": "asc"}
            listing = await read_listing(client, repository, params, FULL_PREFIX, {})
            audit.issues += len(listing.issues)
            await _audit_repository(
                client, audit, repository, by_repo[repository], links, refs, listing, keys
            )
        audit.requests = client.stats.requests
        audit.not_modified = client.stats.not_modified
    audit.drift.sort(key=lambda d: (d.item, d.kind))
    return audit


async def _audit_repository(
    client: GitHubClient,
    audit: Audit,
    repository: str,
    items: list[LocalItem],
    links: dict[int, Link],
    refs: dict[str, IssueRef],
    listing: Listing,
    keys: set[str],
) -> None:
    for key, numbers in markers(listing).items():
        if key not in keys:
            audit.drift.extend(
                Drift(f"{repository}#{n}", "orphan", f"claims item {key}, which the database does not have")
                for n in numbers
            )
        elif len(numbers) > 1:
            listed = ", ".join(f"#{n}" for n in sorted(numbers))
            audit.drift.append(Drift(key, "duplicate", f"its marker is on {listed} in {repository}"))
    remote: dict[str, RemoteIssue] = {}
    for item in items:
        link = links.get(item.id)
        if link is None or not link.linked or link.issue_number is None:
            audit.drift.append(Drift(item.key, "unsynced", "no issue yet (run `ailab sync`)"))
            continue
        found = listing.issues.get(link.issue_number)
        if found is None:
            where = await locate_issue(client, repository, link.issue_number)
            if where.status == "moved" and where.issue is not None:
                target = f"{where.repository}#{where.issue.number}"
                audit.drift.append(
                    Drift(item.key, "moved", f"#{link.issue_number} was transferred to {target}")
                )
            else:
                audit.drift.append(
                    Drift(item.key, "missing", f"#{link.issue_number} is gone from {repository}")
                )
            continue
        remote[item.key] = found
    nodes = [str(r.node_id) for r in remote.values() if r.node_id]
    edges = await read_edges(client, nodes) if nodes else {}
    key_of = {ref.node_id: key for key, ref in refs.items() if ref.node_id}
    for item in items:
        issue = remote.get(item.key)
        if issue is None:
            continue
        want = render(item, refs)
        blockers = edges.get(str(issue.node_id), set())
        have = replace(issue.fields(), edges=frozenset(key_of.get(b, b) for b in blockers))
        for group in sorted(group_hashes(want).differing(group_hashes(have))):
            audit.drift.append(Drift(item.key, group, _describe(group, want, have, issue)))


def _describe(group: str, want: Any, have: Any, issue: RemoteIssue) -> str:
    where = f"#{issue.number}"
    if group == "title":
        return f"{where} is titled {have.title!r}, the item renders {want.title!r}"
    if group == "state":
        return f"{where} is {have.state}{_reason(have)}, the item wants {want.state}{_reason(want)}"
    if group == "labels":
        extra, lacking = sorted(have.labels - want.labels), sorted(want.labels - have.labels)
        return f"{where} labels differ (on GitHub only: {extra or '-'}; missing there: {lacking or '-'})"
    if group == "edges":
        return f"{where} is blocked by {sorted(have.edges or ())}, the item depends on {sorted(want.edges or ())}"
    return f"{where} body differs from the item's description, criteria or dependencies"


def _reason(fields: Any) -> str:
    return f" ({fields.state_reason})" if fields.state == "closed" and fields.state_reason else ""
