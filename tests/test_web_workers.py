"""``ailab serve --workers 2``: two server processes on one database stay coherent.

Each process has its own summary cache, kept exact by the database's revision and the process's
change watch. On SQLite ``PRAGMA data_version`` is exact at any instant; on Postgres the default
``LISTEN`` sees a commit once its notification arrives (a window of about a millisecond that a
client chaining a write in one process and a read in the other can hit on this loaded machine),
so the strict no-stale-read test runs with ``AILAB_SUMMARY_LISTEN=0``. A keep-alive connection
stays with the process that accepted it, and ``/metrics`` says which process that is, so the
test holds one connection to each and checks that a write through either one, or by plain SQL
elsewhere, shows in the other's very next summary.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ailab.db import connect, get_engine
from ailab.db.engine import create_configured_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.errors import ConfigError
from ailab.settings import Settings, parse_database_url
from ailab.testing.scratch import forget_engine, libpq_dsn, scratch_schema
from ailab.testing.servers import free_port, stop_process, wait_until_healthy
from ailab.vocab import STATUSES
from ailab.web import create_app
from ailab.web.app import create_app_from_env
from ailab.web.server import connection_budget, connections_per_process

TOKEN = "tok-workers-7d2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUNDS = 6


@pytest.fixture(params=["sqlite", "postgres"])
def seeded_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'workers.db'}"
        engine = get_engine(url)
        upgrade(engine)
        seed_database(engine, items=40, seed=3)
        forget_engine(url)  # the servers have the file to themselves
        yield url
        return
    with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_testworkers") as url:
        engine = get_engine(url)
        upgrade(engine)
        seed_database(engine, items=40, seed=3)
        yield url


@pytest.fixture
def two_processes(seeded_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[int, httpx.Client]]]:
    """``ailab serve --workers 2`` (what it execs) and one keep-alive client per worker process."""
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "AILAB_DATABASE_URL": seeded_url,
        "AILAB_API_TOKEN": TOKEN,
        "AILAB_POOL_SIZE": "2",  # 2 x (2 + 1 listener) Postgres connections in all
        "AILAB_POOL_MAX_OVERFLOW": "0",
        "AILAB_SUMMARY_LISTEN": "0",  # exact on Postgres at any instant; SQLite's watch is anyway
    }
    cmd = [sys.executable, "-m", "ailab.web", "--port", str(port), "--workers", "2"]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    clients: dict[int, httpx.Client] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, proc, timeout=60, log=log)
        for _ in range(60):  # the kernel hands each new connection to one of the processes
            client = httpx.Client(base_url=base, timeout=10)
            pid = server_pid(client)
            if pid in clients:
                client.close()
            else:
                clients[pid] = client
            if len(clients) == 2:
                break
        assert len(clients) == 2, f"60 connections all went to one process: {list(clients)}"
        yield seeded_url, clients
    finally:
        for client in clients.values():
            client.close()
        stop_process(proc)


def server_pid(client: httpx.Client) -> int:
    match = re.search(r"^ailab_server_pid ([\d.e+]+)$", client.get("/metrics").text, re.M)
    assert match
    return int(float(match.group(1)))


def by_status(url: str) -> dict[str, int]:
    with connect(get_engine(url)) as conn:
        rows = conn.execute(text("SELECT status, COUNT(*) FROM work_items GROUP BY status"))
        return {**dict.fromkeys(STATUSES, 0), **{str(s): int(n) for s, n in rows}}


def test_a_write_through_one_process_shows_in_every_other_at_once(
    two_processes: tuple[str, dict[int, httpx.Client]],
) -> None:
    url, clients = two_processes
    first, second = clients.values()
    for client in (first, second):
        for _ in range(2):  # the second load is a cached hit
            assert client.get("/api/summary").status_code == 200
    assert second.get("/api/summary").headers["x-summary-cache"] == "hit"
    item = int(first.get("/api/work-items", params={"limit": 1}).json()["items"][0]["id"])
    for n in range(ROUNDS):
        writer, reader = (first, second) if n % 2 == 0 else (second, first)
        status = STATUSES[n % len(STATUSES)]
        if n % 3 == 2:  # plain SQL from a third process's connection, as psql would
            with connect(get_engine(url), readonly=False) as conn:
                conn.execute(
                    text("UPDATE work_items SET status = :s WHERE id = :i"), {"s": status, "i": item}
                )
        else:
            patched = writer.patch(f"/api/work-items/{item}", json={"status": status}, headers=AUTH)
            assert patched.status_code == 200, patched.text
        expected = by_status(url)
        for client in (reader, writer):  # the other process first: no stale read
            summary = client.get("/api/summary")
            assert summary.status_code == 200
            assert summary.json()["by_status"] == expected, (n, server_pid(client))
        again = reader.get("/api/summary")
        assert again.headers["x-summary-cache"] == "hit" and again.json()["by_status"] == expected
    forget_engine(url)


def test_workers_times_pool_must_fit_the_postgres_servers_headroom(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, pool_size=4, max_overflow=2)
    assert connections_per_process(settings) == 7  # pool, overflow and the LISTEN connection
    with connect(get_engine(postgres_url)) as conn:
        budget = connection_budget(conn, workers=1, settings=settings)
        assert budget["needed"] == 7 <= budget["headroom"] < budget["max_connections"]
        too_many = budget["headroom"] // 7 + 1
        with pytest.raises(ConfigError, match=r"max_connections \d+.*Lower --workers") as err:
            connection_budget(conn, workers=too_many, settings=settings)
    assert f"{too_many} server processes would open up to {too_many * 7} Postgres connections" in str(
        err.value
    )


def test_prepared_statements_can_be_turned_off_for_a_transaction_pooler(postgres_url: str) -> None:
    url = parse_database_url(postgres_url)
    prepared = create_configured_engine(url, Settings(database_url=postgres_url))
    unprepared = create_configured_engine(
        url, Settings(database_url=postgres_url, pg_prepared_statements=False)
    )
    try:
        with prepared.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold == 5  # psycopg's default
        with unprepared.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold is None
    finally:
        prepared.dispose()
        unprepared.dispose()


def test_a_dead_pooled_connection_fails_one_request_and_the_next_reconnects(postgres_server_url: str) -> None:
    """The server's Postgres pool is not pre-pinged (a round trip per request): a connection the
    server killed answers one 503 with Retry-After, and the pool then starts afresh."""
    name = f"ailab-deadconn-{secrets.token_hex(3)}"
    with scratch_schema(postgres_server_url, prefix="ailab_testdead") as url:
        upgrade(get_engine(url))
        tagged = f"{url}&application_name={name}" if "?" in url else f"{url}?application_name={name}"
        app = create_app(Settings(database_url=tagged, pool_size=1, max_overflow=0), warm_up=False)
        with TestClient(app) as client:
            assert client.get("/api/work-items", params={"limit": 1}).status_code == 200
            with psycopg.connect(libpq_dsn(parse_database_url(url)), autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    [name],
                ).fetchone()
            assert killed is not None and killed[0] >= 1  # the pooled connection (and the listener)
            failed = client.get("/api/work-items", params={"limit": 1})
            assert failed.status_code == 503 and failed.headers["retry-after"]
            assert client.get("/api/work-items", params={"limit": 1}).status_code == 200


def test_each_server_process_sets_its_gil_switch_interval(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The uvicorn factory (one call per worker process) applies AILAB_GIL_SWITCH_INTERVAL_MS;
    building an app alone (as tests do) leaves the process's interval as it was."""
    before = sys.getswitchinterval()
    monkeypatch.setenv("AILAB_DATABASE_URL", f"sqlite:///{tmp_path / 'gil.db'}")
    monkeypatch.setenv("AILAB_GIL_SWITCH_INTERVAL_MS", "2.5")
    try:
        create_app(Settings.from_env())
        assert sys.getswitchinterval() == before
        create_app_from_env()
        assert sys.getswitchinterval() == pytest.approx(0.0025)
    finally:
        sys.setswitchinterval(before)
    monkeypatch.setenv("AILAB_GIL_SWITCH_INTERVAL_MS", "0")
    with pytest.raises(ConfigError, match=r"AILAB_GIL_SWITCH_INTERVAL_MS=0\.0 is below the minimum"):
        Settings.from_env()
