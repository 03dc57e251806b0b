"""``ailab loadtest``: tiny Locust runs (a few seconds) as subprocesses; Locust is never imported here.

A stand-in ASGI app (the endpoint contract with canned answers and a request counter) serves the
threshold and distributed tests; one run goes against the real dashboard.
"""

from __future__ import annotations

import ast
import csv
import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ailab.cli import app
from ailab.errors import ConfigError
from ailab.perf.tools.cpu_split import CpuSnapshot, describe
from ailab.perf.tools.cpu_split import split as cpu_split
from ailab.perf.tools.loadtest import (
    LATEST_FILE,
    REPO_LOCUSTFILE,
    LoadTestConfig,
    LoadTestError,
    Thresholds,
    _judge,
    latest_summary,
    parse_duration,
    run_loadtest,
    server_command,
)
from ailab.perf.tools.locust_results import read_failures, read_history, read_stats
from ailab.vocab import PRIORITIES, STATUSES

STANDIN = textwrap.dedent(
    '''
    """Stand-in dashboard: the endpoint contract with canned JSON, and a request counter."""
    import json

    COUNT = {"n": 0}
    ITEMS = [{"id": i, "key": f"WI-{i:06d}", "title": f"item {i}", "project": "core"} for i in range(1, 51)]


    def create_app():
        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    else:
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            path = scope["path"]
            if path == "/__count":
                body = dict(COUNT)
            else:
                COUNT["n"] += path != "/healthz"
                if path == "/api/summary":
                    body = {"total": 50, "top_tags": [{"name": "api", "count": 50}]}
                elif path == "/api/work-items" and scope["method"] == "GET":
                    body = {"items": ITEMS, "next_cursor": "c1"}
                else:
                    body = ITEMS[0]
            data = json.dumps(body).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        return app
    '''
)


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "standin_app.py").write_text(STANDIN)
    return folder


def _config(tmp_path: Path, standin: Path, **kw: object) -> LoadTestConfig:
    base: dict[str, object] = {
        "users": 4, "spawn_rate": 4.0, "duration_s": 3.0, "items": 30, "user_rps": 20.0,
        "reports_dir": tmp_path / "reports", "app": "standin_app:create_app", "app_dir": standin,
    }  # fmt: skip
    base.update(kw)
    return LoadTestConfig(**base)  # type: ignore[arg-type]


def test_generous_thresholds_pass_on_the_real_dashboard(tmp_path: Path) -> None:
    cfg = LoadTestConfig(
        users=4, spawn_rate=4, duration_s=3, items=300, user_rps=20, reports_dir=tmp_path / "reports",
        thresholds=Thresholds(max_p95_ms=10_000, max_fail_ratio=0.0, min_rps=1, max_write_read_p95_ratio=1000),
    )  # fmt: skip
    result = run_loadtest(cfg)
    s = result.summary
    assert result.exit_code == 0 and result.passed, s["checks"]
    assert s["failures"] == 0 and s["requests"] > 10
    assert all(c["ok"] for c in s["checks"]) and s["locust_verdict"]["passed"]
    # Reads and writes are judged apart: both classes have a p95, and the ratio is checked.
    assert s["read_p95_ms"] > 0 and s["write_p95_ms"] > 0
    assert {c["name"] for c in s["checks"]} == {"p95_ms", "fail_ratio", "rps", "write_read_p95_ratio"}
    assert s["locust_verdict"]["classes"] == {k: s[k] for k in ("read_p95_ms", "write_p95_ms")}
    assert {"GET /api/summary", "GET /api/work-items/{id}", "GET /"} <= set(s["endpoints"])
    assert any(name.startswith(("PATCH", "POST")) for name in s["endpoints"])  # writes with the token
    # Every results file parses.
    run = result.run_dir
    assert json.loads((run / "summary.json").read_text()) == s
    assert read_stats(run / "locust.json")["Aggregated"]["requests"] == s["requests"]
    with (run / "locust_stats.csv").open() as fh:
        assert any(row["Name"] == "Aggregated" for row in csv.DictReader(fh))
    assert read_history(run / "locust_stats_history.csv")
    assert (run / "locust.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert latest_summary(cfg.reports_dir) == s
    assert s["server"]["rss_mib"] > 0
    # Where the CPU went: the server and Locust both worked; SQLite has no process of its own.
    cpu = s["cpu"]
    assert cpu["server_ms"] > 0 and cpu["load_generator_ms"] > 0 and cpu["database_ms"] is None
    assert cpu["ceiling_rps"] > 0 and cpu["server_ceiling_rps"] >= cpu["ceiling_rps"] / cpu["cores"]
    token_free = "".join(p.read_text(errors="replace") for p in run.iterdir() if p.is_file())
    assert "Bearer" not in token_free


def test_impossible_threshold_exits_non_zero(tmp_path: Path, standin: Path) -> None:
    reports = tmp_path / "reports"
    args = [
        "loadtest", "--users", "3", "--spawn-rate", "3", "--duration", "2s", "--items", "30", "--user-rps", "20",
        "--max-p95-ms", "10000", "--min-rps", "1000000", "--max-write-read-p95-ratio", "1000", "--out", str(reports), "--app", "standin_app:create_app",
        "--app-dir", str(standin),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "MISSED" in result.output
    s = json.loads((reports / LATEST_FILE).read_text())
    assert not s["passed"] and s["exit_code"] == 1
    assert [c["name"] for c in s["checks"] if not c["ok"]] == ["rps"]  # a million requests/s: impossible here
    assert s["locust_verdict"] is not None and not s["locust_verdict"]["passed"]


def test_distributed_run_adds_up(tmp_path: Path, standin: Path) -> None:
    """A master and two workers on loopback: both workers report, and their requests add up to
    the master's total. (Whether each worker got a request out within the short run depends on
    when its users spawned, so that is not asserted.)"""
    cfg = _config(tmp_path, standin, workers=2, duration_s=2.0, thresholds=Thresholds(10_000, 0.0, 1, 1000))
    result = run_loadtest(cfg)
    s = result.summary
    assert result.passed, s["checks"]
    assert len(s["worker_requests"]) == 2
    assert s["requests"] > 0 and sum(s["worker_requests"]) == s["requests"]
    assert sum(int(e["requests"]) for e in s["endpoints"].values()) + s["setup_requests"] == s["requests"]
    assert s["config"]["workers"] == 2


def test_the_rps_threshold_judges_what_was_offered() -> None:
    """10 users at 10 req/s offer 100 req/s: the limit is 95 of them, not 800; 100 users at
    10 req/s offer 1,000, so 800 applies; an explicit --min-rps is kept; no pacing, 800."""
    default = Thresholds()
    assert default.effective_min_rps(10, 10.0) == pytest.approx(95.0)
    assert default.effective_min_rps(100, 10.0) == 800.0
    assert default.effective_min_rps(100, 0.0) == 800.0
    assert Thresholds(min_rps=500).effective_min_rps(10, 10.0) == 500.0
    assert Thresholds().locust_args().count("--min-rps") == 0  # Locust derives the same itself
    assert Thresholds(min_rps=500).locust_args()[-2:] == ["--min-rps", "500"]
    cfg = LoadTestConfig(users=10, user_rps=10.0)
    agg = {"p95_ms": 20.0, "failures": 0, "requests": 1000, "rps": 97.0}
    checks = {c["name"]: c for c in _judge(cfg, agg, {"read_p95_ms": 10.0, "write_p95_ms": 31.0})}
    assert checks["rps"]["ok"] and checks["rps"]["limit"] == pytest.approx(95.0)
    assert checks["rps"]["configured"] == 800.0 and checks["rps"]["offered"] == 100.0
    assert not checks["write_read_p95_ratio"]["ok"] and checks["write_read_p95_ratio"]["value"] == 3.1
    fair = _judge(cfg, agg, {"read_p95_ms": 10.0, "write_p95_ms": 30.0})
    assert all(c["ok"] for c in fair)
    # A run without writes has no ratio to judge.
    assert "write_read_p95_ratio" not in {c["name"] for c in _judge(cfg, agg, {"read_p95_ms": 10.0})}


def test_server_workers_start_uvicorn_workers(tmp_path: Path) -> None:
    assert "--workers" not in server_command(LoadTestConfig(), 8000)
    cmd = server_command(LoadTestConfig(server_workers=3), 8000)
    assert cmd[cmd.index("--workers") + 1] == "3"


def test_parse_duration() -> None:
    assert parse_duration("60") == 60
    assert parse_duration("90s") == 90
    assert parse_duration("2m") == 120
    assert parse_duration("1m30s") == 90
    assert parse_duration(5) == 5
    with pytest.raises(ConfigError):
        parse_duration("soon")


def test_locustfile_vocabularies_match_the_tracker() -> None:
    """The locustfile stays importable without ailab (workers); its vocabularies must not drift."""
    tree = ast.parse(REPO_LOCUSTFILE.read_text())
    consts = {
        t.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and t.id in ("STATUSES", "PRIORITIES")
    }
    assert consts == {"STATUSES": STATUSES, "PRIORITIES": PRIORITIES}
    assert not any(
        isinstance(n, ast.ImportFrom) and (n.module or "").startswith("ailab") for n in ast.walk(tree)
    )


def test_missing_locustfile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        run_loadtest(LoadTestConfig(locustfile=tmp_path / "none.py", reports_dir=tmp_path))


def test_a_broken_locustfile_is_reported_with_its_log(tmp_path: Path, standin: Path) -> None:
    broken = tmp_path / "broken_locustfile.py"
    broken.write_text("raise RuntimeError('this locustfile is broken on purpose')\n")
    with pytest.raises(LoadTestError, match="broken on purpose"):
        run_loadtest(_config(tmp_path, standin, locustfile=broken, duration_s=1.0))
    assert not (tmp_path / "reports" / LATEST_FILE).exists()


def test_read_failures_sorts_by_occurrences(tmp_path: Path) -> None:
    path = tmp_path / "locust_failures.csv"
    path.write_text(
        "Method,Name,Error,Occurrences\n"
        "PATCH,PATCH /api/work-items/{id},HTTP 503: pool,2\n"
        "GET,GET /,HTTP 500: boom,7\n"
    )
    assert [f["occurrences"] for f in read_failures(path)] == [7, 2]
    assert read_failures(tmp_path / "missing.csv") == []


def test_the_cpu_split_adds_up_per_request() -> None:
    before = CpuSnapshot(server=10.0, database=5.0, generator=1.0, machine_busy=100.0)
    after = CpuSnapshot(server=12.0, database=6.0, generator=2.0, machine_busy=105.0)
    cpu = cpu_split(before, after, 2000, server_processes=2, cores=2)
    assert cpu["server_ms"] == 1.0 and cpu["database_ms"] == 0.5 and cpu["load_generator_ms"] == 0.5
    assert cpu["machine_ms"] == 2.5 and cpu["other_ms"] == 0.5
    assert cpu["ceiling_rps"] == 1000.0  # 2 cores / 2 ms of counted CPU per request
    assert cpu["server_ceiling_rps"] == 2000.0  # 2 server processes / 1 ms each
    assert describe(cpu)[1].startswith("ceiling on this machine: 1,000 req/s")
    sqlite = cpu_split(CpuSnapshot(1.0, None, 0.0, 1.0), CpuSnapshot(2.0, None, 1.0, 2.0), 1000, cores=2)
    assert sqlite["database_ms"] is None and "database in the server (SQLite)" in describe(sqlite)[0]
    assert cpu_split(before, after, 0) == {}
