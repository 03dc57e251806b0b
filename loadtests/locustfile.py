"""Locust load test of the ailab dashboard, with pass/fail thresholds that set the exit code.

Run it through ``ailab loadtest`` (which starts a seeded server, runs this headless and keeps the
results under ``reports/loadtest/``), or by hand against a running server::

    locust -f loadtests/locustfile.py --headless -u 100 -r 50 -t 60s --host http://127.0.0.1:8000 \
        --csv reports/lt/locust --json-file reports/lt/locust --html reports/lt/locust.html

Distributed (when one load generator is not enough; one process per core)::

    locust -f loadtests/locustfile.py --master --headless --expect-workers 2 -u 200 -r 100 -t 60s \
        --host http://SERVER:8000 --csv reports/lt/locust
    locust -f loadtests/locustfile.py --worker --master-host MASTER   # once per worker

Thresholds (Locust has none built in): checked on the master (or the single process) when it
quits; any miss sets exit code 1. Set them with ``--max-p95-ms``, ``--max-fail-ratio``,
``--min-rps`` or the environment variables ``AILAB_LT_MAX_P95_MS``, ``AILAB_LT_MAX_FAIL_RATIO``,
``AILAB_LT_MIN_RPS``. Defaults are the dashboard goal derived from the review's target table:
p95 <= 50 ms, no failures, >= 800 requests/s. ``--verdict-file PATH`` also writes the checks as JSON.

Writes (PATCH/POST) run only when ``AILAB_LT_API_TOKEN`` holds the server's API token.

This file is self-contained (only Locust is needed on a worker machine): the vocabularies below
mirror ``ailab.vocab`` (a test keeps them in step), tags and item ids are learned from the server.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

STATUSES = ("todo", "in_progress", "review", "blocked", "done", "cancelled")
PRIORITIES = ("low", "medium", "high", "critical")
SEARCH_WORDS = ("dashboard", "sync", "cache", "report", "index", "webhook", "backup", "notebook")

log = logging.getLogger("ailab.loadtest")

# What every simulated user learns once per process (keeps on_start cheap for many users).
_known: dict[str, list[Any]] = {"ids": [], "tags": [], "projects": [], "learning": []}
FIRST_CHANGE_WITHIN = 30  # requests
_sent = {"requests": 0}


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


@events.init_command_line_parser.add_listener
def _thresholds(parser: Any) -> None:
    parser.add_argument(
        "--max-p95-ms",
        type=float,
        default=_env_float("AILAB_LT_MAX_P95_MS", 50.0),
        help="Fail the run if the aggregated p95 exceeds this (ms).",
    )
    parser.add_argument(
        "--max-fail-ratio",
        type=float,
        default=_env_float("AILAB_LT_MAX_FAIL_RATIO", 0.0),
        help="Fail the run if failures / requests exceed this (0 = no failures).",
    )
    parser.add_argument(
        "--min-rps",
        type=float,
        default=_env_float("AILAB_LT_MIN_RPS", -1.0),
        help="Fail the run if the aggregated requests/s fall below this. Default: min(800, 95%% of "
        "users x --user-rps), what the run offered.",
    )
    parser.add_argument(
        "--max-write-read-p95-ratio",
        type=float,
        default=_env_float("AILAB_LT_MAX_WRITE_READ_P95_RATIO", 3.0),
        help="Fail the run if the writes' p95 exceeds this many times the reads' p95.",
    )
    parser.add_argument(
        "--user-rps",
        type=float,
        default=_env_float("AILAB_LT_USER_RPS", 10.0),
        help="Requests/s each user aims at (0 = no pause between requests).",
    )
    parser.add_argument(
        "--verdict-file",
        default=os.environ.get("AILAB_LT_VERDICT_FILE", ""),
        help="Write the threshold checks to this JSON file.",
        include_in_web_ui=False,
    )


DEFAULT_MIN_RPS = 800.0
OFFERED_SHARE = 0.95
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


def min_rps(opts: Any) -> tuple[float, float | None]:
    """(the req/s limit, what was offered: users x user-rps, or None without pacing)."""
    rate = float(getattr(opts, "user_rps", 0.0) or 0.0)
    offered = float(getattr(opts, "num_users", 0) or 0) * rate if rate > 0 else None
    if opts.min_rps is not None and opts.min_rps >= 0:  # given explicitly: kept as it is
        return float(opts.min_rps), offered
    return (DEFAULT_MIN_RPS if offered is None else min(DEFAULT_MIN_RPS, OFFERED_SHARE * offered)), offered


def class_p95(environment: Environment) -> dict[str, float | None]:
    """p95 of the reads and of the writes (each over all its endpoints), setup requests aside."""
    merged = {
        "read": StatsEntry(environment.stats, "reads", ""),
        "write": StatsEntry(environment.stats, "writes", ""),
    }
    for (name, method), entry in environment.stats.entries.items():
        if not name.startswith("setup:"):
            merged["write" if method in WRITE_METHODS else "read"].extend(entry)
    return {
        f"{kind}_p95_ms": float(e.get_response_time_percentile(0.95) or 0.0) if e.num_requests else None
        for kind, e in merged.items()
    }


def check_thresholds(environment: Environment) -> dict[str, Any]:
    """The checks on the aggregated stats (p95, failure ratio, requests/s against what was
    offered) and on the writes' p95 against the reads'."""
    opts = environment.parsed_options
    total = environment.stats.total
    p95 = float(total.get_response_time_percentile(0.95) or 0.0)
    rps_limit, offered = min_rps(opts)
    classes = class_p95(environment)
    checks = [
        {"name": "p95_ms", "value": p95, "limit": opts.max_p95_ms, "op": "<=", "ok": p95 <= opts.max_p95_ms},
        {
            "name": "fail_ratio",
            "value": total.fail_ratio,
            "limit": opts.max_fail_ratio,
            "op": "<=",
            "ok": total.fail_ratio <= opts.max_fail_ratio,
        },
        {
            "name": "rps",
            "value": total.total_rps,
            "limit": rps_limit,
            "op": ">=",
            "ok": total.total_rps >= rps_limit,
            "offered": offered,
        },
    ]
    read_p95, write_p95 = classes["read_p95_ms"], classes["write_p95_ms"]
    if read_p95 and write_p95 is not None:
        ratio = write_p95 / read_p95
        limit = opts.max_write_read_p95_ratio
        checks.append(
            {"name": "write_read_p95_ratio", "value": ratio, "limit": limit, "op": "<=", "ok": ratio <= limit}
        )
    if total.num_requests == 0:
        checks.append({"name": "requests", "value": 0, "limit": 1, "op": ">=", "ok": False})
    return {
        "passed": all(c["ok"] for c in checks),
        "checks": checks,
        "requests": total.num_requests,
        "classes": classes,
    }


@events.quitting.add_listener
def _judge(environment: Environment, **_kwargs: Any) -> None:
    counts_dir = os.environ.get("AILAB_LT_WORKER_COUNTS_DIR", "")
    if isinstance(environment.runner, WorkerRunner):
        if counts_dir:  # lets a distributed run prove that the workers' requests add up
            Path(counts_dir, f"worker-{os.getpid()}.json").write_text(json.dumps(_sent))
        return
    verdict = check_thresholds(environment)
    for c in verdict["checks"]:
        level = logging.INFO if c["ok"] else logging.ERROR
        log.log(
            level,
            "threshold %s: %.3f %s %.3f -> %s",
            c["name"],
            c["value"],
            c["op"],
            c["limit"],
            "ok" if c["ok"] else "MISSED",
        )
    environment.process_exit_code = 0 if verdict["passed"] else 1
    path = environment.parsed_options.verdict_file
    if path:
        Path(path).write_text(json.dumps(verdict, indent=2))


@events.request.add_listener
def _count(**_kwargs: Any) -> None:
    _sent["requests"] += 1


def _pacing(user: DashboardUser) -> float:
    """Seconds until the user's next request: ``--user-rps`` per user, from a random phase.

    Locust starts a whole second's worth of users at once, and its ``constant_throughput`` keeps
    each user on the beat it started with, so they would all fire within a few milliseconds of
    each other: bursts that queue behind one another and measure the generator, not the server.
    Here each user's beat starts at a random point of its period; a late request does not make
    the user catch up with a burst.
    """
    opts = user.environment.parsed_options
    rate = float(getattr(opts, "user_rps", 10.0) if opts else 10.0)
    if rate <= 0:
        return 0.0
    period, now = 1.0 / rate, time.monotonic()
    beat = user.next_beat
    beat = now + random.uniform(0.0, period) if beat is None else max(now, beat + period)
    user.next_beat = beat
    return beat - now


class DashboardUser(FastHttpUser):
    """Someone with the dashboard open: summary, filtered lists, item details, sometimes a change.

    Writes are occasional: about 1% of the requests (task weights 1 + 1 of 182), plus one change
    early in each session (within its first requests, so short runs write too).
    """

    wait_time = _pacing
    next_beat: float | None = None

    def on_start(self) -> None:
        self.token = os.environ.get("AILAB_LT_API_TOKEN", "")
        self.cursor: str | None = None
        self.first_change_in = random.randint(1, FIRST_CHANGE_WITHIN) if self.token else 0
        while _known["learning"]:  # another user of this process is asking the server
            gevent.sleep(0.05)
        if not _known["ids"]:
            _known["learning"] = [True]
            try:
                self._learn()
            finally:
                _known["learning"] = []

    def _learn(self) -> None:
        with self.client.get("/api/work-items?limit=200", name="setup: ids", catch_response=True) as resp:
            items = (resp.json() or {}).get("items", []) if resp.status_code == 200 else []
            _known["ids"] = [i["id"] for i in items if "id" in i] or [1]
            _known["projects"] = sorted({i["project"] for i in items if i.get("project")})
        with self.client.get("/api/summary", name="setup: tags", catch_response=True) as resp:
            tops = (resp.json() or {}).get("top_tags", []) if resp.status_code == 200 else []
            _known["tags"] = [t.get("name") or t.get("tag") for t in tops if isinstance(t, dict)] or ["api"]

    def _item_id(self) -> Any:
        return random.choice(_known["ids"])

    def _call(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        """One request; a failure records the status and the start of the body (the server's reason)."""
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as resp:
            if resp.status_code is None or resp.status_code >= 400:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:160]}")
        if self.first_change_in > 0:
            self.first_change_in -= 1
            if self.first_change_in == 0:
                self.update()
        return resp

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @task(10)
    def page(self) -> None:
        self._call("GET", "/", "GET /")

    @task(30)
    def summary(self) -> None:
        self._call("GET", "/api/summary", "GET /api/summary")

    @task(40)
    def list_by_status(self) -> None:
        status, priority = random.choice(STATUSES), random.choice(PRIORITIES)
        path = f"/api/work-items?status={status}&priority={priority}&limit=50"
        resp = self._call("GET", path, "GET /api/work-items?status&priority")
        if resp.status_code == 200:
            self.cursor = (resp.json() or {}).get("next_cursor")

    @task(24)
    def list_by_tag(self) -> None:
        tag = quote(str(random.choice(_known["tags"])))
        self._call("GET", f"/api/work-items?tag={tag}&limit=50", "GET /api/work-items?tag")

    @task(8)
    def list_by_project(self) -> None:
        if _known["projects"]:
            project = quote(str(random.choice(_known["projects"])))
            self._call("GET", f"/api/work-items?project={project}&limit=50", "GET /api/work-items?project")

    @task(8)
    def next_page(self) -> None:
        if self.cursor:
            self._call(
                "GET", f"/api/work-items?cursor={quote(self.cursor)}&limit=50", "GET /api/work-items?cursor"
            )

    @task(4)
    def search(self) -> None:
        word = random.choice(SEARCH_WORDS)
        self._call("GET", f"/api/work-items?q={word}&limit=50", "GET /api/work-items?q")

    @task(40)
    def item(self) -> None:
        self._call("GET", f"/api/work-items/{self._item_id()}", "GET /api/work-items/{id}")

    @task(16)
    def blockers(self) -> None:
        self._call("GET", f"/api/work-items/{self._item_id()}/blockers", "GET /api/work-items/{id}/blockers")

    @task(1)
    def update(self) -> None:
        if self.token:
            body = {"status": random.choice(STATUSES), "priority": random.choice(PRIORITIES)}
            path = f"/api/work-items/{self._item_id()}"
            self._call("PATCH", path, "PATCH /api/work-items/{id}", json=body, headers=self._auth())

    @task(1)
    def create(self) -> None:
        if self.token:
            body = {
                "title": f"Load test item {random.randrange(10**9)}",
                "priority": random.choice(PRIORITIES),
                "tags": random.sample(_known["tags"], min(2, len(_known["tags"]))),
            }
            self._call("POST", "/api/work-items", "POST /api/work-items", json=body, headers=self._auth())
