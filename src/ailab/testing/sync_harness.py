"""The sync against the GitHub simulator: one harness for the tests, the benchmarks and the notebook.

``SimulatedGitHub.in_process()`` wires a simulator app, a clock and a ``SyncConfig`` together
(in-process through ``httpx.ASGITransport``); ``serve()`` runs the same simulator over loopback
with uvicorn for honest timings. ``compare_remote`` checks the invariants every test cares about:
one issue per item, and every issue equal to what its item renders to.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.errors import ConfigError
from ailab.settings import Secret
from ailab.sync.config import SyncConfig, parse_repo
from ailab.sync.engine import SyncOptions, SyncProgress, run_blocking, run_sync
from ailab.sync.mapping import IssueRef, LocalItem, find_marker, render
from ailab.sync.simulator import GitHubSimulator, SimulatorConfig, create_app
from ailab.sync.simulator.server import uvicorn_config
from ailab.sync.store import SyncStore
from ailab.sync.summary import SyncSummary
from ailab.testing.servers import UvicornThread, stop_process

TEST_TOKEN = "ghp_simulatorTOKEN0123456789abcdefABCDEF"  # a fake, shaped like a real token
DEFAULT_REPO = "octo-org/tracker"


@dataclass
class SimulatedGitHub:
    """A simulator plus the ``SyncConfig`` that points the sync at it."""

    sim: GitHubSimulator
    config: SyncConfig
    clock: Clock
    app: Any = None  # the ASGI app (in-process) or None (served over loopback)
    url: str = ""

    @property
    def repository(self) -> str:
        """The default repository the sync writes to."""
        assert self.config.default_repo is not None
        return self.config.default_repo.full_name

    @classmethod
    def in_process(
        cls,
        *,
        clock: Clock | None = None,
        sim_config: SimulatorConfig | None = None,
        repository: str = DEFAULT_REPO,
        **sync_overrides: Any,
    ) -> SimulatedGitHub:
        """The simulator as an in-process ASGI app with a ``SyncConfig`` pointing at it (no sockets)."""
        clock = clock or SYSTEM_CLOCK
        sim_config = sim_config or SimulatorConfig(token=Secret(TEST_TOKEN))
        app = create_app(sim_config, clock)
        config = SyncConfig(
            api_url="https://api.github.com", token=Secret(TEST_TOKEN), default_repo=parse_repo(repository)
        ).with_(**sync_overrides)
        return cls(app.state.sim, config, clock, app=app, url=config.api_url)

    def transport(self) -> httpx.AsyncBaseTransport | None:
        """The httpx transport into the in-process app (None when served over loopback)."""
        return httpx.ASGITransport(app=self.app) if self.app is not None else None

    async def sync(
        self,
        engine: Engine,
        progress: SyncProgress | None = None,
        wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
        **options: Any,
    ) -> SyncSummary:
        """One sync run; ``wrap`` may wrap the transport (fault injection, latency)."""
        transport = self.transport()
        if wrap is not None:
            transport = wrap(transport or httpx.AsyncHTTPTransport())
        return await run_sync(
            engine,
            self.config,
            SyncOptions(**options),
            clock=self.clock,
            transport=transport,
            progress=progress,
        )

    def run(self, engine: Engine, **options: Any) -> SyncSummary:
        """Run the sync against this simulator and wait for its summary."""
        return run_blocking(self.sync(engine, **options))


@contextmanager
def serve(
    *,
    sim_config: SimulatorConfig | None = None,
    repository: str = DEFAULT_REPO,
    **sync_overrides: Any,
) -> Iterator[SimulatedGitHub]:
    """The simulator under uvicorn on a free loopback port (real sockets, real clock)."""
    sim_config = sim_config or SimulatorConfig(token=Secret(TEST_TOKEN))
    with SimulatorServer(port=0, config=sim_config) as server:
        config = SyncConfig(
            api_url=server.url, token=Secret(TEST_TOKEN), default_repo=parse_repo(repository)
        ).with_(**sync_overrides)
        yield SimulatedGitHub(server.sim, config, SYSTEM_CLOCK, app=None, url=server.url)


def prefill_remote(sim: GitHubSimulator, repository: str, items: list[LocalItem]) -> None:
    """Issues exactly as a finished earlier sync left them (numbers follow item order).

    Writing thousands of issues through the API at GitHub's pace takes hours; benchmarks start
    from this state instead, and the sync adopts the issues by their markers (reading only).
    """
    sim.create_repo(repository)
    refs = {item.key: IssueRef(repository, n + 1) for n, item in enumerate(items)}
    for item in items:
        fields = render(item, refs)
        sim.seed_issue(
            repository, fields.title, fields.body, sorted(fields.labels), fields.state, fields.state_reason
        )
    issues = sim.repo(repository).issues
    for item in items:
        blocked = issues[refs[item.key].number]
        for key in item.depends_on:
            if key in refs:
                sim.world.add_blocked_by(blocked, issues[refs[key].number])


@contextmanager
def serve_subprocess(
    database_url: str | None = None, *, repository: str = DEFAULT_REPO, latency: float = 0.0
) -> Iterator[str]:
    """The simulator in its own process on a free loopback port (no GIL shared with the sync).

    With ``database_url``, the remote is first pre-filled from that database's items
    (``prefill_remote``). Yields the base URL; the process is stopped by its pid afterwards.
    """
    command = [
        sys.executable,
        "-m",
        "ailab.testing.sync_harness",
        "--repository",
        repository,
        "--latency",
        str(latency),
    ]
    if database_url:
        command += ["--prefill-from", database_url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("READY "):
            raise ConfigError(
                f"The simulator process did not start (said {line!r}, exit code {process.poll()})."
            )
        yield line.split(" ", 1)[1]
    finally:
        stop_process(process)


def _main(argv: list[str] | None = None) -> None:
    """``python -m ailab.testing.sync_harness``: serve a (pre-filled) simulator until terminated."""
    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--repository", default=DEFAULT_REPO)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--prefill-from", default=None, help="database URL whose items to pre-fill")
    args = parser.parse_args(argv)
    epoch = secrets.randbelow(99_999) + 1  # a restarted simulator never reuses an ID
    config = SimulatorConfig(token=Secret(TEST_TOKEN), latency_seconds=args.latency, id_epoch=epoch)
    server = SimulatorServer(port=0, config=config).start()
    if args.prefill_from:
        from ailab.db import get_engine

        store = SyncStore(get_engine(args.prefill_from))
        prefill_remote(server.sim, args.repository, store.load_items(lambda _u, _k: args.repository))
    print(f"READY {server.url}", flush=True)
    threading.Event().wait()  # until the parent terminates us


@dataclass
class RemoteCheck:
    """How the simulator's issues compare with the database."""

    issues: int = 0
    linked: int = 0
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # key -> issue numbers carrying it
    unlinked: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)  # "KEY: field differs"

    @property
    def ok(self) -> bool:
        """True when the remote has no duplicate, unlinked or mismatching issue."""
        return not (self.duplicates or self.unlinked or self.mismatches)


def compare_remote(engine: Engine, github: SimulatedGitHub) -> RemoteCheck:
    """One issue per item, and each issue equal to its item's rendering (edges included)."""
    store = SyncStore(engine)
    items = store.load_items(lambda url, key: github.config.repository_for(url, key).full_name)
    links = store.load_links()
    by_id = {i.id: i for i in items}
    refs = {
        by_id[w].key: IssueRef(link.repository, int(link.issue_number), link.node_id)
        for w, link in links.items()
        if link.linked and w in by_id and link.issue_number is not None
    }
    check = RemoteCheck()
    key_of: dict[tuple[str, int], str] = {(r.repository, r.number): k for k, r in refs.items()}
    markers: dict[str, list[int]] = defaultdict(list)
    repositories = {i.repository for i in items} | {link.repository for link in links.values()}
    for repository in repositories:
        for issue in github.sim.issues(repository):
            check.issues += 1
            key = find_marker(issue.get("body"))
            if key:
                markers[key].append(issue["number"])
    check.duplicates = {k: v for k, v in markers.items() if len(v) > 1}
    for item in items:
        ref = refs.get(item.key)
        if ref is None:
            check.unlinked.append(item.key)
            continue
        check.linked += 1
        want = render(item, refs)
        issue = github.sim.issue(ref.repository, ref.number)
        labels = {label["name"].lower() for label in issue["labels"]}
        if issue["title"] != want.title:
            check.mismatches.append(f"{item.key}: title")
        if (issue["body"] or "").strip() != want.body.strip():
            check.mismatches.append(f"{item.key}: body")
        if labels != {n.lower() for n in want.labels}:
            check.mismatches.append(f"{item.key}: labels")
        if issue["state"] != want.state or (
            want.state == "closed" and issue["state_reason"] != want.state_reason
        ):
            check.mismatches.append(f"{item.key}: state")
        node = github.sim.repo(ref.repository).issues[ref.number]
        edges = {key_of.get((b.repo.full_name, b.number), f"#{b.number}") for b in node.blocked_by.values()}
        if edges != set(want.edges or ()):
            check.mismatches.append(f"{item.key}: edges")
    return check


class SimulatorServer(UvicornThread):
    """A GitHub simulator served by uvicorn in a background thread, for tests, notebooks and load runs.

    >>> with SimulatorServer(port=0) as server:   # port 0: pick a free port
    ...     httpx.get(f"{server.url}/rate_limit")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SimulatorConfig | None = None,
        clock: Clock | None = None,
        *,
        startup_timeout: float = 10.0,
    ) -> None:
        self.sim = GitHubSimulator(config, clock)
        super().__init__(
            uvicorn_config(self.sim, host, port), startup_timeout=startup_timeout, name="github-sim"
        )


if __name__ == "__main__":
    _main()
