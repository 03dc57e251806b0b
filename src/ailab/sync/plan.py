"""The plan: what to do for each item, decided from local, remote and last-synced state. Pure.

Three-way, per field group (title, body, labels, state; edges separately), with ``base`` the
group's hash when the item was last synced (``github_links.content_hash``):

* local == remote: nothing to write (if base differs, only the stored hash is refreshed);
* only local changed (remote == base): push the group;
* only remote changed (local == base): pull it with ``--pull``; otherwise it *waits* (a push never
  overwrites a change someone made on GitHub that it has not brought in);
* both changed differently: a conflict, listed, decided by the rule:
  **remote wins for open/closed state** (someone closed or reopened it on GitHub),
  **local wins for content** (title, body, labels) unless ``prefer_remote``.

Issues not in this run's remote read are unchanged since the last read, so remote == base.
Items without a link are created; items with a *pending* link are first looked for by marker.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ailab.sync.mapping import PUSHABLE, GroupHashes, IssueFields, LocalItem, group_hashes
from ailab.sync.remote import RemoteIssue
from ailab.sync.store import Link


class Kind(enum.StrEnum):
    """What the sync does with one item in this run (an item can have several kinds, e.g. update and close)."""

    CREATE = "create"
    RECOVER = "recover"  # a pending create from an earlier run: look for its marker first
    UPDATE = "update"
    CLOSE = "close"
    REOPEN = "reopen"
    RELINK = "relink"  # blocked-by edges to add or remove
    PULL = "pull"
    WAITING = "waiting"  # remote changes a push-only run leaves for --pull
    UNCHANGED = "unchanged"


UNKNOWN = GroupHashes(*(["0" * 12] * 5))  # base of a link with no stored hash: matches nothing
ACTIONS = frozenset({Kind.CREATE, Kind.RECOVER, Kind.UPDATE, Kind.CLOSE, Kind.REOPEN, Kind.RELINK, Kind.PULL})


@dataclass(frozen=True)
class Conflict:
    """A field group changed on both sides since the last sync, and which side the rule lets win."""

    key: str
    group: str
    winner: str  # "local" | "remote"
    applied: bool  # False when the winner is remote and this run does not pull

    def describe(self) -> str:
        """One line for the CLI's conflict list, saying how to apply a remote win that waits."""
        tail = "" if self.applied else " (run with --pull to apply)"
        return f"{self.key}: {self.group} changed on both sides; {self.winner} wins{tail}"


@dataclass(frozen=True)
class ItemState:
    """One item's inputs to the plan."""

    item: LocalItem
    link: Link | None
    local: IssueFields
    remote: RemoteIssue | None = None  # present when this run read the issue

    @property
    def local_hashes(self) -> GroupHashes:
        """The per-group hashes of what the item renders to locally."""
        return group_hashes(self.local)


@dataclass(frozen=True)
class ItemPlan:
    """What to do for one item: its kinds, the groups to push, pull or leave waiting, and the hashes behind it.

    ``base`` is what the link's stored hash becomes when nothing is written, so an unchanged run still records
    what both sides agree on.
    """

    item: LocalItem
    kinds: frozenset[Kind]
    push: frozenset[str] = frozenset()
    pull: frozenset[str] = frozenset()
    waiting: frozenset[str] = frozenset()
    relink: bool = False
    conflicts: tuple[Conflict, ...] = ()
    local_hashes: GroupHashes | None = None
    base: GroupHashes | None = None  # what the link's hash becomes if nothing is written
    remote_hashes: GroupHashes | None = None
    fields: IssueFields | None = None  # what the item renders to (the values behind local_hashes)

    @property
    def key(self) -> str:
        """The item's key (``PREFIX-123``)."""
        return self.item.key

    @property
    def is_action(self) -> bool:
        """True when the plan writes something to GitHub or to the item (not only waits or stays)."""
        return bool(self.kinds & ACTIONS)


@dataclass(repr=False)
class Plan:
    """The plan for one repository: one ``ItemPlan`` per local item, in load order."""

    items: list[ItemPlan] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Plan({len(self.items)} items: {dict(self.counts())})"

    def counts(self) -> Counter[str]:
        """How many items have each kind (an item with several kinds counts once per kind)."""
        counts: Counter[str] = Counter()
        for plan in self.items:
            for kind in plan.kinds:
                counts[kind.value] += 1
        return counts

    def of(self, *kinds: Kind) -> list[ItemPlan]:
        """The item plans that have any of ``kinds``."""
        wanted = set(kinds)
        return [p for p in self.items if p.kinds & wanted]

    @property
    def conflicts(self) -> list[Conflict]:
        """Every conflict of every item, in item order."""
        return [c for p in self.items for c in p.conflicts]

    def limited(self, limit: int | None) -> Plan:
        """At most ``limit`` items that need work (the rest wait for the next run)."""
        if limit is None:
            return self
        kept, actions = [], 0
        for plan in self.items:
            if plan.is_action:
                if actions >= limit:
                    continue
                actions += 1
            kept.append(plan)
        return Plan(kept)


_UNCHANGED = frozenset({Kind.UNCHANGED})


def plan_item(state: ItemState, *, pull: bool, prefer_remote: bool) -> ItemPlan:
    """The three-way merge for one item: compare local, remote and base hashes per field group.

    The core of the sync (the rules are in the module docstring). Pure: it reads only ``state`` and the two
    flags, so the plan can be shown (``--dry-run``) before anything is written.
    """
    item, link = state.item, state.link
    local_h = state.local_hashes
    if link is None:
        return ItemPlan(item, frozenset({Kind.CREATE}), local_hashes=local_h, fields=state.local)
    if not link.linked:
        return ItemPlan(item, frozenset({Kind.RECOVER}), local_hashes=local_h, fields=state.local)
    if state.remote is None and str(local_h) == link.content_hash:  # the common case, kept cheap
        return ItemPlan(
            item, _UNCHANGED, local_hashes=local_h, base=local_h, remote_hashes=local_h, fields=state.local
        )
    remote_h = group_hashes(state.remote.fields()) if state.remote is not None else None
    base = GroupHashes.parse(link.content_hash) or remote_h
    if base is None:  # a link with no hash and no fresh read: make the remote what local says
        return ItemPlan(
            item,
            frozenset({Kind.UPDATE, Kind.RELINK}),
            push=frozenset(PUSHABLE),
            relink=True,
            local_hashes=local_h,
            base=UNKNOWN,
            fields=state.local,
        )
    if remote_h is None:
        remote_h = base  # not in this read: unchanged since it was last synced
    remote_h = remote_h.with_groups(base, ["edges"])  # edges are not in the listing
    push: set[str] = set()
    pulled: set[str] = set()
    waiting: set[str] = set()
    conflicts: list[Conflict] = []
    for group in PUSHABLE:
        mine, theirs, was = local_h.get(group), remote_h.get(group), base.get(group)
        if mine == theirs:
            continue
        if theirs == was:
            push.add(group)
            continue
        winner = "local" if mine != was and group != "state" and not prefer_remote else "remote"
        if mine != was:
            conflicts.append(Conflict(item.key, group, winner, applied=winner == "local" or pull))
        if winner == "local":
            push.add(group)
        elif pull:
            pulled.add(group)
        else:
            waiting.add(group)
    relink = local_h.edges != base.edges
    kinds: set[Kind] = set()
    if push & {"title", "body", "labels"}:
        kinds.add(Kind.UPDATE)
    if "state" in push:
        kinds.add(Kind.CLOSE if state.local.state == "closed" else Kind.REOPEN)
    if pulled:
        kinds.add(Kind.PULL)
    if waiting:
        kinds.add(Kind.WAITING)
    if relink:
        kinds.add(Kind.RELINK)
    if not kinds:
        kinds.add(Kind.UNCHANGED)
    # Groups where both sides agree become the new base even without a write.
    agreed = [g for g in PUSHABLE if local_h.get(g) == remote_h.get(g)]
    return ItemPlan(
        item,
        frozenset(kinds),
        push=frozenset(push),
        pull=frozenset(pulled),
        waiting=frozenset(waiting),
        relink=relink,
        conflicts=tuple(conflicts),
        local_hashes=local_h,
        base=base.with_groups(local_h, agreed),
        remote_hashes=remote_h,
        fields=state.local,
    )


def build_plan(states: Iterable[ItemState], *, pull: bool = False, prefer_remote: bool = False) -> Plan:
    """``plan_item`` for every item state."""
    return Plan([plan_item(s, pull=pull, prefer_remote=prefer_remote) for s in states])
