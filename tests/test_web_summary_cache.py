"""The cached summary: JSON bytes kept by data revision, recomputed from the kept counts on change.

On SQLite and Postgres, over HTTP with reads in worker threads (the Postgres path):

* a repeated load is a hit with no statement (the change watch saw nothing); a miss costs the
  revision check and ``summary`` (3);
* a write through the API, or by another connection in plain SQL (the database bumps
  ``data_revision`` itself), is visible on the next load, equal to ``live_summary`` from the rows;
* entries expire after ``AILAB_SUMMARY_CACHE_SECONDS`` (a fake clock, no sleeps); ``0`` disables;
* a revision that goes down (a restored database) is a miss, and a load from an older snapshot
  does not replace a newer entry;
* concurrent loads and writes never serve a summary older than a write committed before the load.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ailab import queries
from ailab.clock import FakeClock
from ailab.db import connect, get_engine
from ailab.db.migrate import upgrade
from ailab.db.revision import create_revision_triggers, drop_revision_triggers
from ailab.db.seed import seed_database
from ailab.queries.summary import live_summary
from ailab.settings import Secret, Settings
from ailab.testing.scratch import forget_engine, scratch_schema
from ailab.web import create_app
from ailab.web.context import WebContext
from ailab.web.summary_cache import SummaryCache, snapshot_engine

pytestmark = pytest.mark.anyio
TOKEN = "tok-summary-cache-5c1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START = datetime(2026, 10, 20)  # the seed's newest items are from late October 2026
HIT_STATEMENTS = 0  # nothing moved since the entry was checked: the change watch says so
CHECKED_STATEMENTS = 1  # something may have moved: the revision check, and it had not
MISS_STATEMENTS = 3  # the revision check and queries.summary's 2 (the issue allows 5)
STATEMENTS = {"hit": HIT_STATEMENTS, "checked": CHECKED_STATEMENTS, "miss": MISS_STATEMENTS}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def summary_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A small seeded database per backend, shared by the module (each test reads its state)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('summary_cache') / 'summary.db'}"
        engine = get_engine(url)
        upgrade(engine)
        seed_database(engine, items=120, seed=5)
        yield engine
        forget_engine(url)
    else:
        with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_testsum") as url:
            engine = get_engine(url)
            upgrade(engine)
            seed_database(engine, items=120, seed=5)
            yield engine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def serve(
    engine: Engine, *, clock: FakeClock | None = None, **settings_changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    url = engine.url.render_as_string(hide_password=False)
    app_settings = Settings(database_url=url, api_token=Secret(TOKEN), summary_cache_seconds=3600.0).with_(
        **settings_changes
    )
    # Worker threads on both backends: the path Postgres takes (SQLite reads inline by default).
    app = create_app(
        app_settings, clock=clock or FakeClock(START.timestamp()), inline_reads=False, warm_up=False
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            SERVED[id(client)] = app.state.ctx
            try:
                yield client
            finally:
                del SERVED[id(client)]


SERVED: dict[int, WebContext] = {}


@contextmanager
def elsewhere(client: httpx.AsyncClient, engine: Engine) -> Iterator[Connection]:
    """A write transaction outside the served app (as another process's). On Postgres the block
    ends once the app's LISTEN connection has the commit's notification: it travels after the
    commit, and a load in the same instant could miss it (see ``ailab.db.change_watch``)."""
    watch = SERVED[id(client)].watch
    before = watch.token()
    with connect(engine, readonly=False) as conn:
        yield conn
    assert watch.wait_for_change(before, timeout=10.0) != before or engine.dialect.name == "sqlite"


def statements(response: httpx.Response) -> int:
    match = re.search(r'db;dur=[\d.]+;desc="(\d+) statements"', response.headers["server-timing"])
    assert match, response.headers["server-timing"]
    return int(match.group(1))


async def load(client: httpx.AsyncClient, expect: str) -> dict[str, Any]:
    """GET /api/summary, checking the cache outcome (hit; checked: a hit after a revision check;
    miss) and its statement count."""
    response = await client.get("/api/summary")
    assert response.status_code == 200, response.text
    assert response.headers["x-summary-cache"] == ("miss" if expect == "miss" else "hit")
    assert statements(response) == STATEMENTS[expect]
    data: dict[str, Any] = response.json()
    return data


def live(engine: Engine) -> dict[str, Any]:
    """The summary from the rows and the current revision, on a fresh connection, as JSON gives it."""
    with connect(engine) as conn:
        data = {**live_summary(conn), "revision": queries.current_revision(conn)}
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(data))
    return parsed


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without ``generated_at`` (when it was computed), which must be there."""
    assert isinstance(data["generated_at"], str)
    return {k: v for k, v in data.items() if k != "generated_at"}


def item_ids(engine: Engine) -> list[int]:
    with connect(engine) as conn:
        return [int(r[0]) for r in conn.execute(text("SELECT id FROM work_items ORDER BY id"))]


def seeded_tags(engine: Engine) -> list[str]:
    with connect(engine) as conn:
        return [str(r[0]) for r in conn.execute(text("SELECT name FROM tags ORDER BY name LIMIT 6"))]


def write_by_another_process(client: httpx.AsyncClient, engine: Engine, sql: str, **params: Any) -> None:
    """A write outside this server, in plain SQL: the database's triggers bump the revision."""
    with elsewhere(client, engine) as conn:
        conn.execute(text(sql), params)


def untracked_commit(engine: Engine) -> str:
    """How the load after a commit the revision does not track answers: SQLite's data_version
    moves with any commit (a revision check finds nothing new), Postgres sends no notification."""
    return "checked" if engine.dialect.name == "sqlite" else "hit"


# --- one client ---------------------------------------------------------------------------------


async def test_a_repeated_load_is_a_hit_with_no_statement(summary_db: Engine) -> None:
    async with serve(summary_db) as client:
        first = await client.get("/api/summary")
        assert first.headers["x-summary-cache"] == "miss" and statements(first) == MISS_STATEMENTS
        for _ in range(3):
            again = await client.get("/api/summary")
            assert again.headers["x-summary-cache"] == "hit" and statements(again) == HIT_STATEMENTS
            assert again.headers["cache-control"] == "no-cache"
            assert again.content == first.content
    data = first.json()
    assert list(data) == [
        "total", "open", "closed", "by_status", "by_priority", "blocked", "top_tags", "created_per_week",
        "revision", "generated_at",
    ]  # fmt: skip
    assert comparable(data) == live(summary_db)


async def test_writes_through_the_api_are_exact_on_the_next_load(summary_db: Engine) -> None:
    ids, tag_names = item_ids(summary_db), seeded_tags(summary_db)
    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/work-items", {"title": "cache: new", "status": "in_progress", "tags": tag_names[:2]}),
        ("POST", "/api/work-items", {"title": "cache: waits", "depends_on": ids[:2], "tags": tag_names[2:3]}),
        ("PATCH", f"/api/work-items/{ids[0]}", {"status": "done"}),
        ("PATCH", f"/api/work-items/{ids[1]}", {"priority": "low", "tags": tag_names[3:6]}),
        ("PATCH", f"/api/work-items/{ids[2]}", {"depends_on": [ids[3]], "status": "todo"}),
    ]
    async with serve(summary_db) as client:
        before = await load(client, "miss")
        for method, path, body in writes:
            response = await client.request(method, path, json=body, headers=AUTH)
            assert response.status_code in (200, 201), response.text
            after = await load(client, "miss")
            assert after["revision"] > before["revision"]
            assert comparable(after) == live(summary_db), (method, body)
            assert await load(client, "hit") == after
            before = after
        # A write that fails changes nothing: the next load is still a hit.
        cycle = await client.patch(f"/api/work-items/{ids[3]}", json={"depends_on": [ids[2]]}, headers=AUTH)
        assert cycle.status_code == 409, cycle.text
        assert (await load(client, "hit"))["revision"] == before["revision"]


async def test_a_raw_sql_write_by_another_process_is_seen_on_the_next_load(summary_db: Engine) -> None:
    """Plain SQL, no revision bump by the writer (as psql or another tool would): the next load
    already shows it (issue 15: the database bumps the revision itself)."""
    async with serve(summary_db) as client:
        before = await load(client, "miss")
        await load(client, "hit")
        item = item_ids(summary_db)[5]
        write_by_another_process(
            client, summary_db, "UPDATE work_items SET status = 'cancelled' WHERE id = :i", i=item
        )
        after = await load(client, "miss")
        assert after["revision"] > before["revision"]
        assert after["by_status"]["cancelled"] == before["by_status"]["cancelled"] + 1
        assert comparable(after) == live(summary_db)
        await load(client, "hit")
        # A commit that changes nothing the revision tracks: a hit (after one revision check
        # on SQLite, whose data_version moves with any commit), then hits again.
        with connect(summary_db, readonly=False) as conn:
            conn.execute(
                text("INSERT INTO github_sync_state (repository) VALUES (:r)"), {"r": f"elsewhere/{item}"}
            )
        await load(client, untracked_commit(summary_db))
        await load(client, "hit")

        # Items created elsewhere before the 52-week window and after its end (moving it).
        for days in (-900, 60):
            with elsewhere(client, summary_db) as conn:
                created_at = START + timedelta(days=days)
                queries.create_work_item(conn, {"title": f"elsewhere {days}", "created_at": created_at})
            moved = await load(client, "miss")
            assert comparable(moved) == live(summary_db)
        assert moved["created_per_week"]["counts"][-1] == 1
        assert moved["created_per_week"]["weeks"] != after["created_per_week"]["weeks"]


async def test_a_revision_that_goes_down_is_a_miss(summary_db: Engine) -> None:
    """A restored database can show an older revision with other data: never a hit."""
    async with serve(summary_db) as client:
        before = await load(client, "miss")
        item = item_ids(summary_db)[6]
        with elsewhere(client, summary_db) as conn:  # "restore" an older revision
            conn.execute(text("UPDATE work_items SET priority = 'critical' WHERE id = :i"), {"i": item})
            conn.execute(
                text("UPDATE data_revision SET revision = :r WHERE id = 1"), {"r": before["revision"] - 3}
            )
        try:
            after = await load(client, "miss")
            assert after["revision"] == before["revision"] - 3
            assert comparable(after) == live(summary_db)
        finally:
            with connect(summary_db, readonly=False) as conn:  # leave the revision moving forward
                conn.execute(text("UPDATE data_revision SET revision = revision + 10 WHERE id = 1"))


async def test_entries_expire_after_the_configured_age(summary_db: Engine) -> None:
    clock = FakeClock(START.timestamp())
    async with serve(summary_db, clock=clock, summary_cache_seconds=2.0) as client:
        outcomes = []
        for advance in (0.0, 1.0, 1.5, 0.0, 2.5):
            clock.advance(advance)
            outcomes.append((await client.get("/api/summary")).headers["x-summary-cache"])
        assert outcomes == ["miss", "hit", "miss", "hit", "miss"]  # 2.5 s after a miss it expired

        # The age bounds how long a change the revision does not track goes unseen: here a
        # counter changed with the triggers dropped (they are back before the test ends).
        item = item_ids(summary_db)[7]
        with connect(summary_db, readonly=False) as conn:
            drop_revision_triggers(conn)
            conn.execute(text("UPDATE work_items SET status = 'review' WHERE id = :i"), {"i": item})
            create_revision_triggers(conn)
        stale = await load(client, untracked_commit(summary_db))
        clock.advance(2.5)
        fresh = await load(client, "miss")
        assert fresh["by_status"] != stale["by_status"]
        assert comparable(fresh) == live(summary_db)


async def test_zero_seconds_disables_the_cache(summary_db: Engine) -> None:
    async with serve(summary_db, summary_cache_seconds=0.0) as client:
        before = await load(client, "miss")
        await load(client, "miss")
        created = await client.post(
            "/api/work-items", json={"title": "uncached", "status": "done"}, headers=AUTH
        )
        assert created.status_code == 201
        after = await load(client, "miss")
        assert after["by_status"]["done"] == before["by_status"]["done"] + 1
        assert comparable(after) == live(summary_db)


# --- the cache itself -----------------------------------------------------------------------------


def test_a_load_from_an_older_snapshot_does_not_replace_a_newer_entry(summary_db: Engine) -> None:
    clock = FakeClock(START.timestamp())
    cache = SummaryCache(3600.0, clock)
    with connect(snapshot_engine(summary_db)) as old:
        old.execute(text("SELECT count(*) FROM work_items")).scalar()  # its snapshot starts here
        with connect(summary_db, readonly=False) as conn:
            conn.execute(text("UPDATE work_items SET title = 'moved' WHERE id = :i"), {"i": 1})
        with connect(snapshot_engine(summary_db)) as conn:
            newer, hit = cache.probe(conn)
        assert not hit
        older, hit = cache.probe(old)  # a slow load, finishing last
        assert not hit and orjson.loads(older)["revision"] == orjson.loads(newer)["revision"] - 1
        assert cache.entry is not None and cache.entry.body == newer
        with connect(snapshot_engine(summary_db)) as conn:
            assert cache.probe(conn) == (newer, True)
        # Once that entry is stale, a lower revision takes its place (a restored database).
        clock.advance(3601.0)
        body, hit = cache.probe(old)
        assert not hit and orjson.loads(body)["revision"] == orjson.loads(older)["revision"]
        assert cache.entry is not None and cache.entry.body == body


# --- concurrency ------------------------------------------------------------------------------------


async def test_concurrent_loads_never_serve_a_summary_older_than_a_committed_write(
    summary_db: Engine,
) -> None:
    """Loads and writes interleave (worker threads): every load sees every write that had
    committed when it started, and one client's loads never go back in revision."""
    ids = item_ids(summary_db)
    # Raised only once a write has committed (and its revision is read back from the database).
    committed = {"revision": 0, "creates": 0}

    def current_revision() -> int:
        with connect(summary_db) as conn:
            return queries.current_revision(conn)

    async with serve(summary_db, pool_size=4, max_overflow=0, pool_timeout=30.0) as client:
        start_total = (await load(client, "miss"))["total"]

        async def writer(n: int) -> None:
            for i in range(6):
                if i % 2 == 0:
                    response = await client.post(
                        "/api/work-items",
                        json={"title": f"concurrent {n}.{i}", "status": "done"},
                        headers=AUTH,
                    )
                else:
                    item = ids[(n * 7 + i) % len(ids)]
                    patch = {"priority": ("low", "high")[i % 4 == 1]}
                    response = await client.patch(f"/api/work-items/{item}", json=patch, headers=AUTH)
                assert response.status_code in (200, 201), response.text
                revision = await anyio.to_thread.run_sync(current_revision)
                committed["revision"] = max(committed["revision"], revision)
                if i % 2 == 0:
                    committed["creates"] += 1

        async def loader() -> None:
            last = 0
            for _ in range(15):
                floor = dict(committed)
                response = await client.get("/api/summary")
                assert response.status_code == 200, response.text
                data = response.json()
                assert data["revision"] >= max(floor["revision"], last)
                assert data["total"] >= start_total + floor["creates"]
                last = data["revision"]
                await anyio.sleep(0)

        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(writer, n)
            for _ in range(4):
                tg.start_soon(loader)

        final = (await client.get("/api/summary")).json()
        assert final["total"] == start_total + committed["creates"]
        assert comparable(final) == live(summary_db)
