"""The simulator's remote can change under a client as GitHub documents: 410, 301, NOT_FOUND."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from ailab.clock import FakeClock
from ailab.settings import Secret
from ailab.sync.simulator import SimulatorConfig, create_app
from ailab.testing.sync_harness import TEST_TOKEN

REPO = "octo/vanish"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


class Remote:
    """The in-process simulator app, called over ASGI like a client would."""

    def __init__(self) -> None:
        self.app = create_app(SimulatorConfig(token=Secret(TEST_TOKEN)), FakeClock())
        sim = self.app.state.sim
        sim.create_repo(REPO)
        sim.seed_issue(REPO, "one", "<!-- ailab:item=A -->", ["bug"])
        sim.seed_issue(REPO, "two", None, ["bug"])

    def __call__(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://sim", headers=AUTH if auth else {}
            ) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())


@pytest.fixture
def client() -> Remote:
    return Remote()


def _node(client: Remote, node_id: str) -> dict[str, Any]:
    query = "query($id: ID!) { node(id: $id) { ... on Issue { number } } }"
    answer = client("POST", "/graphql", json={"query": query, "variables": {"id": node_id}})
    result: dict[str, Any] = answer.json()
    return result


def test_a_deleted_issue_answers_410_and_its_node_id_no_longer_resolves(client: Remote) -> None:
    node_id = client("GET", f"/repos/{REPO}/issues/1").json()["node_id"]
    assert client("DELETE", f"/_simulator/repos/{REPO}/issues/1").status_code == 204
    assert client("GET", f"/repos/{REPO}/issues/1").status_code == 410
    assert client("PATCH", f"/repos/{REPO}/issues/1", json={"title": "x"}).status_code == 410
    assert client("GET", f"/repos/{REPO}/issues/9").status_code == 404  # never existed
    listed = client("GET", f"/repos/{REPO}/issues", params={"state": "all"}).json()
    assert [i["number"] for i in listed] == [2]
    answer = _node(client, node_id)
    assert answer["data"]["node"] is None
    assert answer["errors"][0]["type"] == "NOT_FOUND"
    assert f"Could not resolve to a node with the global id of '{node_id}'" in answer["errors"][0]["message"]


def test_a_transferred_issue_answers_301_to_its_new_place(client: Remote) -> None:
    old_node = client("GET", f"/repos/{REPO}/issues/1").json()["node_id"]
    moved = client("POST", f"/_simulator/repos/{REPO}/issues/1/transfer", json={"to": "octo/other"})
    assert moved.status_code == 200 and moved.json()["number"] == 1
    answer = client("GET", f"/repos/{REPO}/issues/1")
    assert answer.status_code == 301
    assert answer.headers["location"] == "http://sim/repos/octo/other/issues/1"
    assert answer.json()["url"] == answer.headers["location"]
    there = client("GET", "/repos/octo/other/issues/1").json()
    assert there["title"] == "one" and [label["name"] for label in there["labels"]] == ["bug"]
    assert there["node_id"] != old_node and _node(client, old_node)["data"]["node"] is None
    # Deleted after the transfer: the old number now leads to 410.
    client("DELETE", "/_simulator/repos/octo/other/issues/1")
    assert client("GET", f"/repos/{REPO}/issues/1").status_code == 410


def test_a_deleted_label_leaves_its_issues_without_touching_them(client: Remote) -> None:
    before = client("GET", f"/repos/{REPO}/issues/2").json()
    label_node = client("GET", f"/repos/{REPO}/labels").json()[0]["node_id"]
    assert client("DELETE", f"/_simulator/repos/{REPO}/labels/bug").status_code == 204
    after = client("GET", f"/repos/{REPO}/issues/2").json()
    assert after["labels"] == [] and after["updated_at"] == before["updated_at"]
    assert client("GET", f"/repos/{REPO}/labels").json() == []
    query = "mutation($i: UpdateIssueInput!) { updateIssue(input: $i) { issue { id } } }"
    variables = {"i": {"id": after["node_id"], "labelIds": [label_node]}}
    answer = client("POST", "/graphql", json={"query": query, "variables": variables}).json()
    assert answer["errors"][0]["type"] == "NOT_FOUND" and label_node in answer["errors"][0]["message"]
    assert client("DELETE", f"/_simulator/repos/{REPO}/labels/bug").status_code == 404


def test_reset_forgets_everything_and_never_reuses_an_id(client: Remote) -> None:
    old = client("GET", f"/repos/{REPO}/issues/2").json()
    assert client("POST", "/_simulator/reset").status_code == 204
    assert client("GET", f"/repos/{REPO}/issues", params={"state": "all"}).json() == []
    client("POST", f"/repos/{REPO}/issues", json={"title": "again", "labels": ["bug"]})
    new = client("GET", f"/repos/{REPO}/issues/1").json()
    assert new["id"] != old["id"] and new["node_id"] != old["node_id"]
    assert _node(client, old["node_id"])["data"]["node"] is None


def test_admin_endpoints_need_the_token(client: Remote) -> None:
    assert client("POST", "/_simulator/reset", auth=False).status_code == 401
