"""Rate limits of the GitHub simulator on a fake clock: primary, secondary, concurrency, 304s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from ailab.clock import FakeClock
from ailab.sync.simulator import GitHubSimulator, SimulatorConfig, create_app

pytestmark = pytest.mark.anyio
START = 1_700_000_000.0
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset")


def client_for(config: SimulatorConfig, clock: object) -> tuple[httpx.AsyncClient, GitHubSimulator]:
    app = create_app(config, clock)  # type: ignore[arg-type]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")
    return client, app.state.sim


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def small(clock: FakeClock) -> AsyncIterator[tuple[httpx.AsyncClient, GitHubSimulator]]:
    client, sim = client_for(SimulatorConfig(rest_limit_per_hour=3), clock)
    async with client:
        yield client, sim


@pytest.mark.parametrize("status", [403, 429])
async def test_primary_limit_refuses_with_remaining_zero_until_reset(clock: FakeClock, status: int) -> None:
    client, sim = client_for(SimulatorConfig(rest_limit_per_hour=3, primary_limit_status=status), clock)
    async with client:
        remaining = []
        for _ in range(3):
            r = await client.get("/repos/o/r/issues")
            assert r.status_code == 200
            remaining.append(int(r.headers["x-ratelimit-remaining"]))
        assert remaining == [2, 1, 0]
        r = await client.get("/repos/o/r/issues")
        assert r.status_code == status
        assert r.headers["x-ratelimit-remaining"] == "0"
        assert r.headers["x-ratelimit-reset"] == str(int(START + 3600))
        assert r.headers["x-ratelimit-resource"] == "core"
        assert "rate limit exceeded" in r.json()["message"] and r.json()["documentation_url"]
        assert sim.counters.rate_limited["primary"] == 1
        clock.advance(3600)
        r = await client.get("/repos/o/r/issues")
        assert r.status_code == 200 and r.headers["x-ratelimit-used"] == "1"


async def test_conditional_304_is_free_and_counted(small: tuple[httpx.AsyncClient, GitHubSimulator]) -> None:
    client, sim = small
    sim.seed_issue("o/r", "seeded")
    first = await client.get("/repos/o/r/issues/1")
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    for tag in (etag, f"W/{etag}", f'"other", {etag}'):
        r = await client.get("/repos/o/r/issues/1", headers={"if-none-match": tag})
        assert r.status_code == 304 and r.content == b""
        assert r.headers["x-ratelimit-used"] == "1" and r.headers["etag"] == etag
    assert sim.counters.not_modified == 3
    sim.edit_issue("o/r", 1, title="changed remotely")
    r = await client.get("/repos/o/r/issues/1", headers={"if-none-match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag and r.headers["x-ratelimit-used"] == "2"


async def test_list_pages_carry_etags_and_answer_304(
    small: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, sim = small
    for n in range(3):
        sim.seed_issue("o/r", f"issue {n}")
    page = await client.get("/repos/o/r/issues", params={"per_page": 2, "page": 2})
    r = await client.get(
        "/repos/o/r/issues",
        params={"per_page": 2, "page": 2},
        headers={"if-none-match": page.headers["etag"]},
    )
    assert r.status_code == 304 and sim.rate_limit("core")["used"] == 1


async def test_rate_limit_endpoint_is_free(small: tuple[httpx.AsyncClient, GitHubSimulator]) -> None:
    client, sim = small
    for _ in range(5):
        r = await client.get("/rate_limit")
        assert r.status_code == 200
    assert r.json()["resources"]["core"] == {
        "limit": 3,
        "used": 0,
        "remaining": 3,
        "reset": int(START + 3600),
    }
    assert sim.rate_limit("core")["used"] == 0


async def test_every_response_has_rate_limit_headers(
    small: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, _ = small
    responses = [
        await client.get("/repos/o/r/issues"),
        await client.get("/repos/o/r/issues/99"),
        await client.post("/repos/o/r/issues", json={}),
        await client.post("/graphql", json={"query": "{ rateLimit { remaining } }"}),
    ]
    assert [r.status_code for r in responses] == [200, 404, 422, 200]
    for r in responses:
        assert all(h in r.headers for h in RATE_HEADERS)
    assert responses[-1].headers["x-ratelimit-resource"] == "graphql"


@pytest.mark.parametrize("status", [403, 429])
async def test_secondary_points_per_minute(clock: FakeClock, status: int) -> None:
    config = SimulatorConfig(rest_points_per_minute=11, secondary_limit_status=status)
    client, sim = client_for(config, clock)
    async with client:
        assert (await client.post("/repos/o/r/issues", json={"title": "a"})).status_code == 201  # 5 points
        clock.advance(10)
        assert (await client.post("/repos/o/r/issues", json={"title": "b"})).status_code == 201  # 10 points
        assert (await client.get("/repos/o/r/issues/1")).status_code == 200  # 11 points
        r = await client.post("/repos/o/r/issues", json={"title": "c"})
        assert r.status_code == status
        assert "secondary rate limit" in r.json()["message"]
        assert r.headers["retry-after"] == "50"  # the first write leaves the window 60 s after it
        assert r.headers["x-ratelimit-remaining"] == str(5000 - 3)  # refused: not charged
        clock.advance(50)
        assert (await client.post("/repos/o/r/issues", json={"title": "c"})).status_code == 201
        assert sim.counters.rate_limited["secondary_points"] == 1
        assert [i["title"] for i in sim.issues("o/r")] == ["a", "b", "c"]


async def test_content_creation_budget_per_minute_and_hour(clock: FakeClock) -> None:
    config = SimulatorConfig(content_per_minute=2, content_per_hour=3, secondary_limit_status=429)
    client, sim = client_for(config, clock)
    async with client:
        for title in ("a", "b"):
            assert (await client.post("/repos/o/r/issues", json={"title": title})).status_code == 201
        r = await client.post("/repos/o/r/issues", json={"title": "c"})
        assert r.status_code == 429 and r.headers["retry-after"] == "60"
        # Updates create no content: still allowed.
        assert (await client.patch("/repos/o/r/issues/1", json={"title": "a2"})).status_code == 200
        clock.advance(60)
        assert (await client.post("/repos/o/r/labels", json={"name": "bug"})).status_code == 201
        r = await client.post("/repos/o/r/issues", json={"title": "c"})
        assert r.status_code == 429 and r.headers["retry-after"] == str(3600 - 60)
        assert sim.counters.rate_limited == {"secondary_content_minute": 1, "secondary_content_hour": 1}
        assert sim.counters.content_created == 3


class GateClock(FakeClock):
    """A fake clock whose ``sleep`` waits until the test opens the gate (to hold requests in flight)."""

    def __init__(self) -> None:
        super().__init__(START)
        self.gate = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.gate.wait()


async def test_concurrency_limit() -> None:
    clock = GateClock()
    client, sim = client_for(SimulatorConfig(max_concurrent=2, latency_seconds=1.0), clock)
    async with client:
        held = [asyncio.create_task(client.get("/repos/o/r/issues")) for _ in range(2)]
        while sim.limits.in_flight < 2:
            await asyncio.sleep(0)
        refused = await client.get("/repos/o/r/issues")
        assert refused.status_code == 403 and "secondary rate limit" in refused.json()["message"]
        assert "retry-after" not in refused.headers
        clock.gate.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
    assert sim.counters.rate_limited["concurrency"] == 1
    assert sim.counters.max_in_flight == 3 and sim.limits.in_flight == 0
