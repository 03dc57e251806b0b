"""Token checking in the GitHub simulator, and the token never leaking anywhere."""

from __future__ import annotations

import logging

import httpx
import pytest

from ailab.clock import FakeClock
from ailab.settings import Secret
from ailab.sync.simulator import SimulatorConfig, create_app

pytestmark = pytest.mark.anyio
TOKEN = "ghp_simulatorTestToken0123456789abcdef"


async def test_token_is_required_and_never_echoed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SimulatorConfig(token=Secret(TOKEN), rest_limit_per_hour=100)
    app = create_app(config, FakeClock())
    sim = app.state.sim
    seen: list[httpx.Response] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
        ):
            for method, path in (("GET", "/repos/o/r/issues"), ("POST", "/graphql")):
                r = await client.request(
                    method, path, headers=headers, json={"query": "{ rateLimit { cost } }"}
                )
                assert r.status_code == 401
                assert r.json()["message"] == "Bad credentials" and "documentation_url" in r.json()
                assert "x-ratelimit-limit" in r.headers
                seen.append(r)
        for scheme in ("Bearer", "token", "bearer"):
            r = await client.get("/repos/o/r/issues", headers={"Authorization": f"{scheme} {TOKEN}"})
            assert r.status_code == 200
            seen.append(r)
        r = await client.post(
            "/graphql", headers={"Authorization": f"Bearer {TOKEN}"}, json={"query": "{ rateLimit { cost } }"}
        )
        assert r.status_code == 200
        seen.append(r)
    assert sim.counters.unauthorized == 8
    assert sim.rate_limit("core")["used"] == 3  # 401s are not charged
    for response in seen:
        assert TOKEN not in response.text
        assert all(TOKEN not in value for value in response.headers.values())
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(config) and TOKEN not in str(config) and TOKEN not in repr(sim)


def test_plain_string_token_is_wrapped() -> None:
    config = SimulatorConfig(token=TOKEN)  # type: ignore[arg-type]
    assert isinstance(config.token, Secret) and TOKEN not in repr(config)


async def test_no_token_configured_means_open_access() -> None:
    app = create_app(SimulatorConfig(), FakeClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        assert (await client.get("/repos/o/r/issues")).status_code == 200
        assert (
            await client.get("/repos/o/r/issues", headers={"Authorization": "Bearer any"})
        ).status_code == 200
