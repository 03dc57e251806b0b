"""Writes are not starved by reads: no hop to a worker thread that a busy event loop would delay.

Profiled under the default load (``ailab loadtest``): a PATCH took 1.2 s end to end for 2.3 ms in
the write, because each hop to a worker thread and back (FastAPI's plain ``def`` dependencies, the
write itself) waited a turn of the event loop that the inline reads kept busy. So on SQLite a
write runs inline when the write lock is free, and only waits in a thread when another
connection holds it; the write routes' dependencies are ``async``.
"""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.routing import APIRoute

from ailab.db import get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.settings import Secret, Settings
from ailab.testing.scratch import forget_engine
from ailab.web import create_app

pytestmark = pytest.mark.anyio
TOKEN = "tok-fair-3b9e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_write_routes_run_no_dependency_in_a_worker_thread() -> None:
    app = create_app(Settings(database_url="sqlite://", api_token=Secret(TOKEN)), warm_up=False)
    writes = [r for r in app.routes if isinstance(r, APIRoute) and r.methods & {"POST", "PATCH"}]
    assert {r.path for r in writes} >= {"/api/work-items", "/api/work-items/{ref}"}
    for route in writes:
        calls = [d.call for d in route.dependant.dependencies]
        assert all(inspect.iscoroutinefunction(c) for c in calls), route.path
        assert calls or not route.path.startswith("/api/work-items")  # the token check is there


async def test_a_write_waiting_for_another_writer_does_not_hold_up_reads(tmp_path: Path) -> None:
    """Another connection holds SQLite's write lock: the PATCH waits for it in a worker thread
    while a read is answered meanwhile; once the lock is released the PATCH succeeds."""
    path = tmp_path / "fair.db"
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=20, seed=4)
    forget_engine(url)
    app = create_app(Settings(database_url=url, api_token=Secret(TOKEN)), warm_up=False)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer (another process's) holds the lock
    done: list[str] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            async def patch() -> None:
                response = await client.patch("/api/work-items/1", json={"status": "done"}, headers=AUTH)
                assert response.status_code == 200, response.text
                done.append("patch")

            async with anyio.create_task_group() as tg:
                tg.start_soon(patch)
                read = await client.get("/api/work-items/2")
                assert read.status_code == 200
                done.append("read")
                other.execute("COMMIT")  # the waiting PATCH can now take the lock
    other.close()
    assert done == ["read", "patch"]
    assert (await anyio.to_thread.run_sync(lambda: _status(path, 1))) == "done"


def _status(path: Path, item: int) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("SELECT status FROM work_items WHERE id = ?", (item,)).fetchone()[0])
