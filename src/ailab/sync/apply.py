"""Carrying out a plan: labels, creates, batched updates and blocked-by edges, in that order.

* **Creates** go in dependency order (an item's blockers first, so its body can link them) as
  aliased ``createIssue`` mutations, as many per request as the creation budget hands out.
  Before each request the items get a *pending* link, committed; after the answer, the issue
  numbers are committed. After an ambiguous answer (timeout, reset, 5xx) nothing is resent:
  the items' markers are looked for among the newest issues, what is found is adopted, and
  only what is not found is created again. So a crash at any point, followed by another run,
  leaves exactly one issue per item.
* **Updates** (title/body/labels, close, reopen) go as aliased mutations, ``batch_size`` items
  per request, each request through the paced write lane. Items whose mutations failed are
  retried in later rounds; the rest of their chunk is kept.
* **Edges**: two phases. Nodes first (every create above), then the blocked-by relations of
  items whose edge set changed, diffed against the relations GitHub has, so only changed edges
  are written.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from ailab.clock import Clock
from ailab.errors import AmbiguousWriteError, GitHubError, GitHubUnavailableError
from ailab.sync import mutations as m
from ailab.sync.client import GitHubClient
from ailab.sync.config import SyncConfig
from ailab.sync.mapping import (
    GroupHashes,
    IssueFields,
    IssueRef,
    LocalItem,
    group_hashes,
    label_color,
    render,
)
from ailab.sync.plan import ItemPlan
from ailab.sync.remote import RemoteIssue, find_markers, list_labels, read_edges, repository_id
from ailab.sync.store import Link, LinkedIssue, SyncStore
from ailab.sync.timestamps import parse_time

log = logging.getLogger(__name__)

ROUNDS = 3  # attempts per item for updates and edges within one run
UNAVAILABLE_IN_A_ROW = 3  # write chunks GitHub failed past the client's retries before the run stops
T = TypeVar("T")
CREATE_TRIES = 3
_UNRESOLVED = re.compile(r"global id of '([^']+)'")


def unresolved_node(error: dict[str, object] | None) -> str | None:
    """The node id a GraphQL ``NOT_FOUND`` error could not resolve (a deleted issue or label)."""
    if not error or error.get("type") != "NOT_FOUND":
        return None
    found = _UNRESOLVED.search(str(error.get("message", "")))
    return found.group(1) if found else None


@dataclass
class Outcome:
    """What applying did, for the summary."""

    created: int = 0
    recreated: int = 0
    adopted: int = 0
    moved: int = 0
    updated: int = 0
    closed: int = 0
    reopened: int = 0
    edges_added: int = 0
    edges_removed: int = 0
    relinked: int = 0
    write_requests: int = 0
    items_written: int = 0  # items carried by update/edge write requests
    failed: dict[str, str] = field(default_factory=dict)  # key -> why
    done: set[str] = field(default_factory=set)  # keys whose planned writes all finished
    recreated_keys: set[str] = field(default_factory=set)


Advance = Callable[[str, int], None]


def _no_progress(_kind: str, _n: int) -> None:
    return None


def sent_hashes(fields: IssueFields) -> GroupHashes:
    """Hashes of what a new issue holds: the rendered title, body and labels, open, no edges yet."""
    return group_hashes(replace(fields, state="open", state_reason=None, edges=frozenset()))


def adopted_hashes(issue: RemoteIssue) -> GroupHashes:
    """Base for an issue found by its marker: its fields as read; edges unknown (read when needed)."""
    return group_hashes(replace(issue.fields(), edges=frozenset()))


def dependency_order(items: list[LocalItem]) -> list[LocalItem]:
    """Blockers before the items they block (Kahn's algorithm; cycles keep id order)."""
    by_key = {i.key: i for i in items}
    waiting = {i.key: sum(1 for d in i.depends_on if d in by_key) for i in items}
    dependants: dict[str, list[str]] = {}
    for item in items:
        for dep in item.depends_on:
            if dep in by_key:
                dependants.setdefault(dep, []).append(item.key)
    ready = deque(i.key for i in items if waiting[i.key] == 0)
    ordered: list[LocalItem] = []
    done: set[str] = set()
    while ready:
        key = ready.popleft()
        ordered.append(by_key[key])
        done.add(key)
        for other in dependants.get(key, ()):
            waiting[other] -= 1
            if waiting[other] == 0:
                ready.append(other)
    ordered.extend(i for i in items if i.key not in done)
    return ordered


class Applier:
    """Writes one repository's share of a plan."""

    def __init__(
        self,
        client: GitHubClient,
        store: SyncStore,
        config: SyncConfig,
        clock: Clock,
        repository: str,
        refs: dict[str, IssueRef],
        links: dict[int, Link],
        advance: Advance = _no_progress,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.clock = clock
        self.repository = repository
        self.refs = refs  # key -> issue, updated as issues are created
        self.links = links  # work_item_id -> link, updated likewise
        self.advance = advance
        self.outcome = Outcome()
        self.created_now: set[str] = set()  # keys created in this run: no edges yet
        self.created_numbers: list[int] = []  # numbers of the issues this run created
        self.labels_created = 0
        self.vanished: dict[int, LocalItem] = {}  # items whose issue node GitHub no longer resolves
        self.recreating: set[str] = set()  # keys whose vanished issue is being replaced
        self._labels_stale = False  # a cached label node id did not resolve: re-read them by name
        self.vanished_nodes: set[str] = set()  # other issues' node ids that no longer resolve
        self._edges_unfinished: set[str] = set()
        self._unavailable_in_a_row = 0
        self._repo_id: str | None = None
        self._labels: dict[str, str] | None = None

    # -- labels --------------------------------------------------------------------------------
    async def ensure_labels(self, names: Iterable[str]) -> None:
        """Create the labels that do not exist yet (each once; cached in ``github_labels``)."""
        wanted = {n for n in names}
        if self._labels is None:
            self._labels = self.store.labels(self.repository)
        missing = {n for n in wanted if n.lower() not in self._labels}
        if missing and not self._labels:  # nothing cached: learn what the repository has
            found = await list_labels(self.client, self.repository)
            self.store.save_labels(self.repository, found)
            self._labels.update({n.lower(): i for n, i in found.items()})
            missing = {n for n in missing if n.lower() not in self._labels}
        queue = sorted(missing)
        refused: list[str] = []
        while queue:
            await self.client.limiter.write_ready()
            granted = await self.client.limiter.creation.acquire(min(self.config.batch_size, len(queue)))
            chunk, queue = queue[:granted], queue[granted:]
            refused += await self._create_labels(chunk)
        if refused:  # "already exists" (or a lost answer): GitHub's list is the truth
            every = await list_labels(self.client, self.repository)
            found = {n: i for n, i in every.items() if n.lower() in {r.lower() for r in refused}}
            self.store.save_labels(self.repository, found)
            self._labels.update({n.lower(): i for n, i in found.items()})
            still = [r for r in refused if r.lower() not in self._labels]
            if still:
                raise GitHubError(f"Could not create the labels {', '.join(still)} in {self.repository}.")

    async def _create_labels(self, names: list[str]) -> list[str]:
        """One aliased ``createLabel`` request; returns the names that did not come back."""
        assert self._labels is not None
        repo_id = await self.repository_id()
        batch = m.Batch()
        for name in names:
            batch.add(m.CREATE_LABEL, m.label_input(repo_id, name, label_color(name)), name)
        query, variables = batch.document()
        self.outcome.write_requests += 1
        try:
            answer = await self.client.graphql(query, variables, mutation=True)
        except GitHubUnavailableError:
            return names
        created = {}
        for alias in batch.owner:
            label = (answer.data.get(alias) or {}).get("label")
            if isinstance(label, dict):
                created[str(label["name"])] = str(label["id"])
        self.store.save_labels(self.repository, created)
        self.labels_created += len(created)
        self._labels.update({n.lower(): i for n, i in created.items()})
        return [n for n in names if n.lower() not in self._labels]

    async def reload_labels(self) -> set[str]:
        """Re-read the repository's labels by name, replacing the cache.

        Returns the lower-case names cached before that GitHub no longer has under the cached
        node id (deleted, or deleted and made again): their issues lost them.
        """
        cached = self.store.labels(self.repository)
        found = await list_labels(self.client, self.repository)
        present = {n.lower(): i for n, i in found.items()}
        lost = {n for n, i in cached.items() if present.get(n) != i}
        self.store.forget_labels(self.repository, lost)
        self.store.save_labels(self.repository, found)
        self._labels = present
        self._labels_stale = False
        return lost

    async def _refresh_labels(self, names: Iterable[str]) -> None:
        """After a label node id did not resolve: look labels up by name again, create the missing."""
        if self._labels_stale:
            await self.reload_labels()
            await self.ensure_labels(names)

    def _note_unresolved(self, error: dict[str, object] | None, item: LocalItem, node: str | None) -> bool:
        """Sort out a ``NOT_FOUND``: the item's issue vanished (True), or a label did (retry)."""
        missing = unresolved_node(error)
        if missing is None:
            return False
        if node is not None and missing == node:
            self.vanished[item.id] = item
            return True
        self._labels_stale = True  # the mutation's other node ids are labels: look them up by name
        return False

    def label_ids(self, fields: IssueFields) -> list[str]:
        """The node ids of an issue's labels (all created beforehand by ``ensure_labels``)."""
        assert self._labels is not None
        return sorted(self._labels[n.lower()] for n in fields.labels)

    def seed_repository_id(self, node_id: str) -> None:
        """The repository's node id, when the drift probe already read it (saves a request)."""
        self._repo_id = node_id

    async def repository_id(self) -> str:
        """The repository's GraphQL node id, asked once per run."""
        if self._repo_id is None:
            self._repo_id = await repository_id(self.client, self.repository)
        return self._repo_id

    # -- recovery and adoption -----------------------------------------------------------------
    async def recover(self, pending: list[tuple[LocalItem, Link]]) -> list[LocalItem]:
        """Pending creates of earlier runs: adopt issues carrying their marker; return the rest."""
        if not pending:
            return []
        oldest = min(link.created_at for _, link in pending)
        found = await find_markers(
            self.client, self.repository, [i.key for i, _ in pending], oldest, self.config.marker_scan_pages
        )
        self.adopt([(item, found[item.key]) for item, _ in pending if item.key in found])
        lost = [item for item, _ in pending if item.key not in found]
        self.store.delete_pending(i.id for i in lost)
        for item in lost:
            self.links.pop(item.id, None)
        return lost

    def adopt(self, pairs: list[tuple[LocalItem, RemoteIssue]]) -> None:
        """Link items to issues that already carry their marker (no write to GitHub)."""
        rows = [
            LinkedIssue(
                item.id,
                self.repository,
                issue.number,
                issue.id,
                issue.node_id,
                str(adopted_hashes(issue)),
                issue.updated_at,
            )
            for item, issue in pairs
        ]
        self.store.link(rows)
        for (item, _issue), row in zip(pairs, rows, strict=True):
            self._remember(item, row)
        self.outcome.adopted += len(rows)

    def _remember(self, item: LocalItem, row: LinkedIssue) -> None:
        self.refs[item.key] = IssueRef(self.repository, row.number, row.node_id)
        self.links[item.id] = Link(
            item.id, self.repository, row.number, row.issue_id, row.node_id, "linked",
            row.content_hash, row.remote_updated_at, datetime.min,
        )  # fmt: skip

    # -- creates -------------------------------------------------------------------------------
    async def create(self, items: list[LocalItem]) -> None:
        """Create issues for ``items`` in dependency order, batched within the creation budget.

        A batch stops before an item whose blocker is in the same batch (the blocker's number comes with the
        answer). Items whose create failed are retried, up to ``CREATE_TRIES`` times, then reported as failed.
        """
        if not items:
            return
        queue = deque(dependency_order(items))
        tries: dict[str, int] = {}
        budget = self.client.limiter.creation
        while queue:
            await self._refresh_labels({n for i in queue for n in render(i, self.refs).labels})
            await self.client.limiter.write_ready()
            granted = await budget.acquire(min(self.config.batch_size, len(queue)))
            batch: list[LocalItem] = []
            keys: set[str] = set()
            while queue and len(batch) < granted:
                if batch and any(d in keys for d in queue[0].depends_on):
                    break  # its blocker's number comes with this answer: next request
                batch.append(queue.popleft())
                keys.add(batch[-1].key)
            if len(batch) < granted:
                budget.refund(granted - len(batch))
            retry = await self._create_batch(batch)
            for item in reversed(retry):
                tries[item.key] = tries.get(item.key, 0) + 1
                if tries[item.key] >= CREATE_TRIES:
                    self.outcome.failed.setdefault(item.key, "creating its issue failed repeatedly")
                else:
                    queue.appendleft(item)

    async def _create_batch(self, batch: list[LocalItem]) -> list[LocalItem]:
        """Send one create request; return the items to try again."""
        repo_id = await self.repository_id()
        rendered = {item.key: render(item, self.refs) for item in batch}
        document = m.Batch()
        for item in batch:
            fields = rendered[item.key]
            document.add(m.CREATE, m.create_input(repo_id, fields, self.label_ids(fields)), item)
        self.store.insert_pending([(item.id, self.repository) for item in batch])
        query, variables = document.document()
        self.outcome.write_requests += 1
        try:
            answer = await self.client.graphql(query, variables, mutation=True, idempotent=False)
        except AmbiguousWriteError:
            return await self._resolve_ambiguous(batch)
        linked: list[LinkedIssue] = []
        retry: list[LocalItem] = []
        for alias, item in document.owner.items():
            issue = (answer.data.get(alias) or {}).get("issue")
            if not isinstance(issue, dict):
                error = answer.error_for(alias) or {"message": "no data and no error"}
                log.warning("create of %s failed: %s", item.key, self.client.scrub(str(error.get("message"))))
                self._note_unresolved(error, item, None)
                retry.append(item)
                continue
            linked.append(
                LinkedIssue(
                    item.id,
                    self.repository,
                    int(issue["number"]),
                    issue.get("databaseId"),
                    issue.get("id"),
                    str(sent_hashes(rendered[item.key])),
                    parse_time(issue.get("updatedAt")),
                )
            )
        self.store.link(linked)
        self.store.delete_pending(i.id for i in retry)
        for row in linked:
            item = next(i for i in batch if i.id == row.work_item_id)
            self._remember(item, row)
            self._created(item)
            self.created_numbers.append(row.number)
        self.outcome.created += len(linked)
        self.advance("create", len(linked))
        return retry

    def _created(self, item: LocalItem) -> None:
        self.created_now.add(item.key)
        if item.key in self.recreating:
            self.outcome.recreated += 1
            self.outcome.recreated_keys.add(item.key)

    async def _resolve_ambiguous(self, batch: list[LocalItem]) -> list[LocalItem]:
        """The answer was lost: adopt what was created, hand back what was not."""
        await self.clock.sleep(self.config.ambiguous_settle)
        links = self.store.load_links()
        pending = [(item, links[item.id]) for item in batch if item.id in links]
        lost = await self.recover(pending)
        created = len(batch) - len(lost)
        self.outcome.adopted -= created  # they were created by us, just confirmed by marker
        self.outcome.created += created
        for item in batch:
            if item.key in self.refs and item not in lost:
                self._created(item)
                self.created_numbers.append(self.refs[item.key].number)
        self.advance("create", created)
        return lost

    # -- updates -------------------------------------------------------------------------------
    async def update(self, plans: list[ItemPlan], fields: Mapping[str, IssueFields]) -> None:
        """Push the plans' changed groups, ``batch_size`` items per request, failed ones retried."""
        todo = [p for p in plans if p.push]
        for _round in range(ROUNDS):
            if not todo:
                return
            await self._refresh_labels({n for p in todo if "labels" in p.push for n in fields[p.key].labels})
            failed: list[ItemPlan] = []
            for start in range(0, len(todo), self.config.batch_size):
                chunk = todo[start : start + self.config.batch_size]
                failed.extend(await self._unless_unavailable(self._update_chunk(chunk, fields), chunk))
            todo = failed
        for plan in todo:
            self.outcome.failed.setdefault(plan.key, "GitHub kept refusing its update (or kept failing)")

    async def _update_chunk(self, plans: list[ItemPlan], fields: Mapping[str, IssueFields]) -> list[ItemPlan]:
        batch = m.Batch()
        aliases: dict[str, list[str]] = {}
        for plan in plans:
            link = self.links[plan.item.id]
            node = str(link.node_id)
            wanted = fields[plan.key]
            mine = aliases.setdefault(plan.key, [])
            if "state" in plan.push and wanted.state == "open":
                mine.append(batch.add(m.REOPEN, m.reopen_input(node), plan))
            if plan.push & {"title", "body", "labels"}:
                label_ids = self.label_ids(wanted) if "labels" in plan.push else []
                payload = m.update_input(node, wanted, plan.push, label_ids)
                mine.append(batch.add(m.UPDATE, payload, plan))
            if "state" in plan.push and wanted.state == "closed":
                now = m.state_from_hash(plan.remote_hashes.state) if plan.remote_hashes else None
                if now is None or now[0] == "closed":  # a new reason needs a reopen first
                    mine.append(batch.add(m.REOPEN, m.reopen_input(node), plan))
                mine.append(batch.add(m.CLOSE, m.close_input(node, wanted.state_reason), plan))
        query, variables = batch.document()
        answer = await self.client.graphql(query, variables, mutation=True)
        self.outcome.write_requests += 1
        self.outcome.items_written += len(plans)
        done: list[tuple[int, str, datetime | None]] = []
        failed: list[ItemPlan] = []
        for plan in plans:
            results = [answer.data.get(a) for a in aliases[plan.key]]
            if all(isinstance(r, dict) for r in results):
                stamp = max((parse_time(str((r or {}).get("issue", {}).get("updatedAt"))) for r in results),
                            default=None, key=lambda t: t or datetime.min)  # fmt: skip
                assert plan.base is not None and plan.local_hashes is not None
                new_base = plan.base.with_groups(plan.local_hashes, plan.push)
                done.append((plan.item.id, str(new_base), stamp))
                self._count(plan, fields[plan.key])
            else:
                errors = [answer.error_for(a) for a in aliases[plan.key]]
                message = next((str(e.get("message")) for e in errors if e), "no data")
                log.warning("update of %s failed: %s", plan.key, self.client.scrub(message))
                own_node = self.links[plan.item.id].node_id
                if not any([self._note_unresolved(e, plan.item, own_node) for e in errors]):
                    failed.append(plan)  # the vanished are found again (or recreated) by the caller
        self.record(done)
        self.advance("update", len(done))
        return failed

    async def _unless_unavailable(self, request: Awaitable[list[T]], chunk: list[T]) -> list[T]:
        """One chunk's write; when GitHub keeps failing it (5xx, dropped connections) the chunk is
        retried in the next round, and the run goes on with the others. Only
        ``UNAVAILABLE_IN_A_ROW`` such chunks in a row stop the run (an outage, not bad luck)."""
        try:
            result = await request
        except GitHubUnavailableError:
            self._unavailable_in_a_row += 1
            if self._unavailable_in_a_row >= UNAVAILABLE_IN_A_ROW:
                raise
            return chunk
        self._unavailable_in_a_row = 0
        return result

    def _count(self, plan: ItemPlan, wanted: IssueFields) -> None:
        if plan.push & {"title", "body", "labels"}:
            self.outcome.updated += 1
        if "state" in plan.push:
            if wanted.state == "closed":
                self.outcome.closed += 1
            else:
                self.outcome.reopened += 1

    def record(self, rows: list[tuple[int, str, datetime | None]]) -> None:
        """Store new content hashes ``(work_item_id, hash, remote_updated_at)`` here and in the database."""
        self.store.update_hashes(rows)
        for work_item_id, content_hash, stamp in rows:
            link = self.links.get(work_item_id)
            if link is not None:
                link.content_hash = content_hash
                link.remote_updated_at = stamp or link.remote_updated_at

    # -- edges ---------------------------------------------------------------------------------
    async def relink(self, items: list[LocalItem], fields: Mapping[str, IssueFields]) -> None:
        """Make GitHub's blocked-by relations of ``items`` equal their linked dependencies."""
        items = [i for i in items if i.id in self.links and self.links[i.id].node_id]
        if not items:
            return
        node_of = {k: r.node_id for k, r in self.refs.items() if r.node_id}
        key_of = {n: k for k, n in node_of.items()}
        need_read = [str(self.links[i.id].node_id) for i in items if i.key not in self.created_now]
        current = await read_edges(self.client, need_read) if need_read else {}
        ops: list[tuple[LocalItem, str, str]] = []  # (item, "add"|"remove", blocker node)
        for item in items:
            node = str(self.links[item.id].node_id)
            want = {node_of[k] for k in fields[item.key].edges or () if k in node_of}
            have = current.get(node, set())
            ops.extend((item, "add", b) for b in sorted(want - have))
            ops.extend((item, "remove", b) for b in sorted(have - want) if b in key_of)
        pending = {item.key for item in items}
        failed_items: set[str] = set()
        for _round in range(ROUNDS):
            if not ops:
                break
            retry: list[tuple[LocalItem, str, str]] = []
            while ops:
                chunk, ops = await self._take_edge_chunk(ops)
                retry.extend(await self._unless_unavailable(self._edge_chunk(chunk), chunk))
            ops = retry
        failed_items = {item.key for item, _, _ in ops}
        unfinished = failed_items | self._edges_unfinished
        for key in failed_items:
            self.outcome.failed.setdefault(key, "GitHub kept refusing its blocked-by relations")
        rows = []
        for item in items:
            if item.key in unfinished or item.key not in pending:
                continue
            link = self.links[item.id]
            base = GroupHashes.parse(link.content_hash)
            local = group_hashes(fields[item.key])
            if base is not None:
                rows.append((item.id, str(base.with_groups(local, ["edges"])), link.remote_updated_at))
        self.record(rows)
        self.outcome.relinked += len(rows)
        self.advance("relink", len(rows))

    async def _take_edge_chunk(
        self, ops: list[tuple[LocalItem, str, str]]
    ) -> tuple[list[tuple[LocalItem, str, str]], list[tuple[LocalItem, str, str]]]:
        """Up to ``batch_size`` edge writes; adds only as far as the creation budget allows."""
        size = min(self.config.batch_size, len(ops))
        adds = sum(1 for _, kind, _ in ops[:size] if kind == "add")
        if adds and self.config.edges_count_as_content:
            await self.client.limiter.write_ready()
            granted = await self.client.limiter.creation.acquire(adds)
            taken, seen_adds = 0, 0
            for _, kind, _ in ops[:size]:
                if kind == "add":
                    if seen_adds == granted:
                        break
                    seen_adds += 1
                taken += 1
            size = taken
        return ops[:size], ops[size:]

    async def _edge_chunk(self, chunk: list[tuple[LocalItem, str, str]]) -> list[tuple[LocalItem, str, str]]:
        batch = m.Batch()
        for op in chunk:
            item, kind, blocker = op
            node = str(self.links[item.id].node_id)
            batch.add(m.ADD_EDGE if kind == "add" else m.REMOVE_EDGE, m.edge_input(node, blocker), op)
        query, variables = batch.document()
        answer = await self.client.graphql(query, variables, mutation=True)
        self.outcome.write_requests += 1
        self.outcome.items_written += len({op[0].key for op in chunk})

        retry = []
        for alias, op in batch.owner.items():
            error = answer.error_for(alias)
            ok = isinstance(answer.data.get(alias), dict) or (
                error is not None and m.is_already_done(error, op[1])
            )
            if ok:
                if op[1] == "add":
                    self.outcome.edges_added += 1
                else:
                    self.outcome.edges_removed += 1
            elif unresolved_node(error) is not None:
                if unresolved_node(error) == op[2]:
                    self.vanished_nodes.add(op[2])  # the blocker's issue vanished
                else:
                    self.vanished[op[0].id] = op[0]
                self._edges_unfinished.add(op[0].key)  # written again once it is found or recreated
            else:
                retry.append(op)
        return retry
