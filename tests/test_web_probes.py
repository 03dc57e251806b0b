"""Serving safely: /livez never depends on the database, /readyz says whether the database
answers at the right schema (a busy pool is ready), statements time out into a clear 503, and
the server starts without the working directory on sys.path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ailab.db.engine import create_configured_engine, get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.db.timeouts import apply_statement_timeout, is_statement_timeout
from ailab.settings import Settings, parse_database_url
from ailab.testing.scratch import forget_engine, libpq_dsn, scratch_schema
from ailab.web import create_app
from ailab.web.error_handlers import STATEMENT_TIMEOUT, response_for
from cli_support import Cli

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgres"])
def seeded_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    def prepared(url: str) -> str:
        upgrade(get_engine(url))
        seed_database(get_engine(url), items=20, seed=3)
        return url

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'probes.db'}"
        yield prepared(url)
        forget_engine(url)
    else:
        with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_i15") as url:
            yield prepared(url)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@contextmanager
def every_connection_held(engine: Engine) -> Iterator[None]:
    pool = engine.pool
    size = pool.size() + max(0, pool._max_overflow)  # type: ignore[attr-defined]
    held: list[Connection] = [engine.connect() for _ in range(size)]
    try:
        yield
    finally:
        for conn in held:
            conn.close()


async def test_a_busy_pool_is_alive_and_ready(seeded_url: str) -> None:
    app = create_app(Settings(database_url=seeded_url, pool_timeout=0.05), warm_up=False)
    async with serving(app) as client:
        with every_connection_held(app.state.ctx.engine):
            live = await client.get("/livez")
            ready = await client.get("/readyz")
            health = await client.get("/healthz")
            busy_page = await client.get("/api/work-items")
        assert live.status_code == 200 and live.json() == {"status": "alive"}
        # On main /healthz answered 503 "did not answer, or its schema is not migrated" here.
        for answer in (ready, health):
            assert answer.status_code == 200, answer.text
            assert answer.json()["pool"] == "busy"
        assert busy_page.status_code == 503  # real work still fails fast, with Retry-After
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["pool"] == "available"
        assert (
            ready.json()["schema_revision"] == ready.json()["schema_revision"]
            and ready.json()["revision"] >= 1
        )


async def test_a_schema_behind_head_is_not_ready_but_alive(seeded_url: str) -> None:
    engine = get_engine(seeded_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    app = create_app(Settings(database_url=seeded_url), warm_up=False)
    async with serving(app) as client:
        ready, health, live = (
            await client.get("/readyz"),
            await client.get("/healthz"),
            await client.get("/livez"),
        )
    for answer in (ready, health):
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert (
            "schema is at revision 0002" in answer.json()["detail"]
            and "ailab db upgrade" in answer.json()["detail"]
        )
    assert live.status_code == 200


async def test_postgres_request_behind_a_lock_times_out_into_a_503(postgres_server_url: str) -> None:
    with scratch_schema(postgres_server_url, prefix="ailab_i15") as url:
        upgrade(get_engine(url))
        seed_database(get_engine(url), items=5, seed=1)
        app = create_app(Settings(database_url=url, statement_timeout_ms=200), warm_up=False)
        schema = dict(parse_database_url(url).query)["options"].split("=", 1)[1]
        with psycopg.connect(libpq_dsn(parse_database_url(postgres_server_url))) as locker:
            locker.execute(f'LOCK TABLE "{schema}".work_items IN ACCESS EXCLUSIVE MODE')
            async with serving(app) as client:
                answer = await client.get("/api/work-items/1")
            locker.rollback()
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert answer.json()["detail"] == STATEMENT_TIMEOUT
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_sqlite_statement_limit_interrupts_a_long_statement(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    engine = create_configured_engine(parse_database_url(url), Settings(database_url=url))
    apply_statement_timeout(engine, 50)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT MAX(i) FROM n"
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1  # short statements run
            with pytest.raises(Exception) as caught:
                conn.execute(text(endless))
            assert conn.execute(text("SELECT 2")).scalar() == 2  # the connection stays usable
    finally:
        engine.dispose()
    assert is_statement_timeout(caught.value)
    answer = response_for(caught.value, "GET", "/api/summary")  # type: ignore[arg-type]
    assert answer.status_code == 503 and STATEMENT_TIMEOUT.encode() in bytes(answer.body)


def test_serve_starts_python_without_the_working_directory_on_sys_path(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    upgrade(get_engine(url))
    (tmp_path / "concurrent.py").write_text("raise ImportError('a stray concurrent.py in the cwd')\n")
    monkeypatch.chdir(tmp_path)
    started: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda _exe, args, _env: started.append(list(args)))
    run = cli("serve", "--database-url", url, "--port", "18601")
    forget_engine(url)
    assert run.code == 0, run.output
    args = started[0]
    assert args[1] == "-P", args
    # In that directory, the interpreter started this way imports the real standard library (on
    # main, without -P, the stray file shadowed it and start-up crashed).
    probe = [args[0], args[1], "-c", "import concurrent.futures"]
    assert subprocess.run(probe, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
    assert (
        subprocess.run(
            [args[0], "-c", "import concurrent.futures"], cwd=tmp_path, capture_output=True, timeout=60
        ).returncode
        != 0
    )
    assert sys.executable == args[0]
