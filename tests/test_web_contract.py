"""The API keeps its published contract: both lanes answer to the same OpenAPI schema, every
error is one problem+json shape, and each status an operation answers is documented.

Answers are checked with schemathesis' ``APIOperation.validate_response`` (the body against the
response schema of its status, the documented headers) plus the status being documented.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI

from ailab.db import get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.settings import Secret, Settings
from ailab.testing.scratch import forget_engine
from ailab.web import create_app
from ailab.web.problems import PROBLEM_JSON
from ailab.web.server import warn_if_exposed

pytestmark = pytest.mark.anyio
TOKEN = "contract-token-not-in-any-answer"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GET_ITEM, BLOCKERS = "/api/work-items/{ref}", "/api/work-items/{ref}/blockers"

# (template, path with query) for GETs, valid and not: both lanes must answer each alike.
GETS = [
    ("/api/summary", "/api/summary"),
    ("/healthz", "/healthz"),
    ("/api/work-items", "/api/work-items"),
    ("/api/work-items", "/api/work-items?status=todo,done&priority=high&limit=3"),
    ("/api/work-items", "/api/work-items?status=todo&status=review&priority=low,critical"),
    ("/api/work-items", "/api/work-items?tag=api&any_tag=docs,ci&q=cache&project=DEMO-2"),
    ("/api/work-items", "/api/work-items?project=&q=&cursor="),
    ("/api/work-items", "/api/work-items?cursor=1704067200000000.5"),
    ("/api/work-items", "/api/work-items?cursor=-99999999999999999.1"),
    ("/api/work-items", "/api/work-items?status=open"),
    ("/api/work-items", "/api/work-items?status="),
    ("/api/work-items", "/api/work-items?status=todo,%20done"),
    ("/api/work-items", "/api/work-items?tag=%20api"),
    ("/api/work-items", "/api/work-items?q=a%00b"),
    ("/api/work-items", "/api/work-items?project=%1f"),
    ("/api/work-items", "/api/work-items?cursor=not-a-cursor"),
    ("/api/work-items", "/api/work-items?limit=0"),
    ("/api/work-items", "/api/work-items?limit=3&limit=4"),
    ("/api/work-items", "/api/work-items?q=a&q=b&project=x"),
    ("/api/work-items", "/api/work-items?" + "&".join(["status=todo"] * 11)),
    ("/api/work-items", "/api/work-items?any_tag=" + "x" * 151),
    ("/api/work-items", "/api/work-items?tag=api,docs"),
    ("/api/work-items", "/api/work-items?" + "&".join(f"tag=t{n}" for n in range(6))),
    (GET_ITEM, "/api/work-items/1"),
    (GET_ITEM, "/api/work-items/WI-000002"),
    (GET_ITEM, "/api/work-items/WI-999999"),
    (GET_ITEM, "/api/work-items/99999999999999999999999"),
    (GET_ITEM, "/api/work-items/%C2%B2"),
    (GET_ITEM, "/api/work-items/%20"),
    (GET_ITEM, "/api/work-items/a%00"),
    (BLOCKERS, "/api/work-items/5/blockers?max_depth=2&open_only=true&limit=3"),
    (BLOCKERS, "/api/work-items/WI-999999/blockers"),
    (BLOCKERS, "/api/work-items/5/blockers?max_depth=0"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('contract') / 'contract.db'}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=120, seed=5)
    yield url
    forget_engine(url)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_dict(app.openapi())


def _check(schema: Any, template: str, method: str, response: httpx.Response) -> None:
    """``response`` is what the schema says ``method template`` answers: documented status, body, headers."""
    operation = schema[template][method]
    documented = set(operation.definition.raw["responses"])
    assert str(response.status_code) in documented, (method, template, response.status_code, response.text)
    operation.validate_response(response)
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["status"] == response.status_code and body["type"] == "about:blank"
        assert body["title"] and body["detail"]


async def test_both_lanes_answer_to_the_same_schema(db_file: str) -> None:
    settings = Settings(database_url=db_file)
    fast_app, plain_app = create_app(settings), create_app(settings, fast_lane=False)
    schema = _schema(plain_app)
    assert fast_app.openapi() == plain_app.openapi()
    async with serving(fast_app) as fast, serving(plain_app) as plain:
        for template, path in GETS:
            answers = [await fast.get(path), await plain.get(path)]
            for response in answers:
                _check(schema, template, "GET", response)
            one, other = (r.json() for r in answers)
            if template == "/api/summary":
                one.pop("generated_at"), other.pop("generated_at")
            assert answers[0].status_code == answers[1].status_code, path
            assert one == other, path


async def test_fast_lane_rejects_what_the_schema_rejects(db_file: str) -> None:
    """Each invalid GET above is a 422 from FastAPI's validation (the fast lane passed it on)."""
    async with serving(create_app(Settings(database_url=db_file))) as client:
        for path in ("/api/work-items?status=open", "/api/work-items?q=a%00b", "/api/work-items/%20"):
            response = await client.get(path)
            assert response.status_code == 422
            assert response.json()["errors"][0]["location"] in ("query", "path")


async def test_writes_answer_documented_statuses_and_problems(db_file: str) -> None:
    app = create_app(Settings(database_url=db_file, api_token=Secret(TOKEN), max_body_bytes=4096))
    schema = _schema(app)
    items, one = "/api/work-items", "/api/work-items/{ref}"
    async with serving(app) as client:
        created = await client.post(
            items, json={"title": "Contract", "key": "Kö"[:1] + "-contract"}, headers=AUTH
        )
        _check(schema, items, "POST", created)
        assert created.status_code == 201 and created.headers["location"] == "/api/work-items/K-contract"
        cases: list[tuple[str, str, httpx.Response, int]] = [
            (items, "POST", await client.post(items, json={"title": "x"}), 401),
            (
                items,
                "POST",
                await client.post(items, json={"title": "x"}, headers={"Authorization": "Bearer no"}),
                401,
            ),
            (
                items,
                "POST",
                await client.post(
                    items, content=b'{"title": ', headers={**AUTH, "Content-Type": "application/json"}
                ),
                400,
            ),
            (
                items,
                "POST",
                await client.post(
                    items, content=b'{"title": "\xff"}', headers={**AUTH, "Content-Type": "application/json"}
                ),
                400,
            ),
            (
                items,
                "POST",
                await client.post(items, content=b"title=x", headers={**AUTH, "Content-Type": "text/plain"}),
                415,
            ),
            (items, "POST", await client.post(items, json={"title": "x" * 5000}, headers=AUTH), 413),
            (items, "POST", await client.post(items, json={"title": "a\x07b"}, headers=AUTH), 422),
            (
                items,
                "POST",
                await client.post(items, json={"title": "x", "key": "K-contract"}, headers=AUTH),
                409,
            ),
            (
                items,
                "POST",
                await client.post(items, json={"title": "x", "depends_on": ["WI-999999"]}, headers=AUTH),
                409,
            ),
            (
                one,
                "PATCH",
                await client.patch("/api/work-items/WI-999999", json={"title": "x"}, headers=AUTH),
                404,
            ),
            (
                one,
                "PATCH",
                await client.patch("/api/work-items/K-contract", json={"title": None}, headers=AUTH),
                422,
            ),
            (
                one,
                "PATCH",
                await client.patch("/api/work-items/K-contract", json={"parent": "K-contract"}, headers=AUTH),
                409,
            ),
            (
                one,
                "PATCH",
                await client.patch(
                    "/api/work-items/K-contract", json={"assignee": None, "description": ""}, headers=AUTH
                ),
                200,
            ),
        ]
        for template, method, response, status in cases:
            assert response.status_code == status, (method, template, status, response.text)
            _check(schema, template, method, response)
            assert TOKEN not in response.text
        missing, wrong = cases[0][2], cases[1][2]
        assert missing.headers["www-authenticate"] == 'Bearer realm="ailab"'
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
        assert "Authorization: Bearer" in missing.json()["detail"]
        assert "AILAB_MAX_BODY_BYTES" in cases[5][2].json()["detail"]
        errors = cases[6][2].json()["errors"]
        assert [(e["field"], e["location"]) for e in errors] == [("title", "body")]


async def test_read_only_server_says_how_to_enable_writes(db_file: str) -> None:
    app = create_app(Settings(database_url=db_file))
    async with serving(app) as client:
        response = await client.post("/api/work-items", json={"title": "x"})
        assert response.status_code == 403 and "AILAB_API_TOKEN" in response.json()["detail"]
        _check(_schema(app), "/api/work-items", "POST", response)


async def test_unknown_paths_and_methods_are_problems_with_allow(db_file: str) -> None:
    async with serving(create_app(Settings(database_url=db_file))) as client:
        missing = await client.get("/api/nope")
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM_JSON
        for path, allow in (("/api/work-items/5", "GET, PATCH"), ("/api/work-items", "GET, POST")):
            response = await client.request("OPTIONS", path)
            assert response.status_code == 405 and response.headers["allow"] == allow
            assert response.headers["content-type"] == PROBLEM_JSON and allow in response.json()["detail"]


def test_every_operation_documents_its_errors_and_links(tmp_path: Path) -> None:
    spec = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"), warm_up=False).openapi()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            errors = {s for s in operation["responses"] if s.startswith(("4", "5"))}
            # every operation reads the database, except the liveness probe, which must not
            assert ("503" in errors) == (path != "/livez"), (method, path)
            for status in errors:
                content = operation["responses"][status]["content"]
                assert list(content) == [PROBLEM_JSON], (method, path, status)
    create = spec["paths"]["/api/work-items"]["post"]["responses"]
    assert set(create["201"]["links"]) == {"GetWorkItem", "UpdateWorkItem", "GetBlockers"}
    assert {"400", "401", "403", "409", "413", "415", "422"} <= set(create)
    assert "404" in spec["paths"]["/api/work-items/{ref}"]["patch"]["responses"]


async def test_every_answer_carries_the_security_headers_and_no_cors(db_file: str) -> None:
    async with serving(create_app(Settings(database_url=db_file))) as client:
        page, api, missing = (
            await client.get("/"),
            await client.get("/api/work-items/1"),
            await client.get("/x"),
        )
        preflight = await client.options(
            "/api/work-items",
            headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
        )
    for response in (page, api, missing):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "access-control-allow-origin" not in response.headers
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    page_csp = page.headers["content-security-policy"]
    assert page_csp.startswith("default-src 'none'") and "connect-src 'self'" in page_csp
    assert "http" not in page_csp  # no other origin is allowed anything
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_only_for_the_configured_origins(db_file: str) -> None:
    settings = Settings(database_url=db_file, cors_origins="https://ok.example")
    async with serving(create_app(settings)) as client:
        allowed = await client.get("/api/summary", headers={"Origin": "https://ok.example"})
        other = await client.get("/api/summary", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://ok.example"
    assert "access-control-allow-origin" not in other.headers


async def test_the_token_is_never_logged_or_answered(db_file: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(database_url=db_file, api_token=Secret(TOKEN), slow_request_ms=0.001)
    async with serving(create_app(settings)) as client:
        answers = [
            await client.post("/api/work-items", json={"title": "logged?"}, headers=AUTH),
            await client.post(
                "/api/work-items", json={"title": "x"}, headers={"Authorization": f"Bearer {TOKEN}x"}
            ),
            await client.patch("/api/work-items/1", json={"title": None}, headers=AUTH),
        ]
    assert [a.status_code for a in answers] == [201, 401, 422]
    assert "slow request" in caplog.text  # the log did see these requests
    assert TOKEN not in caplog.text and all(TOKEN not in a.text for a in answers)


def test_binding_beyond_loopback_warns(caplog: pytest.LogCaptureFixture) -> None:
    warn_if_exposed("127.0.0.1", Settings())
    assert not caplog.records
    warn_if_exposed("0.0.0.0", Settings())
    assert "WITHOUT AILAB_API_TOKEN" in caplog.text and "127.0.0.1" in caplog.text
    caplog.clear()
    warn_if_exposed("192.168.1.5", Settings(api_token=Secret(TOKEN)))
    assert "writes need the bearer token" in caplog.text and TOKEN not in caplog.text


def test_fuzz_report_tells_expected_server_log_lines_from_errors(tmp_path: Path) -> None:
    from ailab.perf.tools.fuzz import read_server_log

    log = tmp_path / "server.log"
    log.write_text(
        "WARNING:  Invalid HTTP request received.\n\n"
        "ERROR ailab.web: unexpected error on POST /api/work-items\nTraceback (most recent call last):\n"
    )
    unexpected, expected = read_server_log(log)
    assert expected == 1 and len(unexpected) == 2 and unexpected[0].startswith("ERROR")
