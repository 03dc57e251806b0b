"""``run_sync``: read GitHub, plan, then apply: the whole sync, one repository at a time.

Per repository:

1. **Read** what changed on GitHub since the watermark (``github_sync_state.pulled_until``):
   ``state=all&sort=updated&since=...`` pages with stored ETags, so a repository where nothing
   changed costs one request answering 304. The first sync of a repository (or ``full=True``)
   reads every page instead, and adopts issues that already carry an item's marker.
2. **Recover** pending creates of an interrupted run by looking for their markers.
3. **Plan** (``ailab.sync.plan``): create / update / close / reopen / relink / pull / nothing.
   A dry run stops here.
4. **Pull** (with ``pull=True``): write remote changes into the database, then re-plan.
5. **Apply** (``ailab.sync.apply``): labels, creates, batched updates, edges.
6. Move the watermark past what was read, unless a remote change was left waiting (push-only
   runs never drop a remote change: it is read again until it is pulled).
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx
from sqlalchemy.engine import Engine

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.db import get_engine
from ailab.sync.apply import Applier, Outcome
from ailab.sync.client import GitHubClient
from ailab.sync.config import SyncConfig
from ailab.sync.mapping import IssueFields, IssueRef, LocalItem, render
from ailab.sync.plan import Conflict, ItemState, Kind, Plan, build_plan
from ailab.sync.pull import item_change
from ailab.sync.ratelimit import RateLimiter
from ailab.sync.remote import Listing, RemoteIssue, format_time, read_listing
from ailab.sync.store import Link, SyncStore

T = TypeVar("T")
FULL_PREFIX = "all:"
SINCE_PREFIX = "since:"
SAFETY = timedelta(seconds=1)  # re-read the last second: `since` may be exclusive on some servers
SERVER_MARGIN = timedelta(seconds=2)  # clock skew between GitHub's servers, and a second still in progress


@dataclass(frozen=True)
class SyncOptions:
    """What one ``ailab sync`` run is asked to do (the CLI's flags)."""

    dry_run: bool = False
    pull: bool = False
    prefer_remote: bool = False
    limit: int | None = None  # act on at most this many items (per repository)
    full: bool = False  # read every page, not just what changed since the watermark


class SyncProgress(Protocol):
    """Receives progress (the CLI's progress bar); the sync works without one."""

    def planned(self, repository: str, plan: Plan, eta_seconds: float) -> None:
        """A repository's plan is made; ``eta_seconds`` is the estimate from the write budget."""

    def advance(self, kind: str, count: int) -> None:
        """``count`` more items of ``kind`` are done."""


@dataclass(repr=False)
class SyncSummary:
    """What a sync run did (or, for a dry run, would do)."""

    dry_run: bool = False
    created: int = 0
    adopted: int = 0
    updated: int = 0
    closed: int = 0
    reopened: int = 0
    relinked: int = 0
    edges_added: int = 0
    edges_removed: int = 0
    pulled: int = 0
    unchanged: int = 0
    waiting: int = 0
    items: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    reads: int = 0
    writes: int = 0
    not_modified: int = 0
    write_requests: int = 0
    items_written: int = 0
    rate_limit_waits: int = 0
    rate_limit_seconds: float = 0.0
    refusals: int = 0  # 403/429/RATE_LIMITED answers GitHub gave (each was waited out and retried)
    pacing_seconds: float = 0.0
    seconds: float = 0.0
    plans: dict[str, Plan] = field(default_factory=dict)
    creation_grants: list[tuple[float, int]] = field(
        default_factory=list
    )  # (seconds into the run, creations)
    write_starts: list[float] = field(default_factory=list)  # seconds into the run of each write

    def __repr__(self) -> str:
        # Short on purpose: asyncio may repr the task holding this (10,000 plans) as its result.
        return (
            f"SyncSummary(items={self.items}, created={self.created}, updated={self.updated}, "
            f"unchanged={self.unchanged}, requests={self.requests}, seconds={self.seconds:.2f})"
        )

    def add(self, outcome: Outcome) -> None:
        """Add one repository's outcome to the run's totals."""
        for name in (
            "created", "adopted", "updated", "closed", "reopened", "relinked", "edges_added",
            "edges_removed", "write_requests", "items_written",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(outcome, name))
        self.failed.update(outcome.failed)

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        if self.dry_run:
            counts: dict[str, int] = {}
            for plan in self.plans.values():
                for kind, n in plan.counts().items():
                    counts[kind] = counts.get(kind, 0) + n
            planned = [(f"would {kind}" if kind not in ("unchanged", "waiting") else kind, f"{n:,}")
                       for kind, n in sorted(counts.items())]  # fmt: skip
            return [("items", f"{self.items:,}"), *planned, *self._cost_rows()]
        rows = [
            ("items", f"{self.items:,}"),
            (
                "created",
                f"{self.created:,}" + (f" (+{self.adopted:,} found by marker)" if self.adopted else ""),
            ),
            ("updated", f"{self.updated:,}"),
            ("closed / reopened", f"{self.closed:,} / {self.reopened:,}"),
            ("relinked (edges +/-)", f"{self.relinked:,} ({self.edges_added:,} / {self.edges_removed:,})"),
            ("pulled", f"{self.pulled:,}"),
            ("unchanged", f"{self.unchanged:,}"),
        ]
        if self.waiting:
            rows.append(("changed on GitHub, not pulled", f"{self.waiting:,} (run with --pull)"))
        rows += self._cost_rows()
        if self.failed:
            rows.append(("failed", f"{len(self.failed):,}"))
        return rows

    def _cost_rows(self) -> list[tuple[str, str]]:
        return [
            ("requests (reads / writes, 304s)",
             f"{self.requests:,} ({self.reads:,} / {self.writes:,}, {self.not_modified:,})"),
            ("waits on rate limits", f"{self.rate_limit_waits} ({self.rate_limit_seconds:.1f} s)"),
            ("time", f"{self.seconds:.2f} s"),
        ]  # fmt: skip


class _Run:
    """State shared by the repositories of one run."""

    def __init__(
        self,
        store: SyncStore,
        config: SyncConfig,
        options: SyncOptions,
        clock: Clock,
        progress: SyncProgress | None,
    ) -> None:
        self.store = store
        self.config = config
        self.options = options
        self.clock = clock
        self.progress = progress
        self.summary = SyncSummary(dry_run=options.dry_run)
        self.links: dict[int, Link] = {}
        self.refs: dict[str, IssueRef] = {}

    def load(self) -> dict[str, list[LocalItem]]:
        items = self.store.load_items(self.config_repository)
        self.links = self.store.load_links()
        by_id = {i.id: i for i in items}
        self.refs = {
            by_id[wid].key: IssueRef(link.repository, int(link.issue_number), link.node_id)
            for wid, link in self.links.items()
            if link.linked and wid in by_id and link.issue_number is not None
        }
        by_repo: dict[str, list[LocalItem]] = defaultdict(list)
        for item in items:
            link = self.links.get(item.id)
            by_repo[link.repository if link else item.repository].append(item)
        return by_repo

    def config_repository(self, url: str | None, project_key: str | None) -> str:
        return self.config.repository_for(url, project_key).full_name

    def advance(self, kind: str, count: int) -> None:
        if self.progress is not None and count:
            self.progress.advance(kind, count)


async def run_sync(
    engine: Engine | str | None,
    config: SyncConfig,
    options: SyncOptions | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: SyncProgress | None = None,
    limiter: RateLimiter | None = None,
) -> SyncSummary:
    """Sync every work item with its GitHub issue. See the module docstring for the steps.

    ``limiter``: share one across runs (``sync --watch``) so pacing and budgets span them."""
    options = options or SyncOptions()
    db = engine if isinstance(engine, Engine) else get_engine(engine)
    run = _Run(SyncStore(db), config, options, clock, progress)
    started = clock.monotonic()
    by_repo = run.load()
    run.summary.items = sum(len(v) for v in by_repo.values())
    async with GitHubClient(config, clock=clock, transport=transport, limiter=limiter) as client:
        try:
            for repository in sorted(by_repo):
                await _sync_repository(run, client, repository, by_repo[repository])
        finally:
            _account(run.summary, client, started, clock)
    return run.summary


def sync(
    engine: Engine | str | None, config: SyncConfig, options: SyncOptions | None = None, **kwargs: Any
) -> SyncSummary:
    """``run_sync`` for callers without an event loop (or inside one, such as Jupyter)."""
    return run_blocking(run_sync(engine, config, options, **kwargs))


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``; from inside a running loop (a notebook), in a worker thread instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ailab-sync") as pool:
        return pool.submit(asyncio.run, coro).result()


def _account(summary: SyncSummary, client: GitHubClient, started: float, clock: Clock) -> None:
    stats, limiter = client.stats, client.limiter.stats
    summary.requests, summary.reads, summary.writes = stats.requests, stats.reads, stats.writes
    summary.not_modified = stats.not_modified
    summary.rate_limit_waits = limiter.rate_limit_waits
    summary.refusals = limiter.refusals
    summary.rate_limit_seconds = limiter.rate_limit_seconds
    summary.pacing_seconds = limiter.pacing_seconds
    summary.seconds = clock.monotonic() - started
    summary.creation_grants = [(t - started, n) for t, n in limiter.creates]
    summary.write_starts = [t - started for t in limiter.write_starts]


def _items(run: _Run, ids: Iterable[int]) -> list[LocalItem]:
    wanted = set(ids)
    return [i for i in run.store.load_items(run.config_repository) if i.id in wanted]


def _states(run: _Run, items: list[LocalItem], remote: dict[int, RemoteIssue]) -> list[ItemState]:
    states = []
    for item in items:
        link = run.links.get(item.id)
        fresh = remote.get(link.issue_number) if link and link.issue_number is not None else None
        states.append(ItemState(item, link, render(item, run.refs), fresh))
    return states


async def _read(
    run: _Run, client: GitHubClient, repository: str, watermark: datetime | None
) -> tuple[Listing, bool]:
    # No watermark yet, or no issue linked here (a lost links table): read everything, adopt by marker.
    linked_here = any(link.repository == repository and link.linked for link in run.links.values())
    full = run.options.full or watermark is None or not linked_here
    if full:
        params = {"state": "all", "sort": "created", "direction": "asc"}
        prefix = FULL_PREFIX
    else:
        assert watermark is not None
        since = format_time(watermark)
        params = {"state": "all", "sort": "updated", "direction": "asc", "since": since}
        prefix = f"{SINCE_PREFIX}{since}:"
    stored = run.store.pages(repository, FULL_PREFIX if full else SINCE_PREFIX)
    return await read_listing(client, repository, params, prefix, stored), full


async def _sync_repository(run: _Run, client: GitHubClient, repository: str, items: list[LocalItem]) -> None:
    options, store = run.options, run.store
    watermark = store.watermark(repository)
    listing, full = await _read(run, client, repository, watermark)
    applier = Applier(client, store, run.config, run.clock, repository, run.refs, run.links, run.advance)
    lost: list[LocalItem] = []
    if not options.dry_run:
        _adopt_marked(run, applier, items, listing)
        pending = [(i, run.links[i.id]) for i in items if i.id in run.links and not run.links[i.id].linked]
        lost = await applier.recover(pending)
    plan = build_plan(
        _states(run, items, listing.issues), pull=options.pull, prefer_remote=options.prefer_remote
    )
    plan = plan.limited(options.limit)
    run.summary.plans[repository] = plan
    run.summary.conflicts.extend(plan.conflicts)
    run.summary.waiting += len(plan.of(Kind.WAITING))
    if options.dry_run:
        run.summary.unchanged += sum(1 for p in plan.items if p.kinds == {Kind.UNCHANGED})
        return
    if run.progress is not None:
        run.progress.planned(repository, plan, _eta(run, client, plan))
    allowed = {p.key for p in plan.items if p.is_action} | {i.key for i in lost}
    if options.pull and plan.of(Kind.PULL):
        _pull(run, applier, plan, listing)
        items = _items(run, [i.id for i in items])
    # Nodes first: every create, blockers before the items they block...
    await _create(run, applier, plan, lost)
    # ...then, with every issue number known, updates and edges planned afresh.
    changed = bool(applier.created_now or (options.pull and plan.of(Kind.PULL)))
    push_plan = _replan(run, items, listing, allowed) if changed else plan
    await _push(run, applier, push_plan)
    run.summary.unchanged += sum(1 for p in push_plan.items if p.kinds == {Kind.UNCHANGED})
    run.summary.add(applier.outcome)
    _advance_watermark(run, repository, watermark, listing, full, plan)


def _adopt_marked(run: _Run, applier: Applier, items: list[LocalItem], listing: Listing) -> None:
    """Unlinked items whose marker is on an issue we read: link them instead of creating."""
    taken = {link.issue_number for link in run.links.values() if link.repository == applier.repository}
    marked: dict[str, RemoteIssue] = {}
    for issue in listing.issues.values():
        key = issue.marker
        if key and (key not in marked or issue.number < marked[key].number):
            marked[key] = issue
    pairs = [
        (item, marked[item.key])
        for item in items
        if item.id not in run.links and item.key in marked and marked[item.key].number not in taken
    ]
    if pairs:
        applier.adopt(pairs)


def _replan(run: _Run, items: list[LocalItem], listing: Listing, allowed: set[str]) -> Plan:
    plan = build_plan(
        _states(run, items, listing.issues), pull=False, prefer_remote=run.options.prefer_remote
    )
    if run.options.limit is None:
        return plan
    return Plan([p for p in plan.items if not p.is_action or p.key in allowed])


def _pull(run: _Run, applier: Applier, plan: Plan, listing: Listing) -> None:
    changes, rows = [], []
    for item_plan in plan.of(Kind.PULL):
        link = run.links[item_plan.item.id]
        remote = listing.issues[int(link.issue_number or 0)]
        change = item_change(item_plan.item, remote, item_plan.pull)
        if change is not None:
            changes.append(change)
        assert item_plan.base is not None and item_plan.remote_hashes is not None
        rows.append(
            (
                link.work_item_id,
                str(item_plan.base.with_groups(item_plan.remote_hashes, item_plan.pull)),
                remote.updated_at,
            )
        )
    run.store.apply_item_changes(changes)
    applier.record(rows)
    run.summary.pulled += len(changes)
    run.advance("pull", len(rows))


async def _create(run: _Run, applier: Applier, plan: Plan, lost: list[LocalItem]) -> None:
    creates = [p.item for p in plan.of(Kind.CREATE)]
    seen = {i.id for i in creates}
    creates += [i for i in lost if i.id not in seen]
    if not creates:
        return
    await applier.ensure_labels({n for i in creates for n in render(i, run.refs).labels})
    await applier.create(creates)


async def _push(run: _Run, applier: Applier, plan: Plan) -> None:
    fields: dict[str, IssueFields] = {p.key: p.fields for p in plan.items if p.fields is not None}
    updates = [p for p in plan.items if p.push and p.item.id in run.links]
    labels = {n for p in updates if "labels" in p.push for n in fields[p.key].labels}
    if labels:
        await applier.ensure_labels(labels)
    await applier.update(updates, fields)
    await applier.relink([p.item for p in plan.items if p.relink and p.item.id in run.links], fields)
    agreed = []
    for p in plan.items:
        link = run.links.get(p.item.id)
        unwritten = not p.push and not p.relink and p.base is not None
        if unwritten and link is not None and link.linked and str(p.base) != link.content_hash:
            agreed.append((p.item.id, str(p.base), link.remote_updated_at))
    applier.record(agreed)


def _eta(run: _Run, client: GitHubClient, plan: Plan) -> float:
    config = run.config
    creates = len(plan.of(Kind.CREATE, Kind.RECOVER))
    writes = len([p for p in plan.items if p.push])
    relinks = len(plan.of(Kind.RELINK))
    requests = math.ceil(writes / config.batch_size) + math.ceil(relinks / config.batch_size)
    return client.limiter.creation.seconds_for(creates) + requests * config.write_interval


def _advance_watermark(
    run: _Run, repository: str, watermark: datetime | None, listing: Listing, full: bool, plan: Plan
) -> None:
    waiting = {run.links[p.item.id].issue_number for p in plan.of(Kind.WAITING) if p.item.id in run.links}
    waiting_times = [listing.issues[n].updated_at for n in waiting if n in listing.issues]
    new = watermark
    if listing.stable:
        if waiting_times:
            new = min(t for t in waiting_times if t is not None) - SAFETY
        elif listing.high_water is not None:
            candidate = listing.high_water - SAFETY
            if listing.server_time is not None:  # all changes before the read began were listed
                candidate = max(candidate, listing.server_time - SERVER_MARGIN)
            new = candidate if watermark is None else max(watermark, candidate)
    run.store.save_watermark(repository, new, pushed=True)
    waiting_pages = {listing.page_of[n] for n in waiting if n in listing.page_of}
    if full:
        pages = {k: v for k, v in listing.pages.items() if k not in waiting_pages}
        run.store.save_pages(repository, pages, replace_prefix=FULL_PREFIX)
    elif new == watermark and listing.stable and not waiting:
        run.store.save_pages(repository, listing.pages, replace_prefix=SINCE_PREFIX)
    else:
        run.store.save_pages(repository, {}, replace_prefix=SINCE_PREFIX)
