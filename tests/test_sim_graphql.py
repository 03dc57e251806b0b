"""GraphQL endpoint of the GitHub simulator: paging, since, mutations, costs and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ailab.clock import FakeClock
from ailab.sync.simulator import GitHubSimulator, SimulatorConfig, create_app

pytestmark = pytest.mark.anyio
START = 1_700_000_000.0

PAGE_QUERY = """
query Page($owner: String!, $name: String!, $after: String, $since: DateTime, $states: [IssueState!]) {
  repository(owner: $owner, name: $name) {
    issues(first: 100, after: $after, orderBy: {field: UPDATED_AT, direction: ASC},
           filterBy: {since: $since, states: $states}) {
      totalCount
      pageInfo { endCursor hasNextPage }
      nodes { id databaseId number title state stateReason updatedAt labels(first: 10) { nodes { name } } }
    }
  }
  rateLimit { cost remaining used limit resetAt nodeCount }
}
"""


class Gql:
    def __init__(self, client: httpx.AsyncClient, sim: GitHubSimulator, clock: FakeClock) -> None:
        self.client, self.sim, self.clock = client, sim, clock

    async def raw(self, query: str, **variables: Any) -> httpx.Response:
        return await self.client.post("/graphql", json={"query": query, "variables": variables})

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        r = await self.raw(query, **variables)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def repo_id(self, owner: str = "o", name: str = "r") -> str:
        body = await self(
            "query($o: String!, $n: String!) { repository(owner: $o, name: $n) { id } }", o=owner, n=name
        )
        repo_id: str = body["data"]["repository"]["id"]
        return repo_id


async def _gql(config: SimulatorConfig | None = None) -> AsyncIterator[Gql]:
    clock = FakeClock(START)
    app = create_app(config, clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        yield Gql(client, app.state.sim, clock)


@pytest.fixture
async def gql() -> AsyncIterator[Gql]:
    async for g in _gql():
        yield g


async def test_pages_of_100_cover_every_issue(gql: Gql) -> None:
    for n in range(250):
        gql.sim.seed_issue("o/r", f"issue {n}", labels=["bug"] if n % 2 else [])
    numbers: list[int] = []
    after = None
    pages = 0
    while True:
        body = await gql(PAGE_QUERY, owner="o", name="r", after=after)
        issues = body["data"]["repository"]["issues"]
        assert issues["totalCount"] == 250 and len(issues["nodes"]) <= 100
        numbers += [node["number"] for node in issues["nodes"]]
        pages += 1
        assert body["data"]["rateLimit"]["cost"] == 1
        if not issues["pageInfo"]["hasNextPage"]:
            break
        after = issues["pageInfo"]["endCursor"]
    assert pages == 3 and numbers == list(range(1, 251))
    assert gql.sim.counters.graphql_operation_names == {"Page": 3}
    rate = body["data"]["rateLimit"]
    assert rate["used"] == 3 and rate["remaining"] == 4997 and rate["nodeCount"] == 100 + 100 * 10
    assert [node["labels"]["nodes"] for node in issues["nodes"][:2]] == [[], [{"name": "bug"}]]  # #201, #202


async def test_since_and_states_filter(gql: Gql) -> None:
    for n in range(5):
        gql.sim.seed_issue("o/r", f"old {n}")
    gql.clock.advance(3600)
    since = "2023-11-14T23:13:20Z"  # START + 1 h
    gql.sim.edit_issue("o/r", 2, title="edited later")
    gql.sim.edit_issue("o/r", 4, state="closed", state_reason="not_planned")
    gql.sim.seed_issue("o/r", "new")
    body = await gql(PAGE_QUERY, owner="o", name="r", since=since)
    nodes = body["data"]["repository"]["issues"]["nodes"]
    assert [(n["number"], n["state"], n["stateReason"]) for n in nodes] == [
        (2, "OPEN", None),
        (4, "CLOSED", "NOT_PLANNED"),
        (6, "OPEN", None),
    ]
    assert all(n["updatedAt"] == since for n in nodes)
    body = await gql(PAGE_QUERY, owner="o", name="r", since=since, states=["OPEN"])
    assert [n["number"] for n in body["data"]["repository"]["issues"]["nodes"]] == [2, 6]


async def test_keyset_cursor_does_not_skip_issues_updated_while_paging(gql: Gql) -> None:
    for n in range(150):
        gql.sim.seed_issue("o/r", f"issue {n}")
    body = await gql(PAGE_QUERY, owner="o", name="r")
    cursor = body["data"]["repository"]["issues"]["pageInfo"]["endCursor"]
    gql.clock.advance(5)
    gql.sim.edit_issue("o/r", 3, title="moved to the end")  # already read: reappears at the end
    body = await gql(PAGE_QUERY, owner="o", name="r", after=cursor)
    assert [n["number"] for n in body["data"]["repository"]["issues"]["nodes"]] == [*range(101, 151), 3]


async def test_aliased_mutations_run_in_order_and_fail_alone(gql: Gql) -> None:
    repo_id = await gql.repo_id()
    mutation = """
    mutation($repo: ID!) {
      a: createIssue(input: {repositoryId: $repo, title: "A", body: "first"}) { issue { number title } }
      b: closeIssue(input: {issueId: "bogus", stateReason: NOT_PLANNED}) { issue { number } }
      c: createIssue(input: {repositoryId: $repo, title: "C"}) { issue { number state } }
    }"""
    body = await gql(mutation, repo=repo_id)
    assert body["data"] == {
        "a": {"issue": {"number": 1, "title": "A"}},
        "b": None,
        "c": {"issue": {"number": 2, "state": "OPEN"}},
    }
    [error] = body["errors"]
    assert error["path"] == ["b"] and error["type"] == "NOT_FOUND" and "bogus" in error["message"]
    counters = gql.sim.counters
    assert (
        counters.graphql_fields["mutation.createIssue"] == 2
        and counters.graphql_fields["mutation.closeIssue"] == 1
    )
    assert counters.writes == 2 and counters.content_created == 2
    assert [i["title"] for i in gql.sim.issues("o/r")] == ["A", "C"]


async def test_every_mutation_changes_the_remote(gql: Gql) -> None:
    repo_id = await gql.repo_id()
    body = await gql(
        """mutation($repo: ID!) {
          one: createIssue(input: {repositoryId: $repo, title: "One"}) { issue { id } }
          two: createIssue(input: {repositoryId: $repo, title: "Two"}) { issue { id } }
          label: createLabel(input: {repositoryId: $repo, name: "bug", color: "f29513"}) { label { id name } }
        }""",
        repo=repo_id,
    )
    one, two = body["data"]["one"]["issue"]["id"], body["data"]["two"]["issue"]["id"]
    label = body["data"]["label"]["label"]["id"]
    body = await gql(
        """mutation($one: ID!, $two: ID!, $label: ID!) {
          u: updateIssue(input: {id: $one, title: "One!", body: "b", labelIds: [$label]}) { issue { title body } }
          l: addLabelsToLabelable(input: {labelableId: $two, labelIds: [$label]}) {
            labelable { ... on Issue { number } labels(first: 5) { nodes { name } } } }
          d: addBlockedBy(input: {issueId: $one, blockingIssueId: $two}) { issue { number } blockingIssue { number } }
          s: addSubIssue(input: {issueId: $one, subIssueId: $two}) { issue { subIssuesSummary { total } } }
          c: closeIssue(input: {issueId: $two, stateReason: NOT_PLANNED}) { issue { state stateReason closed } }
        }""",
        one=one,
        two=two,
        label=label,
    )
    assert "errors" not in body, body
    assert body["data"]["u"]["issue"] == {"title": "One!", "body": "b"}
    assert body["data"]["l"]["labelable"] == {"number": 2, "labels": {"nodes": [{"name": "bug"}]}}
    assert body["data"]["d"] == {"issue": {"number": 1}, "blockingIssue": {"number": 2}}
    assert body["data"]["c"]["issue"] == {"state": "CLOSED", "stateReason": "NOT_PLANNED", "closed": True}
    body = await gql(
        """query($one: ID!, $two: ID!) {
          nodes(ids: [$one, $two]) { id ... on Issue { number blockedBy(first: 5) { nodes { number } }
            blocking(first: 5) { totalCount } parent { number } issueDependenciesSummary { blockedBy totalBlockedBy } } }
        }""",
        one=one,
        two=two,
    )
    first, second = body["data"]["nodes"]
    assert first["blockedBy"]["nodes"] == [{"number": 2}] and second["parent"] == {"number": 1}
    assert first["issueDependenciesSummary"] == {"blockedBy": 0, "totalBlockedBy": 1}  # the blocker is closed
    assert second["blocking"]["totalCount"] == 1
    body = await gql(
        """mutation($one: ID!, $two: ID!, $label: ID!) {
          r: reopenIssue(input: {issueId: $two}) { issue { state stateReason } }
          x: removeLabelsFromLabelable(input: {labelableId: $two, labelIds: [$label]}) { clientMutationId }
          y: removeBlockedBy(input: {issueId: $one, blockingIssueId: $two}) { issue { number } }
          z: removeSubIssue(input: {issueId: $one, subIssueId: $two}) { subIssue { parent { number } } }
        }""",
        one=one,
        two=two,
        label=label,
    )
    assert "errors" not in body, body
    assert body["data"]["r"]["issue"] == {"state": "OPEN", "stateReason": "REOPENED"}
    rest = {i["number"]: i for i in gql.sim.issues("o/r")}
    assert rest[1]["title"] == "One!" and [lb["name"] for lb in rest[1]["labels"]] == ["bug"]
    assert (
        rest[2]["labels"] == []
        and rest[2]["state_reason"] == "reopened"
        and rest[2]["parent_issue_url"] is None
    )
    assert rest[1]["issue_dependencies_summary"]["total_blocked_by"] == 0


async def test_query_cost_and_node_count(gql: Gql) -> None:
    query = """query { repository(owner: "o", name: "r") { issues(first: 100) { nodes {
        labels(first: 50) { nodes { name } } blockedBy(first: 50) { nodes { number } } } } }
        rateLimit { cost nodeCount used } }"""
    body = await gql(query)
    assert body["data"]["rateLimit"] == {"cost": 2, "nodeCount": 100 + 5000 + 5000, "used": 2}


@pytest.mark.parametrize(
    ("connection", "kind"),
    [("issues(first: 101)", "EXCESSIVE_PAGINATION"), ("issues", "MISSING_PAGINATION_BOUNDARIES")],
)
async def test_pagination_limits_are_enforced(gql: Gql, connection: str, kind: str) -> None:
    body = await gql(f'{{ repository(owner: "o", name: "r") {{ {connection} {{ totalCount }} }} }}')
    assert "data" not in body and body["errors"][0]["type"] == kind
    assert gql.sim.rate_limit("graphql")["used"] == 0


async def test_node_limit(gql: Gql) -> None:
    query = """{ repository(owner: "o", name: "r") { issues(first: 100) { nodes {
        blockedBy(first: 100) { nodes { labels(first: 100) { totalCount } } } } } } }"""
    body = await gql(query)
    assert body["errors"][0]["type"] == "MAX_NODE_LIMIT_EXCEEDED"


async def test_invalid_documents_answer_errors_without_charge(gql: Gql) -> None:
    body = await gql('{ repository(owner: "o", name: "r") { nope } }')
    assert "Cannot query field 'nope'" in body["errors"][0]["message"]
    r = await gql.client.post("/graphql", content=b"{not json")
    assert r.status_code == 400 and r.json()["message"] == "Problems parsing JSON"
    assert gql.sim.rate_limit("graphql")["used"] == 0


@pytest.mark.parametrize("kind", ["RATE_LIMITED", "RATE_LIMIT"])
async def test_primary_limit_answers_200_with_rate_limited(kind: str) -> None:
    async for gql in _gql(SimulatorConfig(graphql_points_per_hour=2, graphql_rate_limit_type=kind)):
        for _ in range(2):
            assert "errors" not in await gql("{ rateLimit { remaining } }")
        r = await gql.raw("{ rateLimit { remaining } }")
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "0"
        [error] = r.json()["errors"]
        assert error["type"] == kind and "rate limit" in error["message"]
        assert ("code" in error) == (kind == "RATE_LIMIT")
        assert gql.sim.counters.rate_limited["graphql_primary"] == 1
        gql.clock.advance(3600)
        assert "errors" not in await gql("{ rateLimit { remaining } }")


async def test_secondary_limits_for_mutations_answer_403_with_retry_after() -> None:
    config = SimulatorConfig(graphql_points_per_minute=6, content_per_minute=2)
    async for gql in _gql(config):
        repo_id = await gql.repo_id()  # 1 point
        create = (
            'mutation($r: ID!) { createIssue(input: {repositoryId: $r, title: "x"}) { issue { number } } }'
        )
        assert "errors" not in await gql(create, r=repo_id)  # 6 points
        r = await gql.raw(create, r=repo_id)
        assert r.status_code == 403 and r.headers["retry-after"] == "60"
        assert "secondary rate limit" in r.json()["message"]
        gql.clock.advance(60)
        three = (
            "mutation($r: ID!) { "
            + " ".join(
                f'm{n}: createIssue(input: {{repositoryId: $r, title: "x"}}) {{ clientMutationId }}'
                for n in range(3)
            )
            + " }"
        )
        r = await gql.raw(three, r=repo_id)  # 3 creations > 2 per minute: refused whole
        assert r.status_code == 403 and gql.sim.counters.rate_limited["secondary_content_minute"] == 1
        assert len(gql.sim.issues("o/r")) == 1
