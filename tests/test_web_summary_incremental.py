"""The cached summary under writes: deltas agree with a full recompute; one recompute at a time.

* Property: random sequences of creates and updates (status, priority, tags, dependencies,
  creation dates that move the 52-week window or fall before it, failing writes), each applied
  to the cache as a delta, leave it equal to a full recompute and to ``queries.summary``, and
  every load after a write is a cache hit (no aggregate ran). On SQLite and Postgres.
* Single flight: concurrent loads that find the revision moved run one recompute between them,
  and wait for it without holding a connection (list pages still get one from a pool of 2).
* A delta that arrives while its base state is still being computed is applied once it is stored.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab import queries
from ailab.clock import FakeClock
from ailab.db import connect, get_engine
from ailab.db.migrate import upgrade
from ailab.db.scratch import forget_engine, scratch_schema
from ailab.db.seed import seed_database
from ailab.errors import AilabError
from ailab.settings import Secret, Settings
from ailab.vocab import PRIORITIES, STATUSES
from ailab.web import create_app
from ailab.web import summary_cache as summary_cache_module
from ailab.web.summary_cache import Probe, SummaryCache, snapshot_engine
from ailab.web.summary_state import SummaryState
from ailab.web.summary_writes import create_item, update_item

TOKEN = "tok-incremental-0b5e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START = datetime(2026, 10, 20)  # the seed's newest items are from late October 2026
NEVER_EXPIRES = 1e12  # the fake clock jumps days ahead; entries must not expire here
TAG_POOL = ("api", "backend", "docs", "ci", "fresh-1", "fresh-2", "zz-rare")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def summary_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A small seeded database per backend, shared by the module (each test reads its state)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('incremental') / 'summary.db'}"
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


def comparable(state_or_body: Any) -> dict[str, Any]:
    data = dict(state_or_body.to_dict() if isinstance(state_or_body, SummaryState) else state_or_body)
    data.pop("generated_at", None)
    return data


def full_recompute(engine: Engine, clock: FakeClock) -> dict[str, Any]:
    fresh = SummaryCache(NEVER_EXPIRES, clock)
    with connect(snapshot_engine(engine)) as conn:
        fresh.probe(conn)
        plain = queries.summary(conn, clock=clock)
    assert fresh.state is not None
    expected = comparable(fresh.state)
    # The cache's own recompute agrees with the plain one (top tags ranked in Python, not SQL).
    assert {k: expected[k] for k in plain} == plain
    return expected


def probe(cache: SummaryCache, engine: Engine) -> Probe:
    with connect(snapshot_engine(engine)) as conn:
        return cache.probe(conn)


def item_ids(engine: Engine) -> list[int]:
    with connect(engine) as conn:
        return [int(r[0]) for r in conn.execute(text("SELECT id FROM work_items ORDER BY id"))]


write_op = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["create", "update", "update"]),
        "target": st.integers(min_value=0, max_value=10_000),  # picks an existing item
        "status": st.none() | st.sampled_from(STATUSES),
        "priority": st.none() | st.sampled_from(PRIORITIES),
        "tags": st.none() | st.lists(st.sampled_from(TAG_POOL), max_size=3, unique=True),
        "deps": st.none() | st.lists(st.integers(min_value=0, max_value=10_000), max_size=3, unique=True),
        "advance_days": st.sampled_from([0, 0, 1, 9, 30, 120]),
        "backdate_days": st.none() | st.sampled_from([3, 200, 900]),  # before now, maybe before the window
    }
)


def _payload(op: dict[str, Any], ids: list[int]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in ("status", "priority", "tags"):
        if op[field] is not None:
            data[field] = op[field]
    if op["deps"] is not None:
        data["depends_on"] = sorted({ids[d % len(ids)] for d in op["deps"]})
    return data


@settings(
    max_examples=int(os.environ.get("AILAB_TEST_EXAMPLES", "15")),  # more for a deeper local run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(write_op, min_size=1, max_size=6))
def test_deltas_keep_the_cache_equal_to_a_full_recompute(
    summary_db: Engine, ops: list[dict[str, Any]]
) -> None:
    engine = summary_db
    clock = FakeClock(START.timestamp())
    cache = SummaryCache(NEVER_EXPIRES, clock)
    assert probe(cache, engine).hit is False  # the starting state: one full recompute
    for op in ops:
        clock.advance(op["advance_days"] * 86400.0)
        ids = item_ids(engine)
        data = _payload(op, ids)
        cache.write_started()
        delta = None
        try:
            with connect(engine, readonly=False) as conn:
                if op["kind"] == "create":
                    data["title"] = "created by the property test"
                    if op["backdate_days"] is not None:
                        data["created_at"] = datetime.fromtimestamp(clock.time()) - timedelta(
                            days=op["backdate_days"]
                        )
                    _item, delta = create_item(conn, data, clock=clock)
                else:
                    _item, delta = update_item(conn, ids[op["target"] % len(ids)], data, clock=clock)
        except AilabError:
            pass  # a cycle or the like: rolled back, nothing to apply
        finally:
            cache.write_finished(delta)
        assert probe(cache, engine).hit, "the next load after a write through the cache must not recompute"
        assert cache.state is not None
        assert comparable(cache.state) == full_recompute(engine, clock)
    assert cache.recomputes == 1


def test_a_load_waits_for_a_landing_write_instead_of_recomputing(summary_db: Engine) -> None:
    clock = FakeClock(START.timestamp())
    cache = SummaryCache(NEVER_EXPIRES, clock)
    probe(cache, engine := summary_db)
    cache.write_started()
    with connect(engine, readonly=False) as conn:
        _item, delta = create_item(conn, {"title": "landing", "tags": ["api"]}, clock=clock)
    assert probe(cache, engine).wait  # committed, but its delta is not applied yet
    cache.write_finished(delta)
    assert probe(cache, engine).hit and cache.recomputes == 1
    assert cache.state is not None and cache.state.revision == delta.revision


def test_a_delta_during_a_recompute_is_applied_to_its_result(
    summary_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = summary_db
    clock = FakeClock(START.timestamp())
    cache = SummaryCache(NEVER_EXPIRES, clock)
    reading, release = threading.Event(), threading.Event()
    real = summary_cache_module.summary_with_tag_counts

    def gated(conn: Any, *, clock: Any) -> Any:
        reading.set()
        assert release.wait(10)
        return real(conn, clock=clock)

    monkeypatch.setattr(summary_cache_module, "summary_with_tag_counts", gated)
    with connect(engine) as conn:
        base = summary_cache_module.read_revision(conn)

    def recompute() -> None:
        probe(cache, engine)

    worker = threading.Thread(target=recompute)
    worker.start()
    try:
        assert reading.wait(10)  # the recompute has its snapshot at `base`
        cache.write_started()
        with connect(engine, readonly=False) as conn:
            _item, delta = create_item(conn, {"title": "during", "status": "done"}, clock=clock)
        cache.write_finished(delta)  # nothing cached yet: logged
        assert delta.base_revision == base
    finally:
        release.set()
        worker.join()
    monkeypatch.setattr(summary_cache_module, "summary_with_tag_counts", real)
    assert cache.state is not None and cache.state.revision == base + 1
    assert comparable(cache.state) == full_recompute(engine, clock)


def test_a_load_from_an_older_snapshot_looks_again(summary_db: Engine) -> None:
    clock = FakeClock(START.timestamp())
    cache = SummaryCache(NEVER_EXPIRES, clock)
    probe(cache, summary_db)
    with connect(snapshot_engine(summary_db)) as old:
        old.execute(text("SELECT count(*) FROM work_items")).scalar()  # its snapshot starts here
        cache.write_started()
        with connect(summary_db, readonly=False) as conn:
            _item, delta = update_item(conn, item_ids(summary_db)[0], {"priority": "low"}, clock=clock)
        cache.write_finished(delta)
        outcome = cache.probe(old)
        assert (outcome.body, outcome.wait) == (None, False)  # older than the cache: check again
    assert probe(cache, summary_db).hit and cache.recomputes == 1


def test_deltas_from_before_a_revision_reset_are_not_reapplied(summary_db: Engine) -> None:
    """A restored database can show a revision again: deltas logged before must not apply."""
    clock = FakeClock(START.timestamp())
    cache = SummaryCache(NEVER_EXPIRES, clock)
    probe(cache, summary_db)
    cache.write_started()
    with connect(summary_db, readonly=False) as conn:
        _item, delta = create_item(conn, {"title": "to be rolled back", "status": "done"}, clock=clock)
    cache.write_finished(delta)
    with connect(summary_db, readonly=False) as conn:  # "restore": back to the base revision
        conn.execute(text("DELETE FROM work_items WHERE id = :i"), {"i": _item["id"]})
        conn.execute(text("UPDATE data_revision SET revision = :r WHERE id = 1"), {"r": delta.base_revision})
    with connect(snapshot_engine(summary_db)) as conn:
        assert cache.probe(conn, force=True).hit is False
    assert cache.state is not None and cache.state.revision == delta.base_revision
    assert comparable(cache.state) == full_recompute(summary_db, clock)


# --- over HTTP: single flight, no pool starvation -------------------------------------------------


@asynccontextmanager
async def serve(engine: Engine, **settings_changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    url = engine.url.render_as_string(hide_password=False)
    app_settings = Settings(database_url=url, api_token=Secret(TOKEN), summary_cache_seconds=3600.0).with_(
        **settings_changes
    )
    # Worker threads on both backends: the path Postgres takes (SQLite reads inline by default).
    app = create_app(app_settings, inline_reads=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_concurrent_loads_share_one_recompute_and_leave_the_pool_free(
    summary_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    started = threading.Event()
    real = summary_cache_module.summary_with_tag_counts

    def gated(conn: Any, *, clock: Any) -> Any:
        started.set()
        assert release.wait(10)
        return real(conn, clock=clock)

    async with serve(summary_db, pool_size=2, max_overflow=0, pool_timeout=5.0) as client:
        cache: SummaryCache = client.app.state.ctx.cache  # type: ignore[attr-defined]
        recomputes = cache.recomputes
        with connect(summary_db, readonly=False) as conn:  # another process wrote
            conn.execute(text("UPDATE data_revision SET revision = revision + 1 WHERE id = 1"))
        monkeypatch.setattr(summary_cache_module, "summary_with_tag_counts", gated)
        bodies: list[httpx.Response] = []

        async def load() -> None:
            bodies.append(await client.get("/api/summary"))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(load)
            while not started.is_set():
                await anyio.sleep(0.005)
            # One connection is held by the recompute; the loads waiting for it hold none, so
            # list pages still get the other one (pool of 2, no overflow).
            for _ in range(3):
                page = await client.get("/api/work-items", params={"limit": 5})
                assert page.status_code == 200, page.text
            assert not release.is_set() and len(bodies) == 0
            release.set()
        assert [r.status_code for r in bodies] == [200] * 8
        assert len({r.json()["revision"] for r in bodies}) == 1
        assert cache.recomputes == recomputes + 1


@pytest.mark.anyio
async def test_without_the_cache_every_load_recomputes_and_sees_every_write(summary_db: Engine) -> None:
    async with serve(summary_db, summary_cache_seconds=0.0) as client:
        before = (await client.get("/api/summary")).json()
        created = await client.post(
            "/api/work-items", json={"title": "uncached", "status": "done"}, headers=AUTH
        )
        assert created.status_code == 201
        after = await client.get("/api/summary")
        assert after.headers["x-summary-cache"] == "miss"
        assert after.json()["by_status"]["done"] == before["by_status"]["done"] + 1
