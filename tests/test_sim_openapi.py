"""Every REST endpoint of the GitHub simulator, validated against GitHub's OpenAPI subset.

Reads ``shared/github/rest-openapi-subset.json`` (skips where the folder is absent); requests
and responses go through openapi-core, so a field of the wrong type, a missing required field,
a bad enum value or an undeclared status fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ailab.clock import FakeClock
from ailab.sync.simulator import create_app
from ailab.sync.simulator.rest import ROUTES

GITHUB_REF = Path(__file__).resolve().parents[2] / "shared" / "github"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = GITHUB_REF / "rest-openapi-subset.json"
    if not path.is_file():
        pytest.skip(f"GitHub reference {path} is absent; OpenAPI validation needs it")
    data: dict[str, Any] = json.loads(path.read_text())
    _allow_null_in_nullable_enums(data)
    return data


def _allow_null_in_nullable_enums(node: Any) -> None:
    """Let ``nullable: true`` enums accept null, as GitHub means (``state_reason`` is null on open issues).

    openapi-schema-validator follows the OpenAPI 3.0.3 clarification that a nullable enum must
    list ``null`` itself; GitHub's description relies on the older reading, so we add it.
    """
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"].append(None)
        for value in node.values():
            _allow_null_in_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _allow_null_in_nullable_enums(value)


@pytest.fixture(scope="module")
def openapi(spec: dict[str, Any]) -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(spec)


class CheckedClient:
    """Sends through the in-process app and validates each request and response."""

    def __init__(self, client: httpx.AsyncClient, openapi: Any) -> None:
        self.client = client
        self.openapi = openapi
        self.seen: set[tuple[str, int]] = set()

    async def __call__(self, method: str, path: str, *, bad: bool = False, **kwargs: Any) -> httpx.Response:
        """``bad=True``: the request breaks the spec on purpose; only the response is checked."""
        from openapi_core.testing import MockRequest, MockResponse

        response = await self.client.request(method, path, **kwargs)
        url = httpx.URL(path)
        body = json.dumps(kwargs["json"]).encode() if "json" in kwargs else None
        request = MockRequest(
            "https://api.github.com",
            method,
            url.path,
            args=dict(httpx.QueryParams(kwargs.get("params") or {})),
            data=body,
        )
        if not bad:
            self.openapi.validate_request(request)
        self.openapi.validate_response(
            request,
            MockResponse(
                response.content,
                response.status_code,
                headers=dict(response.headers),
                content_type=response.headers.get("content-type", "application/json").split(";")[0],
            ),
        )
        self.seen.add((method.upper(), response.status_code))
        return response


async def test_routes_are_exactly_the_subset_operations(spec: dict[str, Any]) -> None:
    served = {(r.method.lower(), r.template) for r in ROUTES}
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops if m != "parameters"}
    assert served == documented


async def test_every_endpoint_answers_in_githubs_shapes(openapi: Any) -> None:
    app = create_app(clock=FakeClock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as raw:
        call = CheckedClient(raw, openapi)
        repo = "/repos/octo/demo"
        r = await call(
            "POST", f"{repo}/labels", json={"name": "bug", "color": "f29513", "description": "Broken"}
        )
        assert r.status_code == 201 and r.headers["location"].endswith("/repos/octo/demo/labels/bug")
        assert (await call("POST", f"{repo}/labels", json={"name": "Bug"})).status_code == 422
        created = []
        for n in range(5):
            r = await call(
                "POST", f"{repo}/issues", json={"title": f"Issue {n}", "body": "text", "labels": ["bug"]}
            )
            assert r.status_code == 201
            created.append(r.json())
        assert created[0]["number"] == 1 and created[0]["id"] != 1
        assert (await call("POST", f"{repo}/issues", json={"body": "no title"}, bad=True)).status_code == 422
        r = await call("GET", f"{repo}/issues", params={"per_page": 2, "state": "all"})
        assert r.status_code == 200 and len(r.json()) == 2 and "link" in r.headers
        r = await call("GET", f"{repo}/issues/1")
        assert r.status_code == 200
        assert (
            await call("GET", f"{repo}/issues/1", headers={"if-none-match": r.headers["etag"]})
        ).status_code == 304
        assert (await call("GET", f"{repo}/issues/999")).status_code == 404
        r = await call("PATCH", f"{repo}/issues/2", json={"state": "closed", "state_reason": "not_planned"})
        assert r.json()["state_reason"] == "not_planned"
        r = await call("PATCH", f"{repo}/issues/2", json={"state": "open", "title": "Back", "labels": []})
        assert r.json()["state_reason"] == "reopened" and r.json()["labels"] == []
        assert (
            await call("PATCH", f"{repo}/issues/2", json={"state": "paused"}, bad=True)
        ).status_code == 422
        assert (await call("GET", f"{repo}/labels")).status_code == 200
        r = await call("POST", f"{repo}/issues/3/labels", json={"labels": ["ui", {"name": "bug"}]})
        assert [lb["name"] for lb in r.json()] == ["bug", "ui"]
        r = await call("POST", f"{repo}/issues/3/labels", json=["p1"])
        assert r.status_code == 200
        blocker = created[3]["id"]
        r = await call("POST", f"{repo}/issues/1/dependencies/blocked_by", json={"issue_id": blocker})
        assert r.status_code == 201 and r.json()["id"] == blocker
        assert (
            await call("POST", f"{repo}/issues/1/dependencies/blocked_by", json={"issue_id": 7})
        ).status_code == 422
        r = await call("GET", f"{repo}/issues/1/dependencies/blocked_by")
        assert [i["id"] for i in r.json()] == [blocker]
        r = await call("GET", f"{repo}/issues/4/dependencies/blocking")
        assert [i["number"] for i in r.json()] == [1]
        assert (await call("DELETE", f"{repo}/issues/1/dependencies/blocked_by/{blocker}")).status_code == 200
        assert (await call("DELETE", f"{repo}/issues/1/dependencies/blocked_by/{blocker}")).status_code == 404
        for child in created[1:4]:
            r = await call("POST", f"{repo}/issues/5/sub_issues", json={"sub_issue_id": child["id"]})
            assert r.status_code == 201
        assert r.json()["sub_issues_summary"]["total"] == 3
        r = await call(
            "PATCH", f"{repo}/issues/5/sub_issues/priority",
            json={"sub_issue_id": created[3]["id"], "before_id": created[1]["id"]},
        )  # fmt: skip
        assert r.status_code == 200
        r = await call("GET", f"{repo}/issues/5/sub_issues")
        assert [i["number"] for i in r.json()] == [4, 2, 3]
        assert r.json()[0]["parent_issue_url"].endswith("/repos/octo/demo/issues/5")
        r = await call(
            "PATCH", f"{repo}/issues/5/sub_issues/priority", json={"sub_issue_id": created[0]["id"]}
        )
        assert r.status_code == 422
        r = await call("GET", "/rate_limit")
        assert r.json()["resources"]["core"]["used"] == r.json()["rate"]["used"]
        app.state.sim.create_repo("octo/closed", has_issues=False)
        assert (await call("POST", "/repos/octo/closed/issues", json={"title": "x"})).status_code == 410
    statuses = {status for _, status in call.seen}
    assert {200, 201, 304, 404, 410, 422} <= statuses
