"""A remote that changed under us: the drift probe, and finding vanished issues again.

* **The drift probe** (every run, one GraphQL request): the repository's id, issue count, newest
  issue number and label count, compared with what the last finished run left (kept as the
  ``probe:`` row of ``github_pages``). Issues created since are visible in this run's listing
  (their numbers are above the kept newest one), so the expected count is the kept count plus
  those; a deleted or transferred issue, a deleted label or a recreated repository makes the
  counts disagree, and the run escalates to a full reconciliation (every page, no ETags).
* **Relocation**: a linked issue missing from a full listing, or whose node id a mutation could
  not resolve, is looked up by number. ``301`` (transferred): the link follows it. ``404``/
  ``410`` (deleted), or the number now holding another issue: the link is dropped and the item
  gets a new issue, reported as *recreated*, never as a failure that repeats forever.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from ailab.sync.apply import Applier, adopted_hashes
from ailab.sync.mapping import GroupHashes, IssueRef, LocalItem, group_hashes, render
from ailab.sync.plan import UNKNOWN
from ailab.sync.remote import Listing, Located, RemoteCounts, locate_issue
from ailab.sync.store import Link, LinkedIssue


def probe_verdict(baseline: RemoteCounts | None, now: RemoteCounts, listing: Listing) -> str | None:
    """Why GitHub disagrees with what the last run left, or ``None`` when it agrees."""
    if baseline is None:
        return "no baseline from an earlier finished run"
    if now.repository_id != baseline.repository_id:
        return "the repository was recreated (its id changed)"
    new = sum(1 for number in listing.issues if number > baseline.newest)
    expected = baseline.issues + new
    if now.issues != expected:
        return f"GitHub has {now.issues:,} issues where {expected:,} were expected"
    if now.labels != baseline.labels:
        return f"GitHub has {now.labels:,} labels where {baseline.labels:,} were left"
    return None


def after_run(now: RemoteCounts, applier: Applier) -> RemoteCounts:
    """The baseline this run leaves: what the probe read plus what the run created."""
    newest = max([now.newest, *applier.created_numbers])
    return replace(
        now,
        issues=now.issues + len(applier.created_numbers),
        newest=newest,
        labels=now.labels + applier.labels_created,
    )


@dataclass
class Relocation:
    """What ``relocate`` made of the items whose linked issue had vanished, by outcome."""

    gone: list[LocalItem] = field(default_factory=list)  # links dropped: created again
    moved: list[LocalItem] = field(default_factory=list)  # now linked in another repository
    found: list[LocalItem] = field(default_factory=list)  # same place, new node id


async def relocate(applier: Applier, items: list[LocalItem], *, look_up: bool = True) -> Relocation:
    """Look up the linked issues of ``items`` by number and follow what GitHub answers.

    ``look_up=False`` (the repository itself was recreated: nothing of it survived) takes them
    all as gone without a request each.
    """
    links = applier.links
    todo = [i for i in items if i.id in links and links[i.id].linked]
    places: list[Located] = [Located("gone") for _ in todo]
    if look_up:
        places = await asyncio.gather(
            *(
                locate_issue(applier.client, links[i.id].repository, int(links[i.id].issue_number or 0))
                for i in todo
            )
        )
    result = Relocation()
    rows: list[LinkedIssue] = []
    for item, where in zip(todo, places, strict=True):
        issue, link = where.issue, links[item.id]
        if where.status == "gone" or issue is None or issue.marker != item.key:
            result.gone.append(item)
            continue
        repository = where.repository or link.repository
        if (
            repository == link.repository
            and issue.number == link.issue_number
            and issue.node_id == link.node_id
        ):
            continue  # where it was: nothing vanished after all
        row = LinkedIssue(
            item.id,
            repository,
            issue.number,
            issue.id,
            issue.node_id,
            str(adopted_hashes(issue)),
            issue.updated_at,
        )
        rows.append(row)
        (result.moved if repository != applier.repository else result.found).append(item)
        applier.refs[item.key] = IssueRef(repository, issue.number, issue.node_id)
        links[item.id] = Link(
            item.id, repository, issue.number, issue.id, issue.node_id, "linked", row.content_hash,
            issue.updated_at, link.created_at,
        )  # fmt: skip
    applier.store.link(rows)
    applier.outcome.moved += len(result.moved)
    if result.gone:
        applier.store.unlink(i.id for i in result.gone)
        for item in result.gone:
            links.pop(item.id, None)
            applier.refs.pop(item.key, None)
            applier.recreating.add(item.key)
    for item in items:
        applier.vanished.pop(item.id, None)
    return result


def forget_edges_to(links: dict[int, Link], items: list[LocalItem], keys: set[str]) -> set[int]:
    """Issues that vanished or moved lost their blocked-by relations on GitHub (on both ends):
    the items blocked by them relink (their edges' base becomes unknown, so the plan diffs
    them against what GitHub has). Returns the ids of the items changed."""
    changed: set[int] = set()
    if not keys:
        return changed
    for item in items:
        link = links.get(item.id)
        base = GroupHashes.parse(link.content_hash) if link is not None else None
        if link is not None and link.linked and base is not None and keys & set(item.depends_on):
            link.content_hash = str(base._replace(edges=UNKNOWN.edges))
            changed.add(item.id)
    return changed


def rebase_lost_labels(links: dict[int, Link], items: list[LocalItem], refs: dict[str, IssueRef],
                       listing: Listing, lost: set[str]) -> None:  # fmt: skip
    """Labels deleted on GitHub left their issues without being an edit anyone made there.

    For an issue whose labels differ from the last synced ones only by such labels, the
    labels' base becomes what GitHub has, so the plan puts them back (a push) instead of
    waiting for a ``--pull`` that would drop them from the items.
    """
    if not lost:
        return
    for item in items:
        link = links.get(item.id)
        base = GroupHashes.parse(link.content_hash) if link is not None else None
        remote = listing.issues.get(int(link.issue_number or 0)) if link is not None and link.linked else None
        if link is None or base is None or remote is None:
            continue
        wanted = render(item, refs).labels
        restored = remote.labels | {n for n in wanted if n.lower() in lost}
        if restored == remote.labels:
            continue
        if group_hashes(replace(remote.fields(), labels=restored)).labels == base.labels:
            link.content_hash = str(base._replace(labels=group_hashes(remote.fields()).labels))


def markers(listing: Listing) -> dict[str, list[int]]:
    """Item key -> numbers of the listed issues carrying its marker."""
    found: dict[str, list[int]] = {}
    for issue in listing.issues.values():
        key = issue.marker
        if key:
            found.setdefault(key, []).append(issue.number)
    return found


def probe_report(verdict: str | None, now: RemoteCounts, *, full: bool, **extra: Any) -> dict[str, Any]:
    """The probe's outcome for the summary and ``--json`` (a full read reconciles anyway)."""
    said = "agreed" if verdict is None else f"disagreed: {verdict}"
    return {
        "verdict": "full read (reconciled)" if full else said,
        "issues": now.issues,
        "labels": now.labels,
        **extra,
    }
