"""``ailab loadtest``: a seeded server in its own process, Locust headless beside it, thresholds.

Steps: seed a scratch database (SQLite file, or a scratch schema in the given/embedded Postgres),
start the dashboard on a free loopback port (uvicorn on the app factory, one process), run
``python -m locust`` headless on ``loadtests/locustfile.py`` (one process, or a master and N
workers), keep Locust's CSV/JSON/HTML and a ``summary.json`` under ``reports/loadtest/<run>/``
(and a copy as ``reports/loadtest_latest.json``), and judge the thresholds.

Locust is only ever a subprocess: importing it here would monkey-patch this process with gevent.
Every process started here is stopped by its PID before returning, also on errors.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.errors import AilabError, ConfigError
from ailab.perf.tools import cpu_split
from ailab.perf.tools.compare import postgres_server
from ailab.perf.tools.locust_results import read_failures, read_stats
from ailab.testing import scratch
from ailab.testing.servers import free_port, stop_process, wait_until_healthy

DEFAULT_APP = "ailab.web.app:create_app_from_env"
LATEST_FILE = "loadtest_latest.json"
REPO_LOCUSTFILE = Path(__file__).resolve().parents[4] / "loadtests" / "locustfile.py"
PREFIX = "locust"


class LoadTestError(AilabError):
    """The load test could not run (server or Locust failed to start); thresholds are separate."""


DEFAULT_MIN_RPS = 800.0
OFFERED_SHARE = 0.95  # of users x user-rps: what a run can be asked to reach


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits on the aggregated figures (the dashboard goal from the target table).

    ``min_rps=None`` (the default) judges what was offered: min(800, 95% of users x user-rps),
    since 10 users at 10 req/s cannot make 800 req/s. An explicit ``min_rps`` is kept as given.
    ``max_write_read_p95_ratio``: write p95 at most this many times the read p95 (fair latency).
    """

    max_p95_ms: float = 50.0
    max_fail_ratio: float = 0.0
    min_rps: float | None = None
    max_write_read_p95_ratio: float = 3.0

    def effective_min_rps(self, users: int, user_rps: float) -> float:
        """The req/s limit: ``min_rps`` when given, else min(``DEFAULT_MIN_RPS``, 95% of ``users`` x
        ``user_rps``), or ``DEFAULT_MIN_RPS`` without pacing (``user_rps <= 0``)."""
        if self.min_rps is not None:
            return self.min_rps
        return DEFAULT_MIN_RPS if user_rps <= 0 else min(DEFAULT_MIN_RPS, OFFERED_SHARE * users * user_rps)

    def locust_args(self) -> list[str]:
        """The thresholds as options of the locustfile; ``--min-rps`` only when given, so that Locust
        judges what was offered just as ``effective_min_rps`` does."""
        args = [
            "--max-p95-ms",
            f"{self.max_p95_ms:g}",
            "--max-fail-ratio",
            f"{self.max_fail_ratio:g}",
            "--max-write-read-p95-ratio",
            f"{self.max_write_read_p95_ratio:g}",
        ]
        return args if self.min_rps is None else [*args, "--min-rps", f"{self.min_rps:g}"]


@dataclass
class LoadTestConfig:
    """What ``ailab loadtest`` runs: users and their pacing, duration, database and size, processes
    (Locust workers, server workers, CPU pinning), thresholds and where reports go. With ``host``
    set, that running server is tested: nothing is seeded or started."""

    users: int = 100
    spawn_rate: float = 50.0
    duration_s: float = 60.0
    db: Literal["sqlite", "postgres"] = "sqlite"
    items: int = 100_000
    postgres_url: str | None = None
    workers: int = 0  # 0: one Locust process; N: a master and N workers (distributed mode)
    server_workers: int = 1  # uvicorn worker processes serving the one database
    user_rps: float = 10.0  # requests/s each user aims at; 0 = no pause
    thresholds: Thresholds = field(default_factory=Thresholds)
    reports_dir: Path = Path("reports")
    app: str = DEFAULT_APP  # uvicorn app factory "module:callable"
    app_dir: Path | None = None
    host: str | None = None  # an already running server: no database, no server started
    locustfile: Path = REPO_LOCUSTFILE
    pin: bool = False  # server on CPU 0, Locust on CPU 1 (as in shared/limits.md)
    writes: bool = True  # give Locust the API token so its users also PATCH/POST


def parse_duration(text: str | float) -> float:
    """Seconds from ``90``, ``"90s"``, ``"2m"`` or ``"1m30s"``."""
    if isinstance(text, int | float):
        return float(text)
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return float(raw)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", raw)
    if not raw or parts is None:
        raise ConfigError(f"Duration {text!r} is not understood; use e.g. 60, 60s, 2m or 1m30s.")
    h, m, s = (int(g or 0) for g in parts.groups())
    return float(h * 3600 + m * 60 + s)


# --- processes --------------------------------------------------------------------------------


@contextmanager
def started(
    cmd: list[str], *, env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess writing to ``log``, stopped (terminate, then kill) by its PID on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            yield proc
        finally:
            stop_process(proc)


def _pin(proc: subprocess.Popen[bytes], cpu: int) -> None:
    import psutil

    if (os.cpu_count() or 1) > cpu:
        psutil.Process(proc.pid).cpu_affinity([cpu])


@contextmanager
def scratch_database(cfg: LoadTestConfig) -> Iterator[tuple[str, str]]:
    """A migrated, seeded scratch database URL and a description of it."""
    with ExitStack() as stack:
        server_url, source = None, "SQLite file (temporary directory)"
        if cfg.db == "postgres":
            server_url, source = stack.enter_context(postgres_server(cfg.postgres_url))
        url = stack.enter_context(scratch.scratch_database(server_url, "loadtest"))
        engine = get_engine(url)
        upgrade(engine)
        seed_database(engine, items=cfg.items, seed=42)
        engine.dispose()  # the server has the database to itself
        yield url, source


def server_command(cfg: LoadTestConfig, port: int) -> list[str]:
    """The uvicorn command serving the app factory ``cfg.app`` on ``127.0.0.1:port`` (access log off,
    ``--workers`` when more than one)."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        cfg.app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--ws",
        "none",  # as ``ailab serve``: no websocket library in the server process
        "--log-level",
        "warning",
    ]
    if cfg.server_workers > 1:
        cmd += ["--workers", str(cfg.server_workers)]
    if cfg.app_dir is not None:
        cmd += ["--app-dir", str(cfg.app_dir)]
    return cmd


def locust_command(
    cfg: LoadTestConfig, host: str, run_dir: Path, role: str = "local", master_port: int = 0
) -> list[str]:
    """The Locust command for ``role``: ``local`` (one headless process) or ``master`` (headless,
    waiting up to 30 s for ``cfg.workers`` workers), writing results and verdict to ``run_dir``;
    or a ``worker`` that connects to the master on ``master_port``."""
    base = [sys.executable, "-m", "locust", "-f", str(cfg.locustfile), "--loglevel", "INFO"]
    if role == "worker":
        return [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    cmd = [
        *base,
        "--headless",
        "--host",
        host,
        "-u",
        str(cfg.users),
        "-r",
        f"{cfg.spawn_rate:g}",
        "-t",
        f"{max(1, round(cfg.duration_s))}s",
        "--csv",
        str(run_dir / PREFIX),
        "--json-file",
        str(run_dir / PREFIX),
        "--html",
        str(run_dir / f"{PREFIX}.html"),
        "--only-summary",
        "--user-rps",
        f"{cfg.user_rps:g}",
        "--verdict-file",
        str(run_dir / "verdict.json"),
        "--stop-timeout",
        "2",
        *cfg.thresholds.locust_args(),
    ]
    if role == "master":
        cmd += [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(master_port),
            "--expect-workers",
            str(cfg.workers),
            "--expect-workers-max-wait",
            "30",
        ]
    return cmd


# --- results ----------------------------------------------------------------------------------


class LoadTestSummary(dict[str, Any]):
    """A load test's ``summary.json`` (a plain dict) that displays itself in a notebook."""

    def _repr_html_(self) -> str:
        from ailab.perf.report.reprs import loadtest_html

        return loadtest_html(self)


@dataclass
class LoadTestResult:
    """One load test: its run folder, exit code (non-zero when a threshold was missed) and summary."""

    run_dir: Path
    exit_code: int
    summary: LoadTestSummary

    @property
    def passed(self) -> bool:
        """Locust exited 0 and every threshold check passed."""
        return bool(self.summary.get("passed"))

    def _repr_html_(self) -> str:
        return self.summary._repr_html_()


def _judge(
    cfg: LoadTestConfig, agg: dict[str, float], classes: dict[str, float | None]
) -> list[dict[str, Any]]:
    """The checks: aggregated p95, failure ratio, req/s against what was offered, and write p95
    against read p95 (when both kinds ran)."""
    t = cfg.thresholds
    ratio = agg["failures"] / agg["requests"] if agg.get("requests") else float("nan")
    offered = cfg.users * cfg.user_rps if cfg.user_rps > 0 else None
    min_rps = t.effective_min_rps(cfg.users, cfg.user_rps)
    checks: list[dict[str, Any]] = [
        {
            "name": "p95_ms",
            "value": agg["p95_ms"],
            "limit": t.max_p95_ms,
            "op": "<=",
            "ok": agg["p95_ms"] <= t.max_p95_ms,
        },
        {
            "name": "fail_ratio",
            "value": ratio,
            "limit": t.max_fail_ratio,
            "op": "<=",
            "ok": ratio <= t.max_fail_ratio,
        },
        {
            "name": "rps",
            "value": agg["rps"],
            "limit": min_rps,
            "op": ">=",
            "ok": agg["rps"] >= min_rps,
            "configured": t.min_rps if t.min_rps is not None else DEFAULT_MIN_RPS,
            "offered": offered,
            "explicit": t.min_rps is not None,
        },
    ]
    read_p95, write_p95 = classes.get("read_p95_ms"), classes.get("write_p95_ms")
    if read_p95 and write_p95 is not None:
        checks.append(
            {
                "name": "write_read_p95_ratio",
                "value": write_p95 / read_p95,
                "limit": t.max_write_read_p95_ratio,
                "op": "<=",
                "ok": write_p95 <= t.max_write_read_p95_ratio * read_p95,
            }
        )
    return checks


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def summarize(cfg: LoadTestConfig, run_dir: Path, exit_code: int, extra: dict[str, Any]) -> dict[str, Any]:
    """The ``summary.json`` content from Locust's files in ``run_dir``: aggregate figures (Locust's
    verdict file wins where it has them), threshold checks, endpoints, failures and ``extra``; NaNs
    as None. ``LoadTestError`` when Locust wrote no results."""
    stats_path = run_dir / f"{PREFIX}.json"
    if not stats_path.exists():
        tail = (run_dir / "locust.log").read_text(errors="replace")[-1500:]
        raise LoadTestError(f"Locust wrote no results (exit code {exit_code}); its log ends with:\n{tail}")
    stats = read_stats(stats_path)
    agg = stats.pop("Aggregated")
    verdict_path = run_dir / "verdict.json"
    locust_verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else None
    if locust_verdict:  # Locust's own aggregate (its run clock) is the authoritative one
        figures = {c["name"]: c["value"] for c in locust_verdict["checks"]}
        agg["rps"] = float(figures.get("rps", agg["rps"]))
        agg["p95_ms"] = float(figures.get("p95_ms", agg["p95_ms"]))
    classes = {k: (locust_verdict or {}).get("classes", {}).get(k) for k in ("read_p95_ms", "write_p95_ms")}
    checks = _judge(cfg, agg, classes)
    summary = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_dir": str(run_dir),
        "config": {
            **{k: v for k, v in asdict(cfg).items() if k not in ("thresholds", "postgres_url")},
            "reports_dir": str(cfg.reports_dir),
            "app_dir": str(cfg.app_dir) if cfg.app_dir else None,
            "locustfile": str(cfg.locustfile),
        },
        "db": cfg.db if cfg.host is None else "external",
        "items": cfg.items if cfg.host is None else None,
        "thresholds": {
            **asdict(cfg.thresholds),
            "min_rps": cfg.thresholds.effective_min_rps(cfg.users, cfg.user_rps),
        },
        **classes,
        "checks": checks,
        "passed": exit_code == 0 and all(c["ok"] for c in checks),
        "exit_code": exit_code,
        "locust_verdict": locust_verdict,
        "requests": int(agg["requests"]),
        "failures": int(agg["failures"]),
        "fail_ratio": agg["failures"] / agg["requests"] if agg["requests"] else None,
        "rps": agg["rps"],
        "p50_ms": agg["p50_ms"],
        "p95_ms": agg["p95_ms"],
        "p99_ms": agg["p99_ms"],
        "max_ms": agg["max_ms"],
        "endpoints": {k: v for k, v in stats.items() if not k.startswith("setup:")},
        "failure_reasons": read_failures(run_dir / f"{PREFIX}_failures.csv"),
        "setup_requests": int(sum(v["requests"] for k, v in stats.items() if k.startswith("setup:"))),
        "files": {
            kind: str(run_dir / name)
            for kind, name in (
                ("stats_csv", f"{PREFIX}_stats.csv"),
                ("history_csv", f"{PREFIX}_stats_history.csv"),
                ("failures_csv", f"{PREFIX}_failures.csv"),
                ("json", f"{PREFIX}.json"),
                ("html", f"{PREFIX}.html"),
            )
            if (run_dir / name).exists()
        },
        **extra,
    }
    return dict(_nan_to_none(summary))


def _server_usage(proc: subprocess.Popen[bytes]) -> dict[str, float]:
    """RSS (the largest serving process, and the sum) and CPU seconds of the server and its
    worker processes (``--server-workers``)."""
    import psutil

    try:
        rss, cpu = [], 0.0
        for p in cpu_split.server_processes(proc.pid):
            try:
                times = p.cpu_times()
                rss.append(p.memory_info().rss / 2**20)
                cpu += times.user + times.system
            except psutil.Error:
                continue
        return {"rss_mib": max(rss), "rss_mib_total": sum(rss), "cpu_seconds": cpu, "processes": len(rss)}
    except (psutil.Error, ValueError):
        return {}


def _is_local(url: str) -> bool:
    """The database server runs on this machine (its processes' CPU can be counted)."""
    from sqlalchemy.engine import make_url

    host = make_url(url).host
    return host in (None, "", "localhost", "127.0.0.1", "::1") or str(host).startswith("/")


def _run_locust(cfg: LoadTestConfig, host: str, run_dir: Path, env: dict[str, str], stack: ExitStack) -> int:
    timeout = cfg.duration_s + 120
    if cfg.workers <= 0:
        proc = stack.enter_context(
            started(locust_command(cfg, host, run_dir), env=env, log=run_dir / "locust.log", cwd=run_dir)
        )
        if cfg.pin:
            _pin(proc, 1)
        return _wait(proc, timeout)
    port = free_port()
    master = stack.enter_context(
        started(
            locust_command(cfg, host, run_dir, "master", port),
            env=env,
            log=run_dir / "locust.log",
            cwd=run_dir,
        )
    )
    workers = [
        stack.enter_context(
            started(
                locust_command(cfg, host, run_dir, "worker", port),
                env=env,
                log=run_dir / f"locust-worker-{i}.log",
                cwd=run_dir,
            )
        )
        for i in range(cfg.workers)
    ]
    if cfg.pin:
        for proc in (master, *workers):
            _pin(proc, 1)
    code = _wait(master, timeout)
    for w in workers:
        _wait(w, 30)
    return code


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise LoadTestError(
            f"Locust (pid {proc.pid}) did not finish within {timeout:.0f} s; stopped it."
        ) from None


def run_loadtest(cfg: LoadTestConfig, on_progress: Any = None) -> LoadTestResult:
    """Run one load test; the result's ``exit_code`` is non-zero when a threshold was missed."""
    say = on_progress or (lambda _msg: None)
    if not cfg.locustfile.is_file():
        raise ConfigError(
            f"Locust file {cfg.locustfile} not found; pass --locustfile loadtests/locustfile.py."
        )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = (
        cfg.reports_dir / "loadtest" / f"{stamp}-{cfg.db if cfg.host is None else 'external'}"
    ).resolve()
    if run_dir.exists():
        run_dir = run_dir.with_name(f"{run_dir.name}-{secrets.token_hex(2)}")
    run_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILAB_LT_")}
    token = secrets.token_urlsafe(24)
    # The machine's 1-minute load average before and after: other processes share these cores.
    extra: dict[str, Any] = {"load_average": {"before": os.getloadavg()[0]}}
    with ExitStack() as stack:
        host = cfg.host
        server = None
        if host is None:
            say(f"seeding {cfg.items:,} items on {cfg.db}")
            url, source = stack.enter_context(scratch_database(cfg))
            extra["database"] = source
            port = free_port()
            host = f"http://127.0.0.1:{port}"
            server_env = {**env, "AILAB_DATABASE_URL": url, "AILAB_API_TOKEN": token}
            say(f"starting the server on {host}")
            server = stack.enter_context(
                started(server_command(cfg, port), env=server_env, log=run_dir / "server.log")
            )
            if cfg.pin:
                _pin(server, 0)
            wait_until_healthy(host, server, timeout=60, log=run_dir / "server.log", error=LoadTestError)
        locust_env = {**env, "AILAB_LT_WORKER_COUNTS_DIR": str(run_dir)}
        if cfg.writes and cfg.host is None:
            locust_env["AILAB_LT_API_TOKEN"] = token
        say(
            f"running Locust: {cfg.users} users for {cfg.duration_s:g} s"
            + (f", {cfg.workers} workers" if cfg.workers else "")
        )
        count_postgres = cfg.host is None and cfg.db == "postgres" and _is_local(url)
        split_before = cpu_split.snapshot(server.pid if server else None, count_postgres=count_postgres)
        code = _run_locust(cfg, host, run_dir, locust_env, stack)
        split_after = cpu_split.snapshot(server.pid if server else None, count_postgres=count_postgres)
        if server is not None:
            extra["server"] = _server_usage(server)
            if "cpu_seconds" in extra["server"]:
                extra["server"]["cpu_seconds_during_run"] = split_after.server - split_before.server
        extra["load_average"]["after"] = os.getloadavg()[0]
    workers = sorted(run_dir.glob("worker-*.json"))
    if workers:
        extra["worker_requests"] = [json.loads(p.read_text())["requests"] for p in workers]
    summary = summarize(cfg, run_dir, code, extra)
    server_cpu = summary.get("server", {}).get("cpu_seconds_during_run")
    if server_cpu is not None and summary["requests"]:
        # Server CPU per request: a figure that the machine's other load disturbs less than req/s.
        summary["server"]["cpu_ms_per_request"] = server_cpu * 1000.0 / summary["requests"]
    if cfg.host is None:
        summary["cpu"] = cpu_split.split(
            split_before, split_after, int(summary["requests"]), server_processes=cfg.server_workers
        )
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    shutil.copyfile(run_dir / "summary.json", cfg.reports_dir / LATEST_FILE)
    shutil.copyfile(run_dir / "summary.json", cfg.reports_dir / f"loadtest_latest_{summary['db']}.json")
    return LoadTestResult(
        run_dir=run_dir, exit_code=0 if summary["passed"] else (code or 1), summary=LoadTestSummary(summary)
    )


def latest_by_db(reports_dir: Path) -> dict[str, dict[str, Any]]:
    """The latest summary per database (``sqlite``, ``postgres``, ``external``), newest first."""
    found = []
    for path in reports_dir.glob("loadtest_latest_*.json"):
        data: dict[str, Any] = json.loads(path.read_text())
        found.append((str(data.get("generated_at", "")), str(data.get("db")), data))
    return {db: data for _, db, data in sorted(found, key=lambda t: t[0], reverse=True)}


def latest_summary(reports_dir: Path) -> LoadTestSummary | None:
    """The summary of the latest ``ailab loadtest`` under ``reports_dir``, if any."""
    path = reports_dir / LATEST_FILE
    if not path.is_file():
        return None
    return LoadTestSummary(json.loads(path.read_text()))
