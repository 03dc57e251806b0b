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
from collections import defaultdict, deque
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx
from sqlalchemy.engine import Engine

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.db import get_engine
from ailab.errors import GitHubUnavailableError, RateLimitedError
from ailab.sync.apply import Applier
from ailab.sync.client import GitHubClient
from ailab.sync.config import SyncConfig
from ailab.sync.mapping import IssueFields, IssueRef, LocalItem, group_hashes, render
from ailab.sync.plan import ItemState, Kind, Plan, build_plan
from ailab.sync.pull import item_change
from ailab.sync.ratelimit import RateLimiter
from ailab.sync.recovery import (
    Relocation,
    after_run,
    forget_edges_to,
    markers,
    probe_report,
    probe_verdict,
    rebase_lost_labels,
    relocate,
)
from ailab.sync.remote import Listing, RemoteCounts, RemoteIssue, probe_counts, read_listing
from ailab.sync.store import Link, SyncStore
from ailab.sync.summary import Stop, SyncSummary
from ailab.sync.timestamps import format_time

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
        self.moved_in: dict[str, list[LocalItem]] = defaultdict(list)  # repository -> items sent there
        self.recreating: set[str] = set()  # keys whose issue vanished: their next create is a recreate
        self.all_items: list[LocalItem] = []
        self.pass_repository: str | None = None  # the repository pass under way, and its plan
        self.pass_plan: Plan | None = None

    def load(self) -> dict[str, list[LocalItem]]:
        """Read items and links, fill ``all_items``, ``links`` and ``refs``; return the items by repository.

        An item's repository is its link's if it has one, else the one its project or the config names.
        """
        items = self.store.load_items(self.config_repository)
        self.all_items = items
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
        """``owner/name`` an item syncs to, from its project's repository URL or the default."""
        return self.config.repository_for(url, project_key).full_name

    def advance(self, kind: str, count: int) -> None:
        """Report ``count`` more done items of ``kind`` to ``progress`` (if any; a count of 0 is dropped)."""
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
            queue = deque(sorted(by_repo))
            while queue:
                repository = queue.popleft()
                items = by_repo.pop(repository)
                run.pass_repository, run.pass_plan = repository, None
                if run.summary.stop is not None:
                    _left_behind(run, repository, items)
                    continue
                try:
                    await _sync_repository(run, client, repository, items)
                except (RateLimitedError, GitHubUnavailableError) as err:
                    # GitHub stopped us (budget, outage): keep what was done, name what was not.
                    limited = isinstance(err, RateLimitedError)
                    rerun = err.reset_at if isinstance(err, RateLimitedError) else None
                    run.summary.stop = Stop(str(err), limited, rerun)
                    _left_behind(run, repository, items)
                _requeue(run, by_repo, queue)
        finally:
            _account(run.summary, client, started, clock)
    return run.summary


def _requeue(run: _Run, by_repo: dict[str, list[LocalItem]], queue: deque[str]) -> None:
    """Items another repository's pass sent on (transferred, to recreate at home, blocked by
    an issue that vanished): synced in their repository's pass, again if it already ran."""
    for target, sent in run.moved_in.items():
        pending = by_repo.setdefault(target, [])
        if target not in queue:
            queue.append(target)
        have = {i.id for i in pending}
        fresh = _items(run, [i.id for i in sent if i.id not in have])  # as they are now
        pending.extend(fresh)
    run.moved_in.clear()


def _requeue_dependants(run: _Run, repository: str, keys: set[str]) -> None:
    """Items of other repositories blocked by issues this pass created render differently now
    (their dependency links and blocked-by edges): their repository gets a pass (again)."""
    if not keys:
        return
    for item in run.all_items:
        link = run.links.get(item.id)
        where = link.repository if link is not None and link.linked else item.repository
        if where != repository and keys & set(item.depends_on):
            run.moved_in[where].append(item)


def _left_behind(run: _Run, repository: str, items: list[LocalItem]) -> None:
    """Name the items of ``repository`` whose planned work this run did not finish."""
    assert run.summary.stop is not None
    why = f"not attempted: the run stopped early ({run.summary.stop.rerun_hint()})"
    plan = run.pass_plan if run.pass_repository == repository else None
    if plan is None:  # stopped before this repository's pass planned: none of its items was checked
        for item in items:
            if item.key not in run.summary.failed:
                run.summary.left[item.key] = f"not checked: the run stopped before it read {repository}"
        return
    planned = {p.key for p in plan.items if p.is_action}
    for item in _items(run, [i.id for i in items]):  # as they are now (a pull may have changed them)
        if item.key not in planned:
            continue
        link = run.links.get(item.id)
        settled = (
            link is not None
            and link.linked
            and link.content_hash == str(group_hashes(render(item, run.refs)))
        )
        if not settled and item.key not in run.summary.failed:
            run.summary.left[item.key] = why


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
    run: _Run, client: GitHubClient, repository: str, watermark: datetime | None, *, reconcile: bool = False
) -> tuple[Listing, bool]:
    """The listing this run plans from, and whether it is complete (every page was read).

    A complete read (``--full``, a reconciliation, a first sync or a lost links table) sends no
    ``If-None-Match``: an old ETag must not hide a different remote.
    """
    # No watermark yet, or no issue linked here (a lost links table): read everything, adopt by marker.
    linked_here = any(link.repository == repository and link.linked for link in run.links.values())
    full = reconcile or run.options.full or watermark is None or not linked_here
    if full:
        params = {"state": "all", "sort": "created", "direction": "asc"}
        return await read_listing(client, repository, params, FULL_PREFIX, {}), True
    assert watermark is not None
    since = format_time(watermark)
    params = {"state": "all", "sort": "updated", "direction": "asc", "since": since}
    stored = run.store.pages(repository, SINCE_PREFIX)
    return await read_listing(client, repository, params, f"{SINCE_PREFIX}{since}:", stored), False


async def _probe(
    run: _Run, client: GitHubClient, repository: str, listing: Listing, full: bool
) -> tuple[RemoteCounts, str | None]:
    """The drift probe: one request; a reason to reconcile, or ``None``."""
    sent = client.stats.requests
    counts = await probe_counts(client, repository)
    kept = run.store.remote_counts(repository)
    baseline = RemoteCounts.unpack(*kept) if kept else None
    verdict = None if full else probe_verdict(baseline, counts, listing)
    run.summary.probe[repository] = probe_report(
        verdict,
        counts,
        full=full,
        reconciled=full or verdict is not None,
        requests=client.stats.requests - sent,
    )
    return counts, verdict


async def _sync_repository(run: _Run, client: GitHubClient, repository: str, items: list[LocalItem]) -> None:
    options, store = run.options, run.store
    watermark = store.watermark(repository)
    listing, full = await _read(run, client, repository, watermark)
    counts, disagreement = await _probe(run, client, repository, listing, full)
    if disagreement is not None:  # GitHub is not what the last run left: reconcile, without ETags
        listing, full = await _read(run, client, repository, watermark, reconcile=True)
    applier = Applier(client, store, run.config, run.clock, repository, run.refs, run.links, run.advance)
    applier.seed_repository_id(counts.repository_id)
    applier.recreating = run.recreating
    lost: list[LocalItem] = []
    if not options.dry_run:
        _adopt_marked(run, applier, items, listing)
        pending = [(i, run.links[i.id]) for i in items if i.id in run.links and not run.links[i.id].linked]
        lost = await applier.recover(pending)
        if full and listing.stable:
            recreated = disagreement is not None and "recreated" in disagreement
            items, gone = await _reconcile(run, applier, items, listing, look_up=not recreated)
            lost += gone
        elif full:  # issues moved while we paged: absence from this listing proves nothing
            for item in items:
                link = run.links.get(item.id)
                if link is not None and link.linked and link.issue_number not in listing.issues:
                    run.summary.left[item.key] = (
                        "not verified: GitHub's listing changed while it was read; rerun"
                    )
    _check_markers(run, repository, items, listing)
    plan = build_plan(
        _states(run, items, listing.issues), pull=options.pull, prefer_remote=options.prefer_remote
    )
    plan = plan.limited(options.limit)
    run.pass_plan = plan
    earlier = run.summary.plans.get(repository)
    run.summary.plans[repository] = Plan(earlier.items + plan.items) if earlier else plan
    run.summary.conflicts.extend(plan.conflicts)
    run.summary.waiting += len(plan.of(Kind.WAITING))
    if options.dry_run:
        run.summary.unchanged += sum(1 for p in plan.items if p.kinds == {Kind.UNCHANGED})
        return
    try:
        await _act(run, client, applier, repository, items, plan, listing, lost)
    finally:  # what was done is counted even when GitHub stopped the run part-way
        run.summary.add(applier.outcome)
        _requeue_dependants(run, repository, applier.created_now)
    _advance_watermark(run, repository, watermark, listing, full, plan)
    if not applier.vanished and (listing.stable or not full):
        store.save_remote_counts(repository, *after_run(counts, applier).pack())


async def _reconcile(
    run: _Run, applier: Applier, items: list[LocalItem], listing: Listing, *, look_up: bool = True
) -> tuple[list[LocalItem], list[LocalItem]]:
    """A complete listing: prove every linked issue exists (or find it), each marker is on one
    issue, and labels deleted on GitHub are put back. Returns the items still synced here and
    those whose issue is gone (to create again)."""
    repository = applier.repository
    lost_labels = await applier.reload_labels()
    rebase_lost_labels(run.links, items, run.refs, listing, lost_labels)
    missing = [
        i for i in items
        if (link := run.links.get(i.id)) is not None and link.linked and link.repository == repository
        and link.issue_number not in listing.issues
    ]  # fmt: skip
    found = await relocate(applier, missing, look_up=look_up) if missing else Relocation()
    return _follow(run, applier, found, items)


def _follow(
    run: _Run, applier: Applier, result: Relocation, here: list[LocalItem]
) -> tuple[list[LocalItem], list[LocalItem]]:
    """Act on a relocation: transferred items go to their new repository's pass, items whose
    issue is gone are created again in their own repository, and the items blocked by any of
    them relink. Returns the items still synced here and those to create here."""
    away: set[int] = set()
    create_here = []
    for item in result.moved:
        run.moved_in[run.links[item.id].repository].append(item)
        away.add(item.id)
    for item in result.gone:
        if item.repository == applier.repository:
            create_here.append(item)
        else:  # it had followed a transfer: its new issue belongs in its own repository
            run.moved_in[item.repository].append(item)
            away.add(item.id)
    changed = {i.key for i in (*result.moved, *result.gone, *result.found)}
    stale = forget_edges_to(run.links, run.all_items, changed)
    run.store.update_hashes(
        [(wid, str(run.links[wid].content_hash), run.links[wid].remote_updated_at) for wid in stale]
    )
    here_ids = {i.id for i in here}
    for item in run.all_items:
        if item.id in stale and item.id not in here_ids:
            run.moved_in[run.links[item.id].repository].append(item)
    return [i for i in here if i.id not in away], create_here


async def _act(
    run: _Run,
    client: GitHubClient,
    applier: Applier,
    repository: str,
    items: list[LocalItem],
    plan: Plan,
    listing: Listing,
    lost: list[LocalItem],
) -> None:
    options = run.options
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
    vanished = _vanished(run, applier, items)
    if vanished:  # GitHub no longer resolves their issues: find them again, or create new ones
        items, create_here = _follow(run, applier, await relocate(applier, vanished), items)
        allowed |= {i.key for i in items}  # recreated issues change their dependants' bodies and edges
        await _create(run, applier, Plan(), create_here)
        push_plan = _replan(run, items, listing, allowed)
        await _push(run, applier, push_plan)
    run.summary.unchanged += sum(1 for p in push_plan.items if p.kinds == {Kind.UNCHANGED})


def _check_markers(run: _Run, repository: str, items: list[LocalItem], listing: Listing) -> None:
    """Every issue read that carries a marker: one per item (else the item fails, named), and
    markers of items we do not have are reported as orphans."""
    by_key = {i.key: i for i in items}
    for key, numbers in markers(listing).items():
        item = by_key.get(key)
        link = run.links.get(item.id) if item is not None else None
        if item is None:
            if key not in run.refs:  # an item of ours synced to another repository is no orphan
                orphans = run.summary.probe[repository].setdefault("orphans", [])
                orphans.extend(f"#{n}: {key}" for n in numbers)
            continue
        if link is None or not link.linked or link.repository != repository:
            continue
        extra = sorted(n for n in numbers if n != link.issue_number)
        if extra:
            run.summary.failed[key] = (
                f"its marker is also on {', '.join(f'#{n}' for n in extra)} in {repository}: close that "
                "issue or remove the marker from it (the sync never deletes issues)"
            )


def _vanished(run: _Run, applier: Applier, items: list[LocalItem]) -> list[LocalItem]:
    """Items whose issue node a mutation could not resolve (their own, or as a blocker)."""
    by_node = {link.node_id: wid for wid, link in run.links.items() if link.node_id}
    ids = set(applier.vanished) | {by_node[n] for n in applier.vanished_nodes if n in by_node}
    applier.vanished_nodes.clear()
    return [i for i in items if i.id in ids]


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
            changes.append((item_plan.key, change))
        assert item_plan.base is not None and item_plan.remote_hashes is not None
        rows.append(
            (
                item_plan.key,
                link.work_item_id,
                str(item_plan.base.with_groups(item_plan.remote_hashes, item_plan.pull)),
                remote.updated_at,
            )
        )
    rejected = run.store.apply_item_changes(changes, clock=run.clock)
    applier.outcome.failed.update(rejected)
    applier.record(
        [(wid, content_hash, stamp) for key, wid, content_hash, stamp in rows if key not in rejected]
    )
    run.summary.pulled += len(changes) - len(rejected)
    run.advance("pull", len(rows) - len(rejected))


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
