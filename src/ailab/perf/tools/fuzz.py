"""``ailab fuzz``: schemathesis against a served instance, with a report.

What ``tests/test_web_fuzz.py`` does in-process at a small size, here at full size and from
outside: a scratch database (SQLite file or a Postgres scratch schema) migrated and seeded,
``ailab serve`` on a free loopback port with writes enabled by a one-off token, then
``schemathesis run <url>/openapi.json`` with its default checks and phases (examples, coverage,
fuzzing, stateful) once per seed. The server's log is kept and read afterwards: any line that
is not an expected warning (uvicorn refusing a malformed HTTP request) is an unexpected error.

Results go to ``<out>/fuzz/<run>/``: ``fuzz.json`` (per seed: cases, failures, exit code, time),
schemathesis' JSON and JUnit reports per seed, and ``server.log``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ailab.db import get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.errors import AilabError, MissingExtraError
from ailab.testing.scratch import scratch_database
from ailab.testing.servers import free_port, stop_process, wait_until_healthy

# Server log lines that are expected under fuzzing: uvicorn answering 400 to bytes that are not HTTP.
EXPECTED_LOG = re.compile(r"Invalid HTTP request received")
_SERVE = "import sys; from ailab.cli import main; sys.argv[0] = 'ailab'; main()"


class FuzzError(AilabError):
    """The fuzz run could not be done (the server did not start, schemathesis is missing)."""


@dataclass(frozen=True)
class FuzzConfig:
    """What ``ailab fuzz`` runs: the database (and the Postgres server for its scratch schema), the
    items seeded, schemathesis' examples per operation and phase, the seeds, and where reports go."""

    db: Literal["sqlite", "postgres"] = "sqlite"
    postgres_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # for the scratch schema
    items: int = 500
    examples: int = 100  # per operation and phase
    seeds: tuple[int, ...] = (1, 2)
    out: Path = Path("reports")


@dataclass
class SeedRun:
    """One schemathesis run (one seed): exit code, test cases generated, unique failures, time, and
    the failures' titles."""

    seed: int
    exit_code: int
    generated: int
    failures: int
    seconds: float
    failure_titles: list[str] = field(default_factory=list)


@dataclass
class FuzzResult:
    """A fuzz run: its folder, the database, each seed's run, and the server log's unexpected lines
    and number of expected ones."""

    run_dir: Path
    database: str
    runs: list[SeedRun]
    unexpected_log: list[str]
    expected_log: int

    @property
    def passed(self) -> bool:
        """Every seed's run exited 0 with no failure, and the server logged nothing unexpected."""
        return not self.unexpected_log and all(r.exit_code == 0 and r.failures == 0 for r in self.runs)


def schemathesis_command() -> list[str]:
    """The command to run schemathesis (the one beside this Python, else on ``PATH``);
    ``MissingExtraError`` when there is none."""
    beside = Path(sys.executable).with_name("schemathesis")
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if found is None:
        raise MissingExtraError(
            "`ailab fuzz` needs schemathesis, a test tool of the dev extra: pip install 'ailab[dev]' "
            "(from a clone: pip install -e '.[dev]', or run make)."
        )
    return [found]


@contextmanager
def _database(cfg: FuzzConfig) -> Iterator[str]:
    with ExitStack() as stack:
        server = cfg.postgres_url if cfg.db == "postgres" else None
        url = stack.enter_context(scratch_database(server, "fuzz"))
        engine = get_engine(url)
        upgrade(engine)
        seed_database(engine, items=cfg.items, seed=42)
        engine.dispose()  # the server has the database to itself
        yield url


def _run_seed(cfg: FuzzConfig, base_url: str, token: str, seed: int, run_dir: Path) -> SeedRun:
    report = run_dir / f"seed-{seed}.json"
    cmd = [
        *schemathesis_command(),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--seed",
        str(seed),
        "--max-examples",
        str(cfg.examples),
        "--report",
        "json,junit",
        "--report-json-path",
        str(report),
        "--report-junit-path",
        str(run_dir / f"seed-{seed}.junit.xml"),
        "--no-color",
    ]
    started = time.perf_counter()
    with (run_dir / f"seed-{seed}.txt").open("wb") as out:
        exit_code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    data: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    cases = data.get("test_cases", {})
    failures = data.get("failures", [])
    titles = sorted({str(f.get("title", f)) for f in failures if isinstance(f, dict)})
    return SeedRun(
        seed=seed,
        exit_code=exit_code,
        generated=int(cases.get("generated", 0)),
        failures=int(cases.get("unique_failures", len(failures))),
        seconds=seconds,
        failure_titles=titles,
    )


def read_server_log(log: Path) -> tuple[list[str], int]:
    """(unexpected lines, number of expected ones) of the server's log."""
    unexpected, expected = [], 0
    for line in log.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        if EXPECTED_LOG.search(line):
            expected += 1
        else:
            unexpected.append(line)
    return unexpected, expected


def run_fuzz(cfg: FuzzConfig, on_progress: Any = None) -> FuzzResult:
    """Serve a seeded scratch database and fuzz it once per seed; write ``fuzz.json``."""
    schemathesis_command()  # fail before seeding when it is missing
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = cfg.out / "fuzz" / f"{stamp}-{cfg.db}"
    run_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)  # this run's only: never written anywhere
    log = run_dir / "server.log"
    runs: list[SeedRun] = []
    with _database(cfg) as url:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "AILAB_DATABASE_URL": url, "AILAB_API_TOKEN": token}
        cmd = [sys.executable, "-c", _SERVE, "serve", "--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                wait_until_healthy(base_url, proc, timeout=60.0, log=log, error=FuzzError)
                for seed in cfg.seeds:
                    if on_progress is not None:
                        on_progress(f"seed {seed}: schemathesis against {base_url} ({cfg.db})")
                    runs.append(_run_seed(cfg, base_url, token, seed, run_dir))
            finally:
                stop_process(proc)
    unexpected, expected = read_server_log(log)
    result = FuzzResult(run_dir, cfg.db, runs, unexpected, expected)
    summary = {
        "database": cfg.db,
        "items": cfg.items,
        "examples_per_operation": cfg.examples,
        "passed": result.passed,
        "runs": [r.__dict__ for r in runs],
        "server_log": {"unexpected": unexpected, "expected_warnings": expected},
    }
    (run_dir / "fuzz.json").write_text(json.dumps(summary, indent=2))
    return result
