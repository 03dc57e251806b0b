"""The fast lane answers exactly as FastAPI's routes do, for valid and invalid GETs alike."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from ailab.db import get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.settings import Settings
from ailab.testing.scratch import forget_engine
from ailab.web import create_app

pytestmark = pytest.mark.anyio
LONG = "x" * 65

# (path, whether the fast lane answers it itself rather than passing it on to FastAPI)
REQUESTS = [
    ("/api/summary", True),
    ("/", True),
    ("/healthz", True),
    ("/favicon.ico", True),
    ("/api/work-items", True),
    ("/api/work-items?status=todo", True),
    ("/api/work-items?status=todo,done&priority=high", True),
    ("/api/work-items?status=todo&status=review&priority=low,critical", True),
    ("/api/work-items?tag=api&limit=7", True),
    ("/api/work-items?any_tag=docs&any_tag=ci&status=todo", True),
    ("/api/work-items?project=DEMO-2", True),
    ("/api/work-items?project=", True),
    ("/api/work-items?q=cache", True),
    ("/api/work-items?q=", True),
    ("/api/work-items?limit=1", True),
    ("/api/work-items?limit=200", True),
    ("/api/work-items?limit=05", True),
    ("/api/work-items?limit=0", False),
    ("/api/work-items?limit=201", False),
    ("/api/work-items?limit=ten", False),
    ("/api/work-items?limit=%2B5", False),
    ("/api/work-items?limit=", False),
    ("/api/work-items?limit=3&limit=4", False),
    ("/api/work-items?project=DEMO-1&project=DEMO-2", False),
    ("/api/work-items/5/blockers?open_only=1&open_only=0", False),
    ("/api/work-items?cursor=not-a-cursor", False),
    ("/api/work-items?cursor=", True),
    ("/api/work-items?cursor=1700000000000000.7", True),
    ("/api/work-items?status=", False),
    ("/api/work-items?q=%00", False),
    ("/api/work-items?tag=a,%20b", False),
    ("/api/work-items/%C2%B2", True),
    ("/api/work-items?status=open", False),
    ("/api/work-items?priority=urgent", False),
    ("/api/work-items?unknown=1", True),
    (f"/api/work-items?project={LONG}", False),
    (f"/api/work-items?q={'y' * 201}", False),
    ("/api/work-items/1", True),
    ("/api/work-items/WI-000002", True),
    ("/api/work-items/WI%2D000003", True),
    ("/api/work-items/WI-999999", True),
    ("/api/work-items/%20", False),
    ("/api/work-items/x/y", False),
    ("/api/work-items/", False),
    (f"/api/work-items/{LONG}", False),
    ("/api/work-items/5/blockers", True),
    ("/api/work-items/5/blockers?max_depth=1", True),
    ("/api/work-items/5/blockers?max_depth=0", False),
    ("/api/work-items/5/blockers?max_depth=201", False),
    ("/api/work-items/5/blockers?open_only=true", True),
    ("/api/work-items/5/blockers?open_only=TRUE", True),
    ("/api/work-items/5/blockers?open_only=0", True),
    ("/api/work-items/5/blockers?open_only=yes", True),
    ("/api/work-items/5/blockers?open_only=maybe", False),
    ("/api/work-items/5/blockers?limit=1", True),
    ("/api/work-items/5/blockers?limit=5001", False),
    ("/api/work-items/WI-999999/blockers", True),
    ("/api/work-items//blockers", False),
    ("/api/summary/", False),
    ("/nope", False),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def lane_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('lane') / 'lane.db'}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=150, seed=3)
    yield url
    forget_engine(url)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def comparable(response: httpx.Response) -> tuple[Any, ...]:
    headers = {k: v for k, v in response.headers.items() if k not in ("server-timing", "date")}
    if response.headers.get("content-type", "").startswith("application/json"):
        body: Any = response.json()
        if isinstance(body, dict):
            body.pop("generated_at", None)  # each app computed its own summary
            headers.pop("content-length", None)
    else:  # the page embeds the summary
        body = re.sub(rb'"generated_at":"[^"]*"', b"", response.content)
    return response.status_code, headers, body


async def test_the_fast_lane_and_fastapi_give_the_same_answers(
    lane_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=lane_url, summary_cache_seconds=60.0)
    fast_app = create_app(settings)
    routed: list[str] = []  # requests of the fast app that reached FastAPI's router
    router_call = APIRouter.__call__

    async def spy(self: APIRouter, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("app") is fast_app:
            routed.append(scope["path"])
        await router_call(self, scope, receive, send)

    monkeypatch.setattr(APIRouter, "__call__", spy)
    async with (
        serve(fast_app) as fast,
        serve(create_app(settings, fast_lane=False)) as plain,
    ):
        cursor = (await plain.get("/api/work-items", params={"limit": 3})).json()["next_cursor"]
        for path, lane in [*REQUESTS, (f"/api/work-items?limit=3&cursor={cursor}", True)]:
            expected = comparable(await plain.get(path))
            routed.clear()
            assert comparable(await fast.get(path)) == expected, path
            assert (not routed) == lane, (path, routed)
        head = await fast.head("/api/summary")
        assert head.status_code == (await plain.head("/api/summary")).status_code


async def test_fast_lane_requests_are_profiled_under_their_route(lane_url: str, tmp_path: Path) -> None:
    async with serve(create_app(Settings(database_url=lane_url))) as client:
        for path in ("/api/work-items/3", "/api/work-items/3/blockers", "/api/work-items/WI-999999"):
            response = await client.get(path)
            assert "server-timing" in response.headers
        text = (await client.get("/metrics")).text
    for route, status in (("/api/work-items/{ref}", 200), ("/api/work-items/{ref}/blockers", 200)):
        assert f'route="{route}",status="{status}"' in text
    assert 'route="/api/work-items/{ref}",status="404"' in text
