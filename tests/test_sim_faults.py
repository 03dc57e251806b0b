"""Fault injection in the GitHub simulator: scripted rules, seeded random faults, after-write faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ailab.clock import FakeClock
from ailab.errors import ConfigError
from ailab.sync.simulator import (
    FaultConfig,
    FaultKind,
    FaultRule,
    GitHubSimulator,
    SimulatedConnectionReset,
    SimulatedTimeout,
    SimulatorConfig,
    create_app,
)

pytestmark = pytest.mark.anyio
ISSUES = "/repos/{owner}/{repo}/issues"


async def _client(
    config: SimulatorConfig | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, GitHubSimulator]]:
    app = create_app(config, FakeClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        yield client, app.state.sim


@pytest.fixture
async def sim_client() -> AsyncIterator[tuple[httpx.AsyncClient, GitHubSimulator]]:
    async for pair in _client():
        yield pair


async def test_scripted_nth_matching_request_fails(
    sim_client: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, sim = sim_client
    sim.add_fault(FaultRule(FaultKind.SERVER_ERROR, nth=2, times=2, method="POST", route=ISSUES, status=503))
    statuses = []
    for n in range(5):
        await client.get("/repos/o/r/issues")  # does not match: does not count toward nth
        statuses.append((await client.post("/repos/o/r/issues", json={"title": f"t{n}"})).status_code)
    assert statuses == [201, 503, 503, 201, 201]
    assert [i["title"] for i in sim.issues("o/r")] == ["t0", "t3", "t4"]  # 5xx before applying
    assert sim.counters.faults == {"server_error": 2} and sim.counters.status[503] == 2


async def test_reset_is_a_transport_error_and_applies_nothing(
    sim_client: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, sim = sim_client
    sim.add_fault(FaultRule(FaultKind.RESET, method="POST"))
    with pytest.raises(httpx.TransportError) as caught:
        await client.post("/repos/o/r/issues", json={"title": "lost"})
    assert isinstance(caught.value, SimulatedConnectionReset)
    assert sim.issues("o/r") == [] and sim.limits.in_flight == 0
    assert (await client.post("/repos/o/r/issues", json={"title": "kept"})).status_code == 201


async def test_timeout_after_write_applies_then_fails(
    sim_client: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, sim = sim_client
    sim.add_fault(FaultRule(FaultKind.TIMEOUT_AFTER_WRITE, method="POST", route=ISSUES))
    with pytest.raises(httpx.TimeoutException) as caught:
        await client.post("/repos/o/r/issues", json={"title": "applied"})
    assert isinstance(caught.value, SimulatedTimeout)
    assert [i["title"] for i in sim.issues("o/r")] == ["applied"]  # a blind retry would duplicate it
    assert sim.counters.writes == 1 and sim.counters.faults == {"timeout_after_write": 1}


async def test_server_error_after_write(sim_client: tuple[httpx.AsyncClient, GitHubSimulator]) -> None:
    client, sim = sim_client
    sim.seed_issue("o/r", "open me")
    sim.add_fault(FaultRule(FaultKind.SERVER_ERROR_AFTER_WRITE, method="PATCH"))
    r = await client.patch("/repos/o/r/issues/1", json={"state": "closed"})
    assert r.status_code == 502 and r.json()["message"] == "Server Error"
    assert sim.issue("o/r", 1)["state"] == "closed"


async def test_graphql_field_rule_and_hang_on_the_clock() -> None:
    clock = FakeClock()
    app = create_app(SimulatorConfig(faults=FaultConfig(hang_seconds=30)), clock)
    sim: GitHubSimulator = app.state.sim
    sim.add_fault(FaultRule(FaultKind.TIMEOUT_AFTER_WRITE, graphql_field="createIssue"))
    repo_id = sim.create_repo("o/r").node_id
    mutation = 'mutation($r: ID!) { createIssue(input: {repositoryId: $r, title: "g"}) { issue { number } } }'
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        assert (await client.post("/graphql", json={"query": "{ rateLimit { cost } }"})).status_code == 200
        with pytest.raises(SimulatedTimeout):
            await client.post("/graphql", json={"query": mutation, "variables": {"r": repo_id}})
    assert [i["title"] for i in sim.issues("o/r")] == ["g"]
    assert clock.sleeps == [30]


async def _statuses(config: SimulatorConfig, requests: int = 60) -> list[int]:
    out = []
    async for client, _ in _client(config):
        for _ in range(requests):
            try:
                out.append((await client.get("/repos/o/r/issues")).status_code)
            except httpx.TransportError:
                out.append(0)
    return out


async def test_random_faults_are_reproducible_with_a_seed() -> None:
    faults = FaultConfig(server_error_rate=0.2, reset_rate=0.1, seed=7)
    first = await _statuses(SimulatorConfig(faults=faults))
    assert first == await _statuses(SimulatorConfig(faults=faults))
    assert {0, 200, 502} == set(first)
    other = await _statuses(
        SimulatorConfig(faults=FaultConfig(server_error_rate=0.2, reset_rate=0.1, seed=8))
    )
    assert other != first


async def test_writes_only_spares_reads() -> None:
    config = SimulatorConfig(faults=FaultConfig(server_error_rate=1.0, writes_only=True))
    async for client, sim in _client(config):
        assert (await client.get("/repos/o/r/issues")).status_code == 200
        assert (await client.post("/repos/o/r/issues", json={"title": "x"})).status_code == 502
        assert sim.issues("o/r") == []


def test_fault_config_is_checked() -> None:
    with pytest.raises(ConfigError):
        FaultConfig(server_error_rate=0.7, reset_rate=0.7)
    with pytest.raises(ConfigError):
        FaultRule(FaultKind.RESET, nth=0)
    with pytest.raises(ConfigError):
        SimulatorConfig(secondary_limit_status=500)
