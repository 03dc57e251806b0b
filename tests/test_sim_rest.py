"""REST behaviour of the GitHub simulator: pagination links, list filters, updates, relations, helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ailab.clock import FakeClock
from ailab.errors import NotFoundError
from ailab.sync.simulator import GitHubSimulator, SimulatorConfig, create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def env(clock: FakeClock) -> AsyncIterator[tuple[httpx.AsyncClient, GitHubSimulator]]:
    app = create_app(SimulatorConfig(), clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        yield client, app.state.sim


def _links(response: httpx.Response) -> dict[str, str]:
    return {str(rel): str(link["url"]) for rel, link in response.links.items()}


async def test_link_header_follows_the_documented_format(
    env: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, sim = env
    for n in range(7):
        sim.seed_issue("o/r", f"issue {n}")
    base = "http://sim/repos/o/r/issues?state=all&per_page=2&page="
    r = await client.get("/repos/o/r/issues", params={"state": "all", "per_page": 2})
    assert _links(r) == {"next": base + "2", "last": base + "4"}
    assert r.headers["link"] == f'<{base}2>; rel="next", <{base}4>; rel="last"'
    r = await client.get("/repos/o/r/issues", params={"state": "all", "per_page": 2, "page": 2})
    assert list(_links(r)) == ["prev", "next", "last", "first"]
    assert _links(r)["prev"] == base + "1" and _links(r)["first"] == base + "1"
    r = await client.get("/repos/o/r/issues", params={"state": "all", "per_page": 2, "page": 4})
    assert _links(r) == {"prev": base + "3", "first": base + "1"} and len(r.json()) == 1
    # Following "next" from the first page visits every issue once, newest first (the default).
    url: str | None = "/repos/o/r/issues?per_page=3"
    numbers = []
    while url:
        r = await client.get(url)
        numbers += [i["number"] for i in r.json()]
        url = _links(r).get("next")
    assert numbers == [7, 6, 5, 4, 3, 2, 1]


async def test_no_link_header_when_everything_fits(env: tuple[httpx.AsyncClient, GitHubSimulator]) -> None:
    client, sim = env
    for n in range(3):
        sim.seed_issue("o/r", f"issue {n}")
    r = await client.get("/repos/o/r/issues")
    assert "link" not in r.headers and len(r.json()) == 3
    r = await client.get("/repos/o/r/issues", params={"per_page": 1000})  # clamped to 100
    assert "link" not in r.headers


async def test_per_page_defaults_to_30_and_caps_at_100(
    env: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, sim = env
    for n in range(130):
        sim.seed_issue("o/r", f"issue {n}")
    assert len((await client.get("/repos/o/r/issues")).json()) == 30
    r = await client.get("/repos/o/r/issues", params={"per_page": 500})
    assert len(r.json()) == 100 and _links(r)["last"].endswith("per_page=100&page=2")


async def test_list_filters_and_sorting(
    env: tuple[httpx.AsyncClient, GitHubSimulator], clock: FakeClock
) -> None:
    client, sim = env
    sim.seed_issue("o/r", "a", labels=["bug", "ui"])
    sim.seed_issue("o/r", "b", labels=["bug"])
    sim.seed_issue("o/r", "c", state="closed")
    clock.advance(100)
    sim.edit_issue("o/r", 1, body="touched")

    async def numbers(**params: str) -> list[int]:
        r = await client.get("/repos/o/r/issues", params=params)
        assert r.status_code == 200, r.text
        return [i["number"] for i in r.json()]

    assert await numbers() == [2, 1]  # open only, created desc
    assert await numbers(state="all", direction="asc") == [1, 2, 3]
    assert await numbers(state="closed") == [3]
    assert await numbers(state="all", sort="updated") == [1, 3, 2]
    assert await numbers(labels="bug,ui") == [1] and await numbers(labels="BUG") == [2, 1]
    since = (await client.get("/repos/o/r/issues/1")).json()["updated_at"]
    assert await numbers(state="all", since=since) == [1]
    r = await client.get("/repos/o/r/issues", params={"state": "paused"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "state"


async def test_update_semantics(env: tuple[httpx.AsyncClient, GitHubSimulator], clock: FakeClock) -> None:
    client, sim = env
    created = (await client.post("/repos/o/r/issues", json={"title": "t", "body": "b"})).json()
    clock.advance(10)
    same = (await client.patch("/repos/o/r/issues/1", json={"title": "t", "body": "b"})).json()
    assert same["updated_at"] == created["updated_at"]  # nothing changed: not touched
    # state_reason is ignored unless the state changes.
    r = (await client.patch("/repos/o/r/issues/1", json={"state_reason": "not_planned"})).json()
    assert r["state"] == "open" and r["state_reason"] is None
    r = (await client.patch("/repos/o/r/issues/1", json={"state": "closed"})).json()
    assert (r["state"], r["state_reason"]) == ("closed", "completed") and r["closed_at"] and r["closed_by"]
    assert r["updated_at"] != created["updated_at"]
    r = (await client.patch("/repos/o/r/issues/1", json={"state": "open", "body": None})).json()
    assert (r["state"], r["state_reason"], r["closed_at"], r["body"]) == ("open", "reopened", None, None)
    r = await client.patch("/repos/o/r/issues/1", json={"state": "closed", "title": ""})
    assert r.status_code == 422 and sim.issue("o/r", 1)["state"] == "open"  # all-or-nothing


async def test_labels_are_created_on_use_and_unique(env: tuple[httpx.AsyncClient, GitHubSimulator]) -> None:
    client, sim = env
    await client.post("/repos/o/r/issues", json={"title": "t", "labels": ["Bug", {"name": "ui"}]})
    assert [lb["name"] for lb in sim.labels("o/r")] == ["Bug", "ui"]
    r = await client.post("/repos/o/r/labels", json={"name": "bug"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "already_exists"
    r = await client.post("/repos/o/r/issues/1/labels", json={"labels": ["bug", "new"]})  # "bug" is "Bug"
    assert [lb["name"] for lb in r.json()] == ["Bug", "ui", "new"]
    assert (await client.post("/repos/o/r/issues/1/labels", json={"labels": []})).status_code == 422


async def test_sub_issue_and_dependency_rules(env: tuple[httpx.AsyncClient, GitHubSimulator]) -> None:
    client, sim = env
    ids = [sim.seed_issue("o/r", f"i{n}")["id"] for n in range(4)]

    async def add_sub(parent: int, child: int, **extra: bool) -> int:
        r = await client.post(f"/repos/o/r/issues/{parent}/sub_issues", json={"sub_issue_id": child, **extra})
        return r.status_code

    assert await add_sub(1, ids[1]) == 201
    assert await add_sub(2, ids[2]) == 201
    assert await add_sub(3, ids[0]) == 422  # 1 -> 2 -> 3 -> 1 would be a cycle
    assert await add_sub(1, ids[0]) == 422  # itself
    assert await add_sub(4, ids[1]) == 422  # already has a parent
    assert await add_sub(4, ids[1], replace_parent=True) == 201
    assert sim.issue("o/r", 1)["sub_issues_summary"]["total"] == 0
    assert sim.issue("o/r", 2)["parent_issue_url"].endswith("/issues/4")
    assert await add_sub(1, 12345) == 422  # unknown id (an issue number is not an id)
    r = await client.post("/repos/o/r/issues/1/dependencies/blocked_by", json={"issue_id": ids[0]})
    assert r.status_code == 422
    await client.post("/repos/o/r/issues/1/dependencies/blocked_by", json={"issue_id": ids[1]})
    sim.edit_issue("o/r", 2, state="closed")
    summary = sim.issue("o/r", 1)["issue_dependencies_summary"]
    assert summary == {"blocked_by": 0, "blocking": 0, "total_blocked_by": 1, "total_blocking": 0}


async def test_errors_and_unknown_routes_are_github_json(
    env: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, sim = env
    r = await client.get("/repos/o/r/pulls")
    assert r.status_code == 404 and r.json()["message"] == "Not Found"
    r = await client.post("/repos/o/r/issues", content=b"{broken")
    assert r.status_code == 400 and r.json()["message"] == "Problems parsing JSON"
    r = await client.get("/repos/o/r/issues/abc")
    assert r.status_code == 404
    assert sim.counters.received["GET <unknown>"] == 2


async def test_repo_names_are_case_insensitive_and_helpers(
    env: tuple[httpx.AsyncClient, GitHubSimulator],
) -> None:
    client, sim = env
    await client.post("/repos/Octo/Demo/issues", json={"title": "t"})
    r = await client.get("/repos/octo/demo/issues/1")
    assert r.status_code == 200 and r.json()["html_url"] == "https://github.com/Octo/Demo/issues/1"
    assert len(sim.issues("OCTO/demo")) == 1 and sim.issues("nobody/none") == []
    with pytest.raises(NotFoundError):
        sim.issue("octo/demo", 2)
    counters = sim.counters
    assert counters.received == {
        "POST /repos/{owner}/{repo}/issues": 1,
        "GET /repos/{owner}/{repo}/issues/{issue_number}": 1,
    }
    assert counters.writes == 1 and counters.total == 2
    sim.reset_counters()
    assert counters.total == 0 and counters.writes == 0
