"""``ailab sync --watch``: the continuous two-way sync, one process per repository set.

* **Push soon after a local change.** The data revision (one primary-key read, every
  ``revision_check`` seconds) tells that something was written; after ``debounce`` quiet seconds
  (at most ``max_delay`` after the first change) the local items are compared with what was last
  synced (no GitHub request), and only when one differs a sync run pushes it. Runs share one
  rate limiter, so GitHub's write pacing and budgets hold across runs, not only within one.
* **Poll to heal.** Every ``poll_seconds`` a run with ``pull`` reads the conditional listing
  (an unchanged repository costs one request answered 304, which GitHub does not charge): what
  a dropped webhook delivery missed arrives here. A run marked by a ``deleted`` delivery (or by
  the caller) is a full reconciliation.
* **One watcher per repository**, through ``github_watch_locks``: a second one is refused with
  the holder's name; a lock whose heartbeat is older than ``lock_stale_after`` is taken over.
* **Stops cleanly.** ``stop`` (SIGINT/SIGTERM in the CLI) lets the run in flight finish for up
  to ``grace`` seconds, then cancels it; a cancelled create is found again by its marker on the
  next start, so nothing is sent twice. The lock is released on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import httpx
import orjson
from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.db import connect, tables
from ailab.db.revision import read_revision
from ailab.db.tables import utcnow
from ailab.errors import AilabError, GitHubUnavailableError, RateLimitedError
from ailab.sync.config import SyncConfig
from ailab.sync.engine import SyncOptions, run_sync
from ailab.sync.mapping import IssueRef, group_hashes, render
from ailab.sync.ratelimit import RateLimiter
from ailab.sync.store import SyncStore
from ailab.sync.summary import SyncSummary

log = logging.getLogger(__name__)
LOCKS = tables.github_watch_locks
STATUS = tables.github_sync_status
MAX_FAILURES_SHOWN = 50
T = TypeVar("T")


class WatchLockedError(AilabError):
    """Another ``ailab sync --watch`` holds a repository."""


@dataclass(frozen=True)
class WatchOptions:
    """The watcher's timings, in seconds (described above), and ``prefer_remote`` for its runs."""

    poll_seconds: float = 60.0
    debounce: float = 0.5
    max_delay: float = 5.0
    revision_check: float = 0.2
    heartbeat_seconds: float = 10.0
    lock_stale_after: float = 120.0
    grace: float = 30.0
    prefer_remote: bool = False


@dataclass
class WatchReport:
    """What a watcher did until it stopped."""

    runs: int = 0
    pushes: int = 0
    polls: int = 0
    full_runs: int = 0
    skipped_pushes: int = 0  # revision changed but nothing local differed from the last sync
    failures: dict[str, str] = field(default_factory=dict)
    abandoned: bool = False  # a run was cancelled at stop
    summaries: list[SyncSummary] = field(default_factory=list)


def default_holder() -> str:
    """This process as the lock names it (host and pid), so a refused watcher can tell who holds it."""
    return f"{socket.gethostname()} pid {os.getpid()}"


# -- the lock ------------------------------------------------------------------------------------
def acquire_lock(
    engine: Engine,
    repositories: Iterable[str],
    holder: str,
    *,
    stale_after: float,
    now: datetime | None = None,
) -> None:
    """Take every repository's lock or none; ``WatchLockedError`` naming the holder otherwise."""
    now = now or utcnow()
    stale = now - timedelta(seconds=stale_after)
    try:
        with connect(engine, readonly=False) as conn:
            for repository in sorted(set(repositories)):
                row = conn.execute(
                    select(LOCKS.c.holder, LOCKS.c.acquired_at, LOCKS.c.heartbeat_at).where(
                        LOCKS.c.repository == repository
                    )
                ).first()
                if row is None:
                    conn.execute(
                        insert(LOCKS).values(
                            repository=repository, holder=holder, acquired_at=now, heartbeat_at=now
                        )
                    )
                    continue
                other, since, beat = row
                if other != holder and beat > stale:
                    raise WatchLockedError(
                        f"{repository} is already watched by {other} (since {since:%Y-%m-%d %H:%M:%S} UTC, "
                        f"last heartbeat {beat:%H:%M:%S} UTC). Stop that watcher first; a dead one's lock is "
                        f"taken over {stale_after:g} s after its last heartbeat."
                    )
                taken = conn.execute(
                    update(LOCKS)
                    .where(and_(LOCKS.c.repository == repository, LOCKS.c.heartbeat_at == beat))
                    .values(holder=holder, acquired_at=now, heartbeat_at=now)
                )
                if not taken.rowcount:
                    raise WatchLockedError(
                        f"{repository}: another watcher took the lock just now; try again."
                    )
    except sa_exc.IntegrityError:
        raise WatchLockedError(
            "Another watcher took the lock of one of these repositories just now; try again."
        ) from None


def heartbeat(engine: Engine, repositories: Iterable[str], holder: str, now: datetime | None = None) -> bool:
    """Refresh our locks; False when one is no longer ours (taken over after we stalled)."""
    now = now or utcnow()
    repos = sorted(set(repositories))
    with connect(engine, readonly=False) as conn:
        held = conn.execute(
            update(LOCKS)
            .where(and_(LOCKS.c.repository.in_(repos), LOCKS.c.holder == holder))
            .values(heartbeat_at=now)
        )
        return int(held.rowcount) == len(repos)


def release_lock(engine: Engine, repositories: Iterable[str], holder: str) -> None:
    """Drop the locks ``holder`` holds; one taken over by another watcher stays theirs."""
    with connect(engine, readonly=False) as conn:
        conn.execute(
            delete(LOCKS).where(and_(LOCKS.c.repository.in_(list(repositories)), LOCKS.c.holder == holder))
        )


# -- what is pending locally ---------------------------------------------------------------------
def pending_local(store: SyncStore, config: SyncConfig) -> dict[str, int]:
    """Per repository, items whose rendering differs from what was last synced (or never synced).

    The plan's own first test (``local hash == link hash``), without reading GitHub.
    """
    items = store.load_items(lambda url, key: config.repository_for(url, key).full_name)
    links = store.load_links()
    by_id = {i.id: i for i in items}
    refs = {
        by_id[w].key: IssueRef(link.repository, int(link.issue_number), link.node_id)
        for w, link in links.items()
        if link.linked and w in by_id and link.issue_number is not None
    }
    counts: dict[str, int] = {}
    for item in items:
        link = links.get(item.id)
        repository = link.repository if link else item.repository
        counts.setdefault(repository, 0)
        if link is None or not link.linked or str(group_hashes(render(item, refs))) != link.content_hash:
            counts[repository] += 1
    return counts


def repositories_of(store: SyncStore, config: SyncConfig) -> set[str]:
    """The repositories a watcher locks: those of the items and of the links, and the default one."""
    items = store.load_items(lambda url, key: config.repository_for(url, key).full_name)
    repos = {i.repository for i in items} | {link.repository for link in store.load_links().values()}
    if config.default_repo is not None:
        repos.add(config.default_repo.full_name)
    return repos


def needs_full(engine: Engine, repositories: Iterable[str]) -> bool:
    """Whether one of ``repositories`` is marked for a full reconciliation (by a ``deleted`` delivery)."""
    with connect(engine) as conn:
        return bool(
            conn.execute(
                select(STATUS.c.repository).where(
                    and_(STATUS.c.repository.in_(list(repositories)), STATUS.c.needs_full.is_(True))
                )
            ).first()
        )


def write_status(
    engine: Engine,
    repositories: Iterable[str],
    *,
    pushed: bool,
    polled: bool,
    full: bool,
    pending: dict[str, int],
    limiter: RateLimiter,
    failures: dict[str, str],
) -> None:
    """Record a run in ``github_sync_status`` for the status panel; a ``full`` one clears ``needs_full``."""
    now = utcnow()
    remaining, limit, reset = limiter.budget()
    listed = [{"item": k, "reason": v} for k, v in sorted(failures.items())[:MAX_FAILURES_SHOWN]]
    with connect(engine, readonly=False) as conn:
        for repository in sorted(set(repositories)):
            values: dict[str, object] = {
                "pending_local": pending.get(repository, 0),
                "failures": orjson.dumps(listed).decode(),
                "updated_at": now,
            }
            if remaining is not None:
                values |= {"rate_remaining": remaining, "rate_limit": limit, "rate_reset_at": reset}
            if pushed:
                values["last_push_at"] = now
            if polled:
                values["last_pull_at"] = now
                values["last_poll_at"] = now
            if full:
                values["needs_full"] = False
            found = conn.execute(update(STATUS).where(STATUS.c.repository == repository).values(**values))
            if not found.rowcount:
                conn.execute(insert(STATUS).values(repository=repository, needs_full=False, **values))


# -- the loop ------------------------------------------------------------------------------------
class Watcher:
    """``ailab sync --watch`` for the repositories of the items; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        engine: Engine,
        config: SyncConfig,
        options: WatchOptions | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        transport: httpx.AsyncBaseTransport | None = None,
        holder: str | None = None,
        on_run: Callable[[str, SyncSummary], None] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.options = options or WatchOptions()
        self.clock = clock
        self.transport = transport
        self.holder = holder or default_holder()
        self.on_run = on_run
        self.store = SyncStore(engine)
        self.limiter = RateLimiter(config, clock)
        self.report = WatchReport()
        self.repositories: set[str] = set()
        self.started = asyncio.Event()  # set once the locks are held

    async def _db(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn)

    async def run(self, stop: asyncio.Event) -> WatchReport:
        """Watch until ``stop`` is set. Raises ``WatchLockedError`` when another watcher holds a repository."""
        options = self.options
        self.repositories = await self._db(lambda: repositories_of(self.store, self.config))
        await self._db(
            lambda: acquire_lock(
                self.engine, self.repositories, self.holder, stale_after=options.lock_stale_after
            )
        )
        self.started.set()
        try:
            await self._loop(stop)
        finally:
            await self._db(lambda: release_lock(self.engine, self.repositories, self.holder))
        return self.report

    async def _loop(self, stop: asyncio.Event) -> None:
        options, clock = self.options, self.clock
        revision = await self._db(self._revision)
        next_poll = clock.monotonic()  # a first run at once: catch up with both sides
        next_beat = clock.monotonic() + options.heartbeat_seconds
        first_change: float | None = None
        last_change = 0.0
        while not stop.is_set():
            now = clock.monotonic()
            current = await self._db(self._revision)
            if current != revision:
                revision, last_change = current, now
                first_change = first_change if first_change is not None else now
            full = await self._db(lambda: needs_full(self.engine, self.repositories))
            poll_due = now >= next_poll or full
            push_due = first_change is not None and (
                now - last_change >= options.debounce or now - first_change >= options.max_delay
            )
            if poll_due or push_due:
                pending = await self._db(lambda: pending_local(self.store, self.config))
                first_change = None
                if poll_due or any(pending.values()):
                    await self._sync(stop, poll=poll_due, full=full, pending=pending)
                    if self.report.abandoned:
                        return
                    if poll_due:
                        next_poll = clock.monotonic() + options.poll_seconds
                    # Our own run bumped the revision: count it as seen, but let a change made
                    # meanwhile by someone else be found by the pending check next time round.
                    after = await self._db(self._revision)
                    if after != revision:
                        revision, last_change = after, clock.monotonic()
                        first_change = last_change
                else:
                    self.report.skipped_pushes += 1
            if clock.monotonic() >= next_beat:
                ours = await self._db(lambda: heartbeat(self.engine, self.repositories, self.holder))
                if not ours:
                    raise WatchLockedError(
                        "This watcher's lock was taken over by another one (it stalled longer than "
                        f"{options.lock_stale_after:g} s); stopping."
                    )
                next_beat = clock.monotonic() + options.heartbeat_seconds
            await self._pause(stop)

    async def _pause(self, stop: asyncio.Event) -> None:
        """Sleep ``revision_check``; a stop ends it at once (a fake clock just advances)."""
        if self.clock is not SYSTEM_CLOCK:
            await self.clock.sleep(self.options.revision_check)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=self.options.revision_check)

    def _revision(self) -> int:
        with connect(self.engine) as conn:
            return read_revision(conn)

    async def _sync(self, stop: asyncio.Event, *, poll: bool, full: bool, pending: dict[str, int]) -> None:
        options = SyncOptions(pull=True, prefer_remote=self.options.prefer_remote, full=full)
        task = asyncio.create_task(
            run_sync(
                self.engine,
                self.config,
                options,
                clock=self.clock,
                transport=self.transport,
                limiter=self.limiter,
            )
        )
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():  # asked to stop mid-run: let the write in flight finish, up to the grace
                done, _ = await asyncio.wait({task}, timeout=self.options.grace)
                if not done:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    self.report.abandoned = True
                    log.warning(
                        "stopped during a sync run; the next start resumes it (pending creates by marker)"
                    )
                    return
        finally:
            stopper.cancel()
        try:
            summary = task.result()
        except (GitHubUnavailableError, RateLimitedError) as err:  # GitHub away or out of budget: next poll
            log.warning("sync run stopped early (%s); the next poll retries", type(err).__name__)
            self.report.failures = {"(run)": str(err)}
            await self._db(
                lambda: write_status(
                    self.engine, self.repositories, pushed=False, polled=False, full=False,
                    pending=pending, limiter=self.limiter, failures=self.report.failures,
                )
            )  # fmt: skip
            return
        report = self.report
        report.runs += 1
        report.summaries = [*report.summaries[-9:], summary]
        report.polls += int(poll)
        report.full_runs += int(full)
        pushed = bool(summary.writes)
        report.pushes += int(pushed)
        report.failures = dict(summary.failed)
        after = await self._db(lambda: pending_local(self.store, self.config))
        await self._db(
            lambda: write_status(
                self.engine,
                self.repositories,
                pushed=pushed,
                polled=poll,
                full=full,
                pending=after,
                limiter=self.limiter,
                failures=summary.failed,
            )
        )
        if self.on_run is not None:
            self.on_run("poll" if poll else "push", summary)
