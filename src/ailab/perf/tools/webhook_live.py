"""Two-way sync measured live: ``ailab serve`` + ``ailab sync --watch`` + the simulator over loopback.

``python -m ailab.perf.tools.webhook_live [--items 200] [--phases latency,faults,throughput,security,crash]``
starts three processes on loopback (the simulator pre-filled as an earlier sync left it, with its
webhook pointed at the dashboard; the dashboard with a webhook secret; the watcher), then runs the
issue's "done when" checks and prints one JSON report:

* ``remote_to_local``: an edit made on the simulator (as another user) until the dashboard's API
  shows it; ``local_to_remote``: a dashboard PATCH until the simulator shows it (GitHub's 1 s
  write pacing).
* ``faults``: 20% of deliveries dropped, 20% duplicated, 20% reordered; after the next poll,
  every edit is there once and a ``--pull`` dry run plans nothing.
* ``throughput``: edits at 50/s for 30 s (one delivery each): lost, applied twice, ack p95
  (the simulator's delivery durations, i.e. GitHub's view of our answer time).
* ``security``: 1,000 deliveries with bad or missing signatures and 100 replays change nothing.
* ``crash``: ``kill -9`` of the server during a burst; deliveries acknowledged and not yet
  applied are applied when it starts again.

Every process is stopped by its pid at the end. Timings on a shared 2-core box are noisy: read
the p95 with that in mind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from ailab.sync.signing import sign
from ailab.testing.servers import free_port, stop_process

REPO = "octo-org/tracker"
SECRET = "whsec-live-" + uuid.uuid4().hex[:12]
TOKEN = "dash-token-" + uuid.uuid4().hex[:12]
GH_TOKEN = "ghp_liveSIMULATOR0123456789abcdefABCDEF"


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1) if values else None,
        "p95_ms": round((_pct(values, 95) or 0) * 1000, 1) if values else None,
        "max_ms": round(max(values) * 1000, 1) if values else None,
    }


def _wait(check: Callable[[], bool], timeout: float, step: float = 0.005) -> float | None:
    """Seconds until ``check()`` holds (polling), or None after ``timeout``."""
    start = time.perf_counter()
    while True:
        if check():
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            return None
        time.sleep(step)


class Live:
    """The three processes and clients to them."""

    def __init__(self, workdir: Path, items: int, poll_seconds: float) -> None:
        self.workdir = workdir
        self.items = items
        self.poll_seconds = poll_seconds
        self.db_url = f"sqlite:///{workdir / 'live.db'}"
        self.sim_port, self.dash_port = free_port(), free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.dash_url = f"http://127.0.0.1:{self.dash_port}"
        self.procs: dict[str, subprocess.Popen[Any]] = {}
        self.sim = httpx.Client(
            base_url=self.sim_url, timeout=10, headers={"Authorization": f"Bearer {GH_TOKEN}"}
        )
        self.dash = httpx.Client(base_url=self.dash_url, timeout=10)
        self.keys: dict[str, int] = {}  # item key -> issue number

    def env(self) -> dict[str, str]:
        """The three processes' environment: the SQLite database, webhook secret, API token, the
        simulator as GitHub's API and its token, the repository and the poll interval."""
        return {
            **os.environ,
            "AILAB_DATABASE_URL": self.db_url,
            "AILAB_GITHUB_WEBHOOK_SECRET": SECRET,
            "AILAB_API_TOKEN": TOKEN,
            "AILAB_GITHUB_API_URL": self.sim_url,
            "GITHUB_TOKEN": GH_TOKEN,
            "AILAB_GITHUB_REPO": REPO,
            "AILAB_GITHUB_POLL_SECONDS": str(self.poll_seconds),
        }

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[Any]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child)
        proc = subprocess.Popen(args, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def prepare(self) -> None:
        """Migrate and seed the database with ``items`` items."""
        from ailab.db import get_engine
        from ailab.db.migrate import upgrade
        from ailab.db.seed import seed_database

        engine = get_engine(self.db_url)
        upgrade(engine)
        seed_database(engine, items=self.items, seed=17)
        engine.dispose()

    def start_sim(self) -> None:
        """Start the simulator, pre-filled from the database, with its webhook pointed at the dashboard;
        wait until it answers."""
        self._start("sim", [sys.executable, "-m", "ailab.perf.tools.webhook_live", "sim", "--port", str(self.sim_port),
                            "--prefill-from", self.db_url, "--hook", f"{self.dash_url}/api/github/webhook"])  # fmt: skip
        assert _wait(lambda: self._up(self.sim, "/rate_limit"), 60, 0.1) is not None, (
            "simulator did not start"
        )

    def start_dash(self) -> None:
        """Start ``ailab serve`` and wait until ``/healthz`` answers."""
        ailab = str(Path(sys.executable).with_name("ailab"))
        self._start("serve", [ailab, "serve", "--port", str(self.dash_port)])
        assert _wait(lambda: self._up(self.dash, "/healthz"), 60, 0.1) is not None, "dashboard did not start"

    def start_watch(self) -> None:
        """Start ``ailab sync --watch``, wait until it has pulled with no local change pending, then map
        each dashboard item's key to its issue number in ``keys`` (0: no issue)."""
        ailab = str(Path(sys.executable).with_name("ailab"))
        self._start("watch", [ailab, "sync", "--watch", "--poll-seconds", str(self.poll_seconds)])

        def caught_up() -> bool:
            status = self.dash.get("/api/sync/status").json()
            repo = next((r for r in status["repositories"] if r["repository"] == REPO), None)
            return bool(repo and repo["last_pull_at"] and repo["pending_local_changes"] == 0)

        assert _wait(caught_up, 300, 0.2) is not None, "the watcher did not catch up"
        self.keys = {}
        cursor = None
        while True:
            page = self.dash.get(
                "/api/work-items", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
            ).json()
            for item in page["items"]:
                self.keys[item["key"]] = 0
            cursor = page.get("next_cursor")
            if not cursor:
                break
        for issue in self.issues():
            key = issue["title"].split("]", 1)[0].lstrip("[")
            if key in self.keys:
                self.keys[key] = issue["number"]

    @staticmethod
    def _up(client: httpx.Client, path: str) -> bool:
        try:
            return client.get(path).status_code == 200
        except httpx.HTTPError:
            return False

    def issues(self) -> list[dict[str, Any]]:
        """Every issue on the simulator, open or closed, through its REST API (100 a page)."""
        out, page = [], 1
        while True:
            rows = self.sim.get(
                f"/repos/{REPO}/issues", params={"state": "all", "per_page": 100, "page": page}
            ).json()
            out += rows
            if len(rows) < 100:
                return out
            page += 1

    def edit_remote(self, number: int, **body: Any) -> None:
        """Change an issue on the simulator as another user (``alice``), as an edit made on GitHub."""
        response = self.sim.patch(f"/_simulator/as/alice/repos/{REPO}/issues/{number}", json=body)
        response.raise_for_status()

    def item(self, key: str) -> dict[str, Any]:
        """A work item as the dashboard's API shows it."""
        return dict(self.dash.get(f"/api/work-items/{key}").json())

    def set_faults(self, **faults: float) -> None:
        """Set the simulator webhook's fault switches (none given: all off)."""
        self.sim.post("/_simulator/webhook/faults", json=faults).raise_for_status()

    def converged(self) -> dict[str, Any]:
        """A dry run with --pull: what it would still do (nothing, when both sides agree)."""
        ailab = str(Path(sys.executable).with_name("ailab"))
        out = subprocess.run(
            [ailab, "sync", "--dry-run", "--pull"], env=self.env(), capture_output=True, text=True
        )
        would = [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("would ")]
        check = subprocess.run([ailab, "sync", "--check"], env=self.env(), capture_output=True, text=True)
        return {"exit": out.returncode, "would": would, "check_exit": check.returncode,
                "check_tail": check.stdout.strip().splitlines()[-3:]}  # fmt: skip

    def deliveries(self) -> list[dict[str, Any]]:
        """The webhook's deliveries, newest first (outside the rate limits)."""
        return list(self.sim.get("/_simulator/webhook/deliveries").json())

    def db_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows ``sql`` returns, read straight from the dashboard's database."""
        from sqlalchemy import text

        from ailab.db import get_engine

        engine = get_engine(self.db_url)
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]

    def stop(self) -> None:
        """Stop the watcher, the server and the simulator by their pids."""
        for name in ("watch", "serve", "sim"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                stop_process(proc, timeout=20)


# -- phases ----------------------------------------------------------------------------------------
def remote_to_local(live: Live, n: int) -> dict[str, Any]:
    """Seconds from an edit on the simulator until the dashboard's API shows it, for ``n`` issues;
    an edit not seen within 30 s counts as missed."""
    times = []
    keys = [k for k, v in live.keys.items() if v][:n]
    for i, key in enumerate(keys):
        title = f"remote edit {i} {uuid.uuid4().hex[:6]}"
        live.edit_remote(live.keys[key], title=f"[{key}] {title}")
        took = _wait(lambda k=key, t=title: live.item(k)["title"] == t, 30)  # type: ignore[misc]
        times.append(took if took is not None else 30.0)
    return _stats(times) | {"missed": sum(1 for t in times if t >= 30.0)}


def local_to_remote(live: Live, n: int) -> dict[str, Any]:
    """Seconds from a dashboard PATCH until the simulator shows the title, for ``n`` items; an
    edit not seen within 60 s counts as missed."""
    times = []
    keys = [k for k, v in live.keys.items() if v][-n:]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for i, key in enumerate(keys):
        title = f"local edit {i} {uuid.uuid4().hex[:6]}"
        live.dash.patch(f"/api/work-items/{key}", json={"title": title}, headers=headers).raise_for_status()
        number = live.keys[key]
        took = _wait(
            lambda n=number, want=f"[{key}] {title}": (
                live.sim.get(f"/_simulator/repos/{REPO}/issues/{n}").json()["title"]  # type: ignore[misc]
                == want
            ),
            60,
            0.02,
        )
        times.append(took if took is not None else 60.0)
    return _stats(times) | {"missed": sum(1 for t in times if t >= 60.0)}


def faults(live: Live, n: int) -> dict[str, Any]:
    """``n`` remote edits with 20% of deliveries each dropped, duplicated and reordered: how many
    arrived before the poll, how long until all had, GUIDs recorded twice, and a ``--pull`` dry run."""
    live.set_faults(drop=0.2, duplicate=0.2, reorder=0.2, seed=7)
    keys = [k for k, v in live.keys.items() if v][:n]
    wanted = {}
    for i, key in enumerate(keys):
        title = f"faulty edit {i} {uuid.uuid4().hex[:6]}"
        live.edit_remote(live.keys[key], title=f"[{key}] {title}")
        wanted[key] = title
        time.sleep(0.05)
    time.sleep(1.5)  # held (reordered) deliveries go out within a second
    sent = live.deliveries()
    dropped = sum(1 for d in sent if d["status"].startswith("dropped"))
    duplicated = len(sent) - len({d["guid"] for d in sent})
    before_poll = sum(1 for k, t in wanted.items() if live.item(k)["title"] == t)
    took = _wait(
        lambda: all(live.item(k)["title"] == t for k, t in wanted.items()), live.poll_seconds * 3 + 30, 0.2
    )
    live.set_faults()
    rows = live.db_rows(
        "SELECT guid, count(*) FROM github_webhook_deliveries GROUP BY guid HAVING count(*) > 1"
    )
    return {
        "edits": len(wanted),
        "deliveries_sent": len(sent),
        "dropped": dropped,
        "duplicate_copies": duplicated,
        "arrived_before_poll": before_poll,
        "all_arrived_after_s": round(took, 1) if took is not None else None,
        "guid_recorded_twice": len(rows),
        "dry_run_pull_after": live.converged(),
    }


def throughput(live: Live, rate: float, seconds: float) -> dict[str, Any]:
    """Remote edits at ``rate`` per second for ``seconds``: the acks' durations (as the simulator saw
    them), deliveries not acknowledged, lost or applied twice, and titles not as last edited."""
    keys = [k for k, v in live.keys.items() if v]
    before = {d["id"] for d in live.deliveries()}
    total = int(rate * seconds)
    start = time.perf_counter()
    wanted: dict[str, str] = {}
    for i in range(total):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        key = keys[i % len(keys)]
        title = f"burst {i}"
        live.edit_remote(live.keys[key], title=f"[{key}] {title}")
        wanted[key] = title
    achieved = total / (time.perf_counter() - start)
    _wait(
        lambda: not live.db_rows("SELECT 1 FROM github_webhook_deliveries WHERE status = 'pending' LIMIT 1"),
        60,
        0.2,
    )
    time.sleep(1.0)
    sent = [d for d in live.deliveries() if d["id"] not in before]
    acks = [d["duration"] for d in sent if d["status_code"] in (200, 202)]
    failed = [d for d in sent if d["status_code"] not in (200, 202)]
    guids = {d["guid"] for d in sent}
    recorded = {r[0]: r[1] for r in live.db_rows("SELECT guid, status FROM github_webhook_deliveries")}
    lost = [g for g in guids if g not in recorded]
    pending = [g for g in guids if recorded.get(g) == "pending"]
    mismatched = [k for k, t in wanted.items() if live.item(k)["title"] != t]
    return {
        "target_per_s": rate,
        "achieved_per_s": round(achieved, 1),
        "deliveries": len(sent),
        "ack": _stats(acks),
        "not_acknowledged": len(failed),
        "lost": len(lost) + len(pending),
        "applied_twice": live.db_rows(
            "SELECT count(*) FROM (SELECT guid FROM github_webhook_deliveries GROUP BY guid HAVING count(*) > 1) d"
        )[0][0],
        "final_state_mismatches": len(mismatched),
        "statuses": _count(recorded.get(g, "missing") for g in guids),
    }


def _count(values: Iterator[str] | Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def security(live: Live, bad: int, replays: int) -> dict[str, Any]:
    """``bad`` forged deliveries (wrong or no signature) and ``replays`` redeliveries of accepted ones:
    the answers, the deliveries recorded before and after, and how many work items changed."""
    snapshot = sorted(live.db_rows("SELECT key, title, status, updated_at FROM work_items"))
    count = live.db_rows("SELECT count(*) FROM github_webhook_deliveries")[0][0]
    key = next(k for k, v in live.keys.items() if v)
    issue = live.sim.get(f"/_simulator/repos/{REPO}/issues/{live.keys[key]}").json()
    forged = dict(issue, title=f"[{key}] forged", updated_at="2099-01-01T00:00:00Z")
    body = orjson.dumps({"action": "edited", "issue": forged, "repository": {"full_name": REPO}})
    statuses: dict[int, int] = {}
    for i in range(bad):
        headers = {
            "x-github-event": "issues",
            "x-github-delivery": f"forged-{i}",
            "content-type": "application/json",
        }
        if i % 2:
            headers["x-hub-signature-256"] = sign("wrong-secret", body)
        r = live.dash.post("/api/github/webhook", content=body, headers=headers)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    accepted = [d for d in live.deliveries() if d["status_code"] == 202]
    newest = max((d["id"] for d in live.deliveries()), default=0)
    replay_status: dict[int, int] = {}
    for n in range(replays):  # the same GUID and body again, correctly signed: GitHub's redelivery
        d = accepted[n % len(accepted)]
        live.sim.post(f"/repos/{REPO}/hooks/1/deliveries/{d['id']}/attempts").raise_for_status()
    _wait(
        lambda: sum(1 for d in live.deliveries() if d["id"] > newest and d["status_code"]) >= replays, 30, 0.2
    )
    for d in live.deliveries():
        if d["id"] > newest:
            replay_status[d["status_code"]] = replay_status.get(d["status_code"], 0) + 1
    after = sorted(live.db_rows("SELECT key, title, status, updated_at FROM work_items"))
    count_after = live.db_rows("SELECT count(*) FROM github_webhook_deliveries")[0][0]
    return {
        "bad_signature_answers": statuses,
        "replay_answers": replay_status,
        "deliveries_recorded_before_after": [count, count_after],
        "work_items_changed": sum(1 for a, b in zip(snapshot, after, strict=False) if a != b)
        + abs(len(snapshot) - len(after)),
    }


def crash(live: Live, burst: int) -> dict[str, Any]:
    """Edits through the simulator plus signed deliveries fired 8 at a time, then ``kill -9``
    once half of those are acknowledged; after a restart every acknowledged one must be applied."""
    keys = [k for k, v in live.keys.items() if v]
    wanted: dict[str, str] = {}
    before = max((d["id"] for d in live.deliveries()), default=0)
    proc = live.procs["serve"]
    acked: list[str] = []
    lock = threading.Lock()
    issues = {i["number"]: i for i in live.issues()}

    def edits() -> None:
        for i in range(burst):
            key = keys[i % len(keys)]
            title = f"crash {i}"
            with contextlib.suppress(httpx.HTTPError):
                live.edit_remote(live.keys[key], title=f"[{key}] {title}")
                wanted[key] = title

    def fire(i: int) -> None:
        issue = issues[live.keys[keys[i % len(keys)]]]
        body = orjson.dumps({"action": "edited", "issue": issue, "repository": {"full_name": REPO}})
        guid = f"crash-{uuid.uuid4()}"
        headers = {
            "x-github-event": "issues",
            "x-github-delivery": guid,
            "x-hub-signature-256": sign(SECRET, body),
        }
        with contextlib.suppress(httpx.HTTPError), httpx.Client(timeout=5) as client:
            if (
                client.post(f"{live.dash_url}/api/github/webhook", content=body, headers=headers).status_code
                == 202
            ):
                with lock:
                    acked.append(guid)

    writer = threading.Thread(target=edits)
    writer.start()
    pool = ThreadPoolExecutor(8)
    futures = [pool.submit(fire, i) for i in range(burst)]
    _wait(lambda: len(acked) >= burst // 2, 30, 0.0005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    pending = live.db_rows("SELECT guid FROM github_webhook_deliveries WHERE status = 'pending'")
    for future in futures:
        future.result()
    pool.shutdown()
    writer.join()
    sent = [d for d in live.deliveries() if d["id"] > before]
    acked += [d["guid"] for d in sent if d["status_code"] == 202]
    live.procs.pop("serve")
    live.start_dash()
    _wait(
        lambda: not live.db_rows("SELECT 1 FROM github_webhook_deliveries WHERE status = 'pending' LIMIT 1"),
        30,
        0.1,
    )
    recorded = {r[0]: r[1] for r in live.db_rows("SELECT guid, status FROM github_webhook_deliveries")}
    lost = [g for g in acked if recorded.get(g) in (None, "pending")]
    # Deliveries sent while the server was down failed on "GitHub"'s side: redeliver them, as one would.
    failed = [d for d in sent if d["status_code"] not in (200, 202)]
    for d in failed:
        live.sim.post(f"/repos/{REPO}/hooks/1/deliveries/{d['id']}/attempts")
    took = _wait(
        lambda: all(live.item(k)["title"] == t for k, t in wanted.items()), live.poll_seconds * 3 + 30, 0.2
    )
    return {
        "burst_edits_and_direct_deliveries": burst,
        "acknowledged": len(set(acked)),
        "pending_at_kill": len(pending),
        "acknowledged_but_lost": len(lost),
        "failed_while_down_then_redelivered": len(failed),
        "all_edits_present_after_s": round(took, 1) if took is not None else None,
    }


@contextmanager
def running(items: int, poll_seconds: float, keep: bool) -> Iterator[Live]:
    """A ``Live`` in a temporary folder (database, logs), seeded, with all three processes started;
    they are stopped on exit and the folder deleted unless ``keep``."""
    workdir = Path(tempfile.mkdtemp(prefix="ailab-live-"))
    live = Live(workdir, items, poll_seconds)
    try:
        live.prepare()
        live.start_sim()
        live.start_dash()
        live.start_watch()
        yield live
    finally:
        live.stop()
        if not keep:
            for path in workdir.iterdir():
                path.unlink()
            workdir.rmdir()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the phases named in ``args.phases`` on one live setup; return the report."""
    phases = args.phases.split(",")
    report: dict[str, Any] = {"items": args.items, "poll_seconds": args.poll_seconds}
    with running(args.items, args.poll_seconds, args.keep) as live:
        if "latency" in phases:
            report["remote_to_local"] = remote_to_local(live, args.edits)
            report["local_to_remote"] = local_to_remote(live, args.edits)
        if "faults" in phases:
            report["faults"] = faults(live, args.edits)
        if "security" in phases:  # after deliveries exist: it replays 100 of them
            report["security"] = security(live, 1000, 100)
        if "throughput" in phases:
            report["throughput"] = throughput(live, args.rate, args.seconds)
        if "crash" in phases:
            report["crash"] = crash(live, 200)
    return report


def _sim_main(argv: list[str]) -> None:
    """``webhook_live sim``: the simulator, pre-filled, with its webhook (a child process)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefill-from", required=True)
    parser.add_argument("--hook", required=True)
    args = parser.parse_args(argv)
    from ailab.db import get_engine
    from ailab.settings import Secret
    from ailab.sync.simulator import SimulatorConfig
    from ailab.sync.simulator.webhooks import WebhookConfig
    from ailab.sync.store import SyncStore
    from ailab.testing.sync_harness import SimulatorServer, prefill_remote

    server = SimulatorServer(port=args.port, config=SimulatorConfig(token=Secret(GH_TOKEN)))
    prefill_remote(server.sim, REPO, SyncStore(get_engine(args.prefill_from)).load_items(lambda _u, _k: REPO))
    server.sim.enable_webhooks(WebhookConfig(args.hook, Secret(os.environ["AILAB_GITHUB_WEBHOOK_SECRET"])))
    server.start()
    threading.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Command line: ``sim`` runs the simulator child; otherwise run the phases, print the JSON
    report and write it to ``--out`` when given."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sim"]:
        _sim_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--phases", default="latency,security,faults,throughput,crash")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, database)")
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    report = run(parser.parse_args(argv))
    text = json.dumps(report, indent=2)
    print(text)
    if parser.parse_args(argv).out:
        Path(parser.parse_args(argv).out).write_text(text)


if __name__ == "__main__":
    main()
