"""The dashboard API in-process (httpx.ASGITransport) on SQLite and Postgres."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab import queries
from ailab.db import connect, get_engine
from ailab.db.engine import create_configured_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.settings import Secret, Settings
from ailab.testing.scratch import forget_engine, scratch_schema
from ailab.web import create_app

pytestmark = pytest.mark.anyio
TOKEN = "tok-7d41c0ffee-never-shown"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUDGETS = {"summary_miss": 5, "summary_hit": 0, "list": 3, "item": 1, "blockers": 2, "health": 1}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def web_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One seeded database per backend for the module (tests compare against its current state)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}"
        _seed(url)
        yield url
        forget_engine(url)
    else:
        with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_testweb") as url:
            _seed(url)
            yield url


def _seed(url: str) -> None:
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=200, seed=11)


def settings_for(url: str, **changes: Any) -> Settings:
    return Settings(database_url=url, api_token=Secret(TOKEN), summary_cache_seconds=60.0).with_(**changes)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def client(web_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings_for(web_url))) as c:
        yield c


def statements(response: httpx.Response) -> int:
    match = re.search(r'db;dur=[\d.]+;desc="(\d+) statements"', response.headers["server-timing"])
    assert match, response.headers["server-timing"]
    return int(match.group(1))


def db_rows(url: str, sql: str, **params: Any) -> list[Any]:
    with connect(get_engine(url)) as conn:
        return list(conn.execute(text(sql), params).all())


# --- summary ---------------------------------------------------------------------------------------


async def test_summary_matches_the_database_and_is_cached_by_revision(web_url: str) -> None:
    app = create_app(settings_for(web_url), warm_up=False)
    async with serve(app) as client:
        first = await client.get("/api/summary")
        assert first.status_code == 200 and first.headers["x-summary-cache"] == "miss"
        assert statements(first) <= BUDGETS["summary_miss"]
        again = await client.get("/api/summary")
        assert again.headers["x-summary-cache"] == "hit" and statements(again) == BUDGETS["summary_hit"]
        assert again.content == first.content

        data = first.json()
        status_counts = dict(db_rows(web_url, "SELECT status, count(*) FROM work_items GROUP BY status"))
        assert data["total"] == sum(status_counts.values())
        assert {k: v for k, v in data["by_status"].items() if v} == status_counts
        assert data["by_priority"] == {
            **dict.fromkeys(data["by_priority"], 0),
            **dict(db_rows(web_url, "SELECT priority, count(*) FROM work_items GROUP BY priority")),
        }
        blocked = db_rows(
            web_url,
            "SELECT count(DISTINCT d.work_item_id) FROM work_item_dependencies d "
            "JOIN work_items b ON b.id = d.depends_on_id JOIN work_items w ON w.id = d.work_item_id "
            "WHERE b.status NOT IN ('done', 'cancelled') AND w.status NOT IN ('done', 'cancelled')",
        )[0][0]
        assert data["blocked"] == blocked
        assert len(data["created_per_week"]["counts"]) == 52 and len(data["top_tags"]) == 20

        # A write through the API moves the revision: the very next load recomputes it from the
        # kept counts (cheap), and the one after is cached again.
        item = (await client.get("/api/work-items", params={"status": "todo", "limit": 1})).json()["items"][0]
        patched = await client.patch(f"/api/work-items/{item['key']}", json={"status": "done"}, headers=AUTH)
        assert patched.status_code == 200
        after = await client.get("/api/summary")
        assert after.headers["x-summary-cache"] == "miss" and statements(after) <= BUDGETS["summary_miss"]
        assert after.json()["by_status"]["done"] == data["by_status"]["done"] + 1
        assert after.json()["revision"] > data["revision"]
        cached = await client.get("/api/summary")
        assert cached.headers["x-summary-cache"] == "hit" and cached.content == after.content

    # A change this server did not make (another process, plain SQL: the database bumps the
    # revision) is seen at once by a recompute when every load checks the revision
    # (AILAB_SUMMARY_LISTEN=0). With LISTEN on Postgres it shows once the notification arrives,
    # a window of about a millisecond, so that mode is not asserted "at once" here.
    strict = create_app(settings_for(web_url, summary_listen=False), warm_up=False)
    async with serve(strict) as client:
        before = await client.get("/api/summary")
        with connect(get_engine(web_url), readonly=False) as conn:
            conn.execute(text("UPDATE work_items SET status = 'todo' WHERE id = :i"), {"i": item["id"]})
        foreign = await client.get("/api/summary")
        assert foreign.headers["x-summary-cache"] == "miss" and statements(foreign) <= BUDGETS["summary_miss"]
        assert foreign.json()["by_status"] == data["by_status"]
        assert foreign.json()["revision"] > before.json()["revision"]


# --- lists -----------------------------------------------------------------------------------------


async def collect(client: httpx.AsyncClient, **params: Any) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(500):
        response = await client.get(
            "/api/work-items", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        assert statements(response) <= BUDGETS["list"]
        body = response.json()
        ids += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({}, "1 = 1"),
        ({"status": "todo,in_progress", "priority": ["high", "critical"]},
         "w.status IN ('todo', 'in_progress') AND w.priority IN ('high', 'critical')"),
        ({"tag": "api"}, "EXISTS (SELECT 1 FROM work_item_tags l JOIN tags t ON t.id = l.tag_id "
                         "WHERE l.work_item_id = w.id AND t.name = 'api')"),
        ({"any_tag": ["docs", "ci"], "status": "todo"},
         "w.status = 'todo' AND EXISTS (SELECT 1 FROM work_item_tags l JOIN tags t ON t.id = l.tag_id "
         "WHERE l.work_item_id = w.id AND t.name IN ('docs', 'ci'))"),
        ({"q": "CACHE"}, "lower(w.title) LIKE '%cache%'"),
        ({"project": "DEMO-2"}, "w.project_id = (SELECT id FROM projects WHERE key = 'DEMO-2')"),
    ],
)  # fmt: skip
async def test_list_pages_match_the_database(
    client: httpx.AsyncClient, web_url: str, params: dict[str, Any], where: str
) -> None:
    expected = [
        r[0]
        for r in db_rows(
            web_url, f"SELECT id FROM work_items w WHERE {where} ORDER BY created_at DESC, id DESC"
        )
    ]
    assert await collect(client, limit=17, **params) == expected
    first = (await client.get("/api/work-items", params={**params, "limit": 5})).json()["items"]
    for item in first:
        tags = db_rows(
            web_url,
            "SELECT t.name FROM work_item_tags l JOIN tags t ON t.id = l.tag_id WHERE l.work_item_id = :i ORDER BY t.name",
            i=item["id"],
        )
        assert item["tags"] == [r[0] for r in tags]
        assert item["created_at"].endswith("+00:00")


async def test_keyset_pages_have_no_gaps_or_duplicates_while_items_are_added(
    client: httpx.AsyncClient, web_url: str
) -> None:
    before = [r[0] for r in db_rows(web_url, "SELECT id FROM work_items ORDER BY created_at DESC, id DESC")]
    seen: list[int] = []
    cursor = None
    for n in range(1000):
        params = {"limit": 30, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/work-items", params=params)).json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        created = await client.post(
            "/api/work-items", json={"title": f"inserted while paging {n}"}, headers=AUTH
        )
        assert created.status_code == 201
    assert seen == before


# --- one item, blockers ----------------------------------------------------------------------------


async def test_item_detail_and_transitive_blockers(client: httpx.AsyncClient) -> None:
    a = (await client.post("/api/work-items", json={"title": "base", "tags": ["t1"]}, headers=AUTH)).json()
    b = (
        await client.post("/api/work-items", json={"title": "mid", "depends_on": [a["id"]]}, headers=AUTH)
    ).json()
    body = {
        "title": "top",
        "tags": ["t2", "t1"],
        "depends_on": [b["key"]],
        "criteria": ["c1", {"text": "c2", "done": True}],
        "blockers": ["waiting"],
    }
    created = await client.post("/api/work-items", json=body, headers=AUTH)
    assert created.status_code == 201 and created.headers["location"].endswith(created.json()["key"])
    top = created.json()

    detail = await client.get(f"/api/work-items/{top['key']}")
    assert detail.status_code == 200 and statements(detail) == BUDGETS["item"]
    data = detail.json()
    assert data["tags"] == ["t1", "t2"] and [d["key"] for d in data["depends_on"]] == [b["key"]]
    assert data["criteria"][1] == {"position": 2, "text": "c2", "done": True}
    assert data["blockers"] == [{"position": 1, "text": "waiting", "resolved": False}]
    assert data["github"] is None
    assert [x["key"] for x in (await client.get(f"/api/work-items/{a['id']}")).json()["blocks"]] == [b["key"]]

    chain = await client.get(f"/api/work-items/{top['id']}/blockers")
    assert chain.status_code == 200 and statements(chain) <= BUDGETS["blockers"]
    assert [(x["key"], x["depth"]) for x in chain.json()["blockers"]] == [(b["key"], 1), (a["key"], 2)]
    assert chain.json()["total"] == 2 and chain.json()["truncated"] is False
    assert (await client.get(f"/api/work-items/{top['id']}/blockers", params={"max_depth": 1})).json()[
        "blockers"
    ] == chain.json()["blockers"][:1]


@pytest.mark.parametrize(
    "path",
    [
        "/api/work-items/WI-999999",
        "/api/work-items/987654/blockers",
        "/api/work-items/99999999999",  # past the largest id an int4 column holds
        "/api/work-items/999999999999999999999999/blockers",
    ],
)
async def test_unknown_items_are_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "No work item" in response.json()["detail"]


@pytest.mark.parametrize("cursor", ["99999999999999999.999999999999999999", "-99999999999999999.1", "0.0"])
async def test_any_cursor_of_the_documented_shape_is_a_position(
    client: httpx.AsyncClient, cursor: str
) -> None:
    response = await client.get("/api/work-items", params={"cursor": cursor, "limit": 2})
    assert response.status_code == 200, response.text
    newest_first = cursor.startswith("9")  # after the end of time: the newest items come next
    assert bool(response.json()["items"]) == newest_first


# --- validation and errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "fragment"),
    [
        ("GET", "/api/work-items", {"params": {"limit": 0}}, "limit"),
        ("GET", "/api/work-items", {"params": {"limit": 201}}, "less than or equal to 200"),
        ("GET", "/api/work-items", {"params": {"limit": "ten"}}, "limit"),
        ("GET", "/api/work-items", {"params": {"status": "open"}}, "status.0: use one or more of todo"),
        ("GET", "/api/work-items", {"params": {"priority": "urgent"}}, "use one or more of low"),
        ("GET", "/api/work-items", {"params": {"cursor": "not-a-cursor"}}, "cursor: pass the next_cursor"),
        ("GET", "/api/work-items/1/blockers", {"params": {"max_depth": 0}}, "max_depth"),
        ("POST", "/api/work-items", {"json": {"title": "x", "status": "open"}}, "status: Input should be 'todo'"),
        ("POST", "/api/work-items", {"json": {"title": "x", "colour": "red"}}, "colour"),
        ("POST", "/api/work-items", {"json": {"status": "todo"}}, "title"),
        ("POST", "/api/work-items", {"json": {"title": "x", "tags": ["a", "a"]}}, "listed twice"),
        ("POST", "/api/work-items", {"json": {"title": "x\ty"}}, "title: must not be blank, and control characters"),
    ],
)  # fmt: skip
async def test_bad_requests_are_422_with_a_clear_message(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any], fragment: str
) -> None:
    kwargs = dict(kwargs)
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert fragment.lower() in detail.lower(), detail
    assert "Traceback" not in response.text
    assert "server-timing" in response.headers


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/work-items", content=b"{not json", headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "fragment"),
    [
        ("POST", "/api/work-items", {"title": "x", "depends_on": ["WI-888888"]}, "WI-888888"),
        ("PATCH", "/api/work-items/1", {"depends_on": [1]}, "cannot depend on itself"),
        ("PATCH", "/api/work-items/1", {"parent": 1}, "its own parent"),
    ],
)
async def test_conflicts_with_the_data_are_409(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], fragment: str
) -> None:
    """A write naming a missing item, or making a cycle, conflicts with the data; 404 is for the path."""
    response = await client.request(method, path, json=body, headers=AUTH)
    assert response.status_code == 409 and fragment in response.json()["detail"], response.text


async def test_a_write_that_fails_part_way_leaves_nothing_behind(client: httpx.AsyncClient) -> None:
    """A dashboard write is its request's whole transaction, without a savepoint: when the
    database refuses a later statement (a missing dependency, after the status was set), the
    whole change and its revision bump roll back."""
    from ailab.db import trace

    before = (await client.get("/api/work-items/2")).json()
    revision = (await client.get("/readyz")).json()["revision"]
    new_status = "done" if before["status"] != "done" else "todo"
    with trace() as t:
        refused = await client.patch(
            "/api/work-items/2", json={"status": new_status, "depends_on": ["WI-888888"]}, headers=AUTH
        )
    assert refused.status_code == 409 and "WI-888888" in refused.json()["detail"], refused.text
    assert not any("SAVEPOINT" in s.sql.upper() for s in t.statements)
    assert (await client.get("/api/work-items/2")).json() == before
    assert (await client.get("/readyz")).json()["revision"] == revision
    with trace() as t:
        done = await client.patch("/api/work-items/2", json={"status": new_status}, headers=AUTH)
    assert done.status_code == 200 and done.json()["status"] == new_status
    assert not any("SAVEPOINT" in s.sql.upper() for s in t.statements)
    assert (await client.get("/readyz")).json()["revision"] > revision


async def test_unexpected_errors_are_500_without_internals(
    web_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(conn: Any, key_or_id: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(queries, "get_work_item", broken)
    async with serve(create_app(settings_for(web_url), warm_up=False)) as client:
        response = await client.get("/api/work-items/1")
    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Internal server error; the server log has the details.",
    }
    assert "secret internal detail" in caplog.text  # logged for the operator, not sent to the client


async def test_pool_exhaustion_answers_503_with_retry_after(web_url: str) -> None:
    settings = settings_for(web_url, pool_size=1, max_overflow=0, pool_timeout=0.05)
    engine: Engine = create_configured_engine(settings.url, settings)
    try:
        app = create_app(settings, engine=engine, warm_up=False)
        async with serve(app) as client:
            held = engine.connect()  # the only connection
            try:
                for path in ("/api/work-items", "/api/summary"):
                    response = await client.get(path)
                    assert response.status_code == 503, response.text
                    assert response.headers["retry-after"] == "1"
                    assert "pool" in response.json()["detail"].lower()
            finally:
                held.close()
            assert (await client.get("/api/work-items")).status_code == 200
    finally:
        engine.dispose()


# --- auth ------------------------------------------------------------------------------------------


async def test_writes_are_refused_when_no_token_is_configured(web_url: str) -> None:
    async with serve(create_app(settings_for(web_url, api_token=None), warm_up=False)) as client:
        for call in (
            client.post("/api/work-items", json={"title": "x"}, headers=AUTH),
            client.patch("/api/work-items/1", json={"title": "x"}),
        ):
            response = await call
            assert response.status_code == 403
            assert "AILAB_API_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
    ],
)
async def test_writes_need_the_right_bearer_token(
    client: httpx.AsyncClient, web_url: str, headers: dict[str, str]
) -> None:
    before = db_rows(web_url, "SELECT count(*), max(updated_at) FROM work_items")
    response = await client.post("/api/work-items", json={"title": "sneaky"}, headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer realm=")
    patch = await client.patch("/api/work-items/1", json={"title": "sneaky"}, headers=headers)
    assert patch.status_code == 401
    after = db_rows(web_url, "SELECT count(*), max(updated_at) FROM work_items")
    assert before == after


async def test_token_never_appears_in_responses_or_logs(
    web_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    app = create_app(settings_for(web_url, slow_request_ms=0.0001))
    async with serve(app) as client:
        calls = [
            client.post("/api/work-items", json={"title": "ok"}, headers=AUTH),
            client.post("/api/work-items", json={"title": "x", "status": "??"}, headers=AUTH),
            client.post("/api/work-items", json={"title": "x"}, headers={"Authorization": "Bearer wrong"}),
            client.patch("/api/work-items/WI-000404", json={"title": "x"}, headers=AUTH),
            client.get("/api/summary", headers=AUTH),
            client.get("/metrics", headers=AUTH),
            client.get("/openapi.json"),
            client.get("/"),
        ]
        for call in calls:
            response = await call
            seen.append(response.text)
            seen.extend(f"{k}: {v}" for k, v in response.headers.items())
        seen.append(repr(app.state.ctx.settings))
    assert "slow request" in caplog.text  # the slow log ran, with statements
    blob = "\n".join(seen) + caplog.text
    assert TOKEN not in blob


# --- profiling, metrics, health, page --------------------------------------------------------------


async def test_every_response_has_server_timing_and_slow_requests_are_logged(
    web_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ailab.web.slow")
    async with serve(create_app(settings_for(web_url, slow_request_ms=0.0001), warm_up=False)) as client:
        for path in ("/api/summary", "/api/work-items?limit=3", "/healthz", "/api/work-items/none", "/nope"):
            response = await client.get(path)
            assert re.fullmatch(
                r'db;dur=[\d.]+;desc="\d+ statements", app;dur=[\d.]+', response.headers["server-timing"]
            )
    records = [r for r in caplog.records if r.name == "ailab.web.slow"]
    assert any("/api/work-items" in r.getMessage() and "SELECT" in r.getMessage() for r in records)


async def test_metrics_show_latency_histograms_per_route(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/api/summary")
        await client.get("/api/work-items", params={"limit": 5})
    text_ = (await client.get("/metrics")).text
    assert re.search(r'ailab_http_request_duration_seconds_bucket\{.*route="/api/summary".*\} [1-9]', text_)
    assert re.search(
        r'ailab_http_request_duration_seconds_count\{method="GET",route="/api/work-items",status="200"\} 3',
        text_,
    )
    assert re.search(r'ailab_db_statements_per_request_sum\{route="/api/work-items"\} 3', text_)
    assert "ailab_db_time_seconds_bucket" in text_
    assert re.search(r"ailab_db_pool_connections_in_use \d", text_)
    assert 'ailab_summary_cache_total{result="hit"}' in text_


async def test_health_and_openapi(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert statements(health) == BUDGETS["health"]
    spec = (await client.get("/openapi.json")).json()
    assert {
        "/api/summary",
        "/api/work-items",
        "/api/work-items/{ref}",
        "/api/work-items/{ref}/blockers",
        "/healthz",
    } <= set(spec["paths"])
    assert "HTTPBearer" in str(spec["components"])


async def test_health_reports_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    try:
        async with serve(create_app(Settings(database_url=url))) as client:
            response = await client.get("/healthz")
        assert response.status_code == 503 and "ailab db upgrade" in response.json()["detail"]
    finally:
        forget_engine(url)


async def test_dashboard_page_embeds_the_summary_and_loads_nothing_external(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<canvas id="statusChart"' in html
    embedded = re.search(r'<script type="application/json" id="summary-data">(.*?)</script>', html, re.S)
    assert embedded and orjson.loads(embedded.group(1))["total"] > 0
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from elsewhere"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp


def test_web_server_imports_no_pandas_or_matplotlib() -> None:
    code = "import sys, ailab.web, ailab.web.server, ailab.cli.serve; bad = {'pandas', 'matplotlib'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)


SERVE_IN_A_FRESH_PROCESS = """
import asyncio, sys
from ailab.settings import Secret, Settings
from ailab.web.app import create_app

app = create_app(Settings(database_url=sys.argv[1], api_token=Secret("t")))

async def call(method, path, body=b""):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "headers": [(b"authorization", b"Bearer t"), (b"content-type", b"application/json")]}
    sent = []
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    return sent[0]["status"]

async def main():
    async with app.router.lifespan_context(app):
        statuses = [await call("GET", "/api/summary"), await call("GET", "/api/work-items"),
                    await call("GET", "/api/work-items/1"), await call("GET", "/api/work-items/1/blockers"),
                    await call("PATCH", "/api/work-items/1", b'{"status": "done"}'),
                    await call("POST", "/api/work-items", b'{"title": "new"}')]
    assert statuses == [200, 200, 200, 200, 200, 201], statuses

asyncio.run(main())
bad = {"httpx", "rich", "pygments", "pandas", "matplotlib", "ailab.sync.remote", "sqlalchemy.orm",
       "ailab.db.models", "alembic"} & set(sys.modules)
assert not bad, bad
"""


def test_the_server_imports_no_orm_http_client_or_terminal_ui(tmp_path: Path) -> None:
    """What a uvicorn worker loads while it serves reads and writes: not the ORM (queries are
    Core; with the mapped classes ~8 MiB), not httpx (the sync's client, loaded only to apply
    webhooks), not rich or pygments. Each costs resident memory in every worker."""
    url = f"sqlite:///{tmp_path / 'lean.db'}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, 20)
    forget_engine(url)
    subprocess.run([sys.executable, "-c", SERVE_IN_A_FRESH_PROCESS, url], check=True)


async def test_statement_counts_agree_with_the_tracer(client: httpx.AsyncClient) -> None:
    from ailab.db import trace

    with trace() as t:
        response = await client.get("/api/work-items", params={"limit": 10, "tag": "api"})
    queries_run = [s for s in t.statements if not s.sql.lstrip().upper().startswith("BEGIN")]
    assert statements(response) == len(queries_run) <= BUDGETS["list"]
    assert all(s.sql.lstrip().upper().startswith(("SELECT", "WITH")) for s in queries_run)


async def test_summary_cache_entries_expire_after_the_configured_age(web_url: str) -> None:
    from ailab.clock import FakeClock

    clock = FakeClock()
    app = create_app(settings_for(web_url, summary_cache_seconds=2.0), clock=clock, warm_up=False)
    async with serve(app) as client:
        results = []
        for advance in (0.0, 1.0, 1.5, 0.0):
            clock.advance(advance)
            results.append((await client.get("/api/summary")).headers["x-summary-cache"])
    assert results == ["miss", "hit", "miss", "hit"]  # 2.5 s after the first miss it expired


def test_server_refuses_a_database_without_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'blank.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "ailab.web", "--port", "1", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ailab db upgrade" in result.stderr and "Traceback" not in result.stderr


def test_loopback_detection() -> None:
    from ailab.web.server import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "example.com"))
