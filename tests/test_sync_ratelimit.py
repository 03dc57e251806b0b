"""Rate limits and retries with a FakeClock and httpx.MockTransport: no real sleeps anywhere."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.engine import Engine

from ailab.clock import FakeClock
from ailab.db.seed import seed_database
from ailab.errors import (
    AmbiguousWriteError,
    GitHubAuthError,
    GitHubNotFoundError,
    GitHubValidationError,
    RateLimitedError,
)
from ailab.settings import Secret
from ailab.sync.client import GitHubClient
from ailab.sync.config import SyncConfig, parse_repo
from ailab.sync.ratelimit import CreationBudget, LimiterStats
from ailab.sync.simulator import SimulatorConfig
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub, compare_remote

TOKEN = "ghp_SECRETsecretSECRET0123456789abcdefXY"
Handler = Callable[[httpx.Request], Any]


def make_client(handler: Handler, clock: FakeClock, **overrides: Any) -> GitHubClient:
    config = SyncConfig(api_url="https://api.github.com", token=Secret(TOKEN), default_repo=parse_repo("o/r"))
    return GitHubClient(config.with_(**overrides), clock=clock, transport=httpx.MockTransport(handler))


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body), headers=headers or {})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_write_lane_is_serial_and_paced() -> None:
    clock = FakeClock()
    starts: list[float] = []
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        starts.append(clock.monotonic())
        await clock.sleep(0.05)  # the request takes a while
        in_flight -= 1
        return json_response(200, {})

    async def main() -> None:
        async with make_client(handler, clock, write_interval=1.5) as client:
            await asyncio.gather(*(client.rest("PATCH", f"/repos/o/r/issues/{n}", json={}) for n in range(6)))

    run(main())
    assert most == 1
    assert all(b - a >= 1.5 - 1e-9 for a, b in itertools.pairwise(starts))


def test_read_lane_never_exceeds_its_concurrency() -> None:
    clock = FakeClock()
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return json_response(200, [])

    async def main() -> int:
        async with make_client(handler, clock, read_concurrency=4) as client:
            await asyncio.gather(*(client.rest("GET", "/repos/o/r/issues") for _ in range(40)))
            return client.limiter.stats.max_reads_in_flight

    assert run(main()) == 4
    assert most == 4


def test_creation_budget_holds_every_window_and_runs_at_its_rate() -> None:
    clock = FakeClock()
    config = SyncConfig(creates_per_minute=20, creates_per_hour=50, write_interval=1.0)
    stats = LimiterStats()
    budget = CreationBudget(config, clock, stats)

    async def main() -> None:
        remaining = 70
        while remaining:
            remaining -= await budget.acquire(min(5, remaining))
            await clock.sleep(1.0)  # one write slot per second, as the write lane gives

    run(main())
    events = [(t, n) for t, n in stats.creates for _ in range(n)]
    times = [t for t, _ in events]
    assert len(times) == 70
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 60) <= 20
        assert sum(1 for t in times[i:] if t < start + 3600) <= 50
    # Before the hourly cap bites, creation runs at >= 95% of 20 per minute.
    first_50 = times[:50]
    rate_per_minute = (len(first_50) - 1) / (first_50[-1] - first_50[0]) * 60
    assert 0.95 * 20 <= rate_per_minute <= 20


def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    answers = [
        json_response(403, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "7"}),
        json_response(200, {"ok": True}),
    ]

    async def main() -> Any:
        async with make_client(lambda r: answers.pop(0), clock) as client:
            return (await client.rest("GET", "/repos/o/r/issues")).data, client.limiter.stats

    data, stats = run(main())
    assert data == {"ok": True}
    assert 7.0 in clock.sleeps and stats.refusals == 1 and stats.rate_limit_waits == 1


def test_reset_is_honoured_when_remaining_is_zero() -> None:
    clock = FakeClock()
    reset = int(clock.time()) + 120
    answers = [
        json_response(
            429,
            {"message": "API rate limit exceeded"},
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        ),
        json_response(200, []),
    ]

    async def main() -> None:
        async with make_client(lambda r: answers.pop(0), clock) as client:
            await client.rest("GET", "/repos/o/r/issues")

    run(main())
    assert clock.time() >= reset
    assert any(119 <= s <= 122 for s in clock.sleeps)


def test_secondary_limit_without_headers_waits_a_minute_then_doubles_then_gives_up() -> None:
    clock = FakeClock()
    refusal = json_response(403, {"message": "You have exceeded a secondary rate limit."})

    async def main() -> None:
        async with make_client(lambda r: refusal, clock, max_rate_limit_tries=4) as client:
            await client.rest("GET", "/repos/o/r/issues")

    with pytest.raises(RateLimitedError, match="rerun"):
        run(main())
    waits = [s for s in clock.sleeps if s >= 1]
    assert waits == [60.0, 120.0, 240.0]


@pytest.mark.parametrize("kind", ["RATE_LIMITED", "RATE_LIMIT"])
def test_graphql_rate_limited_answer_is_retried(kind: str) -> None:
    clock = FakeClock()
    reset = int(clock.time()) + 30
    answers = [
        json_response(
            200,
            {"errors": [{"type": kind, "message": "API rate limit exceeded for user ID 1."}]},
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        ),
        json_response(200, {"data": {"repository": {"id": "R1"}}}),
    ]

    async def main() -> Any:
        async with make_client(lambda r: answers.pop(0), clock) as client:
            return await client.graphql('query { repository(owner: "o", name: "r") { id } }')

    answer = run(main())
    assert answer.data == {"repository": {"id": "R1"}}
    assert clock.time() >= reset


def test_primary_remaining_zero_pauses_the_next_request() -> None:
    clock = FakeClock()
    reset = int(clock.time()) + 300
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(clock.time())
        return json_response(200, [], {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})

    async def main() -> None:
        async with make_client(handler, clock) as client:
            await client.rest("GET", "/repos/o/r/issues")
            await client.rest("GET", "/repos/o/r/issues")

    run(main())
    assert seen[1] >= reset


def test_ambiguous_create_is_not_resent_but_reads_are_retried() -> None:
    clock = FakeClock()
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) in (1, 2):
            raise httpx.ReadTimeout("timed out", request=request)
        return json_response(200, [])

    async def main() -> None:
        async with make_client(handler, clock) as client:
            with pytest.raises(AmbiguousWriteError, match="not resent blindly"):
                await client.rest("POST", "/repos/o/r/issues", json={"title": "x"})
            await client.rest("GET", "/repos/o/r/issues")

    run(main())
    assert calls == ["POST", "GET", "GET"]


@pytest.mark.parametrize(
    ("status", "error", "hint"),
    [
        (401, GitHubAuthError, "GITHUB_TOKEN"),
        (403, GitHubAuthError, "Issues: Read and write"),
        (404, GitHubNotFoundError, "AILAB_GITHUB_REPO"),
    ],
)
def test_errors_name_what_to_fix_and_never_the_token(status: int, error: type[Exception], hint: str) -> None:
    clock = FakeClock()
    echo = json_response(status, {"message": f"Bad credentials for token {TOKEN}"})

    async def main() -> None:
        async with make_client(lambda r: echo, clock) as client:
            assert TOKEN not in repr(client)
            await client.rest("GET", "/repos/o/r/issues")

    with pytest.raises(error) as caught:
        run(main())
    message = str(caught.value)
    assert hint in message and TOKEN not in message
    assert "o/r" in message or status == 401
    assert TOKEN not in repr(caught.value)


def test_graphql_document_errors_raise_instead_of_retrying_aliases() -> None:
    clock = FakeClock()
    answer = json_response(200, {"errors": [{"message": "Field 'nope' doesn't exist on type 'Query'"}]})

    async def main() -> None:
        async with make_client(lambda r: answer, clock) as client:
            await client.graphql("query { nope }")

    with pytest.raises(GitHubValidationError, match="doesn't exist"):
        run(main())


# -- against the simulator: its limits are GitHub's, and the sync never trips them ------------------
def _seeded(engine: Engine, items: int) -> Engine:
    seed_database(engine, items=items, seed=9)
    return engine


def test_creation_at_the_budget_provokes_no_refusal(sqlite_engine: Engine) -> None:
    engine = _seeded(sqlite_engine, 45)
    sim = SimulatorConfig(token=Secret(TEST_TOKEN), content_per_minute=20, content_per_hour=1000)
    gh = SimulatedGitHub.in_process(
        clock=FakeClock(), sim_config=sim, creates_per_minute=20, creates_per_hour=1000
    )
    summary = gh.run(engine)
    assert summary.created == 45 and summary.refusals == 0
    assert gh.sim.counters.refused == 0
    creates = [(t, n) for t, n in summary.creation_grants]
    times = [t for t, n in creates for _ in range(n)]
    for i, start in enumerate(times):  # never more than 20 in any minute of GitHub's clock
        assert sum(1 for t in times[i:] if t < start + 60) <= 20
    assert compare_remote(engine, gh).ok


def test_simulator_refusals_are_waited_out_without_duplicates(sqlite_engine: Engine) -> None:
    """Configured above what the simulator allows: it answers 403 + retry-after, the sync waits."""
    engine = _seeded(sqlite_engine, 12)
    sim = SimulatorConfig(token=Secret(TEST_TOKEN), content_per_minute=4, secondary_limit_status=429)
    gh = SimulatedGitHub.in_process(clock=FakeClock(), sim_config=sim, write_interval=0.0)
    summary = gh.run(engine)
    assert gh.sim.counters.rate_limited["secondary_content_minute"] > 0
    assert summary.refusals > 0 and summary.rate_limit_waits > 0 and summary.ok
    check = compare_remote(engine, gh)
    assert check.ok and check.issues == 12, check


def test_primary_limit_is_respected_from_the_headers(sqlite_engine: Engine) -> None:
    """A tiny hourly GraphQL budget: the sync pauses when x-ratelimit-remaining reaches 0, unrefused."""
    engine = _seeded(sqlite_engine, 10)
    sim = SimulatorConfig(token=Secret(TEST_TOKEN), graphql_points_per_hour=6)
    gh = SimulatedGitHub.in_process(clock=FakeClock(), sim_config=sim)
    summary = gh.run(engine)
    assert summary.rate_limit_waits > 0 and summary.rate_limit_seconds > 0
    assert gh.sim.counters.refused == 0 and summary.ok
    assert compare_remote(engine, gh).ok


@pytest.mark.parametrize("kind", ["RATE_LIMITED", "RATE_LIMIT"])
def test_graphql_rate_limited_from_the_simulator_is_waited_out(sqlite_engine: Engine, kind: str) -> None:
    """Someone else spent the GraphQL budget: 200 + errors[].type = RATE_LIMITED, then success."""
    engine = _seeded(sqlite_engine, 10)
    sim = SimulatorConfig(token=Secret(TEST_TOKEN), graphql_rate_limit_type=kind)
    gh = SimulatedGitHub.in_process(clock=FakeClock(), sim_config=sim)
    budget = gh.sim.limits.graphql
    budget.roll(gh.clock.time())
    budget.used = budget.limit  # exhausted by another client
    summary = gh.run(engine)
    assert gh.sim.counters.rate_limited["graphql_primary"] == 1
    assert summary.refusals == 1 and summary.ok
    assert compare_remote(engine, gh).ok
