"""REST endpoints of the simulator, following the operations in GitHub's OpenAPI description.

Handlers are plain functions from a ``Call`` to a ``Result``; ``rest_pipeline.handle_rest`` runs
auth, limits and faults around them.

Choices where GitHub's docs are silent (kept simple and documented here):
* ``POST .../dependencies/blocked_by`` and ``DELETE .../blocked_by/{issue_id}`` answer with the
  blocking issue; ``POST .../sub_issues`` and ``PATCH .../sub_issues/priority`` with the parent.
* Labels named in create/update/add-labels that do not exist are created (colour ``ededed``).
* ``since`` is inclusive (``updated_at >= since``); ties in a sort are broken by number.
* A deleted issue answers 410 and a transferred one 301 (``location`` and ``url`` name its new
  API URL) on every ``.../issues/{issue_number}`` route, as "Get an issue" documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import orjson

from ailab.sync.simulator.model import Issue, Repo, SimError, parse_iso
from ailab.sync.simulator.simulator import DOCS, Headers

if TYPE_CHECKING:
    from ailab.sync.simulator.simulator import GitHubSimulator

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
MAX_VIEWS_PER_REPO = 64


@dataclass(slots=True)
class Call:
    """One REST request as a handler sees it: path parameters, query, parsed body and the API base URL."""

    sim: GitHubSimulator
    params: dict[str, Any]
    query: dict[str, str]
    query_pairs: list[tuple[str, str]]
    body: Any
    base: str
    path: str


@dataclass(slots=True)
class Result:
    """A handler's answer: status, body bytes and extra headers."""

    status: int
    body: bytes
    headers: Headers = field(default_factory=list)


Handler = Callable[[Call], Result]


@dataclass(frozen=True, slots=True)
class RestRoute:
    """One REST endpoint: method, path template, handler, and how it counts against the limits."""

    method: str
    template: str
    handler: Handler
    content: bool = False
    counts_primary: bool = True

    @property
    def key(self) -> str:
        """``METHOD /template``, the name counters and fault rules use."""
        return f"{self.method} {self.template}"

    @property
    def is_write(self) -> bool:
        """True for methods that change state (they pay the secondary write limits)."""
        return self.method not in ("GET", "HEAD", "OPTIONS")

    @property
    def starlette_path(self) -> str:
        """The template with typed parameters, for Starlette's router."""
        path = self.template
        for name in ("issue_number", "issue_id", "hook_id", "delivery_id"):
            path = path.replace("{" + name + "}", "{" + name + ":int}")
        return path


# -- helpers ---------------------------------------------------------------------------------------
def error_result(err: SimError, base: str = "") -> Result:
    """The answer GitHub gives for a simulator error (301, 404, 410, 400 or 422 with its JSON shape)."""
    if err.kind == "moved":  # GitHub's 301 for a transferred issue: where it lives now
        url = f"{base}{err.location or ''}"
        moved = {"message": "Moved Permanently", "url": url, "documentation_url": DOCS}
        return Result(301, orjson.dumps(moved), [(b"location", url.encode())])
    if err.kind == "not_found":
        body: dict[str, Any] = {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
        return Result(404, orjson.dumps(body))
    if err.kind == "gone":
        return Result(410, orjson.dumps({"message": err.message, "documentation_url": DOCS, "status": "410"}))
    if err.kind == "bad_request":
        return Result(400, orjson.dumps({"message": err.message, "documentation_url": DOCS, "status": "400"}))
    if err.kind == "invalid_simple":
        body = {"message": "Validation Failed", "errors": [err.message], "documentation_url": DOCS}
        return Result(422, orjson.dumps(body))
    detail: dict[str, Any] = {"resource": err.resource, "code": err.code, "message": err.message}
    if err.field is not None:
        detail["field"] = err.field
    body = {"message": "Validation Failed", "errors": [detail], "documentation_url": DOCS, "status": "422"}
    return Result(422, orjson.dumps(body))


def _repo(call: Call) -> Repo:
    return call.sim.world.repo(call.params["owner"], call.params["repo"])


def _issue(call: Call) -> Issue:
    world = call.sim.world
    return world.issue(world.issues_enabled(_repo(call)), call.params["issue_number"])


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _choice(call: Call, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = call.query.get(name, default)
    if value not in allowed:
        raise SimError("invalid", f"{name}={value!r} is not one of {', '.join(allowed)}.", field=name)
    return value


def _body_dict(call: Call) -> dict[str, Any]:
    if call.body is None:
        return {}
    if not isinstance(call.body, dict):
        raise SimError("bad_request", "Problems parsing JSON: the body must be a JSON object.")
    return call.body


def paginate(call: Call, items: list[Any]) -> tuple[list[Any], Headers]:
    """One page of ``items`` and the ``link`` header GitHub documents (omitted for one page)."""
    per_page_raw = call.query.get("per_page")
    per_page = min(MAX_PER_PAGE, max(1, _int(per_page_raw, DEFAULT_PER_PAGE)))
    page = max(1, _int(call.query.get("page"), 1))
    total = len(items)
    last = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    if last == 1 and page == 1:
        return chunk, []
    kept = [(k, v) for k, v in call.query_pairs if k not in ("page", "per_page")]
    if per_page_raw is not None:
        kept.append(("per_page", str(per_page)))

    def url(n: int) -> str:
        return f"<{call.base}{call.path}?{urlencode([*kept, ('page', str(n))])}>"

    links = []
    if page > 1:
        links.append(f'{url(min(page - 1, last))}; rel="prev"')
    if page < last:
        links.append(f'{url(page + 1)}; rel="next"')
        links.append(f'{url(last)}; rel="last"')
    if page > 1:
        links.append(f'{url(1)}; rel="first"')
    return chunk, [(b"link", ", ".join(links).encode())]


def _issue_page(call: Call, issues: list[Issue]) -> Result:
    page, headers = paginate(call, issues)
    return Result(200, call.sim.shapes.issue_list_bytes(page), headers)


def _one_issue(call: Call, issue: Issue, status: int = 200, headers: Headers | None = None) -> Result:
    return Result(status, call.sim.shapes.issue_bytes(issue), headers or [])


# -- handlers --------------------------------------------------------------------------------------
def get_rate_limit(call: Call) -> Result:
    """``GET /rate_limit``: the budgets; free, as on GitHub."""
    sim = call.sim
    now = sim.clock.time()
    core = sim.limits.core.snapshot(now)
    graphql = sim.limits.graphql.snapshot(now)
    search = {"limit": 30, "used": 0, "remaining": 30, "reset": int(now + 60)}
    body = {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}
    return Result(200, orjson.dumps(body))


def list_issues(call: Call) -> Result:
    """``GET /repos/{owner}/{repo}/issues``: filtered, sorted, paginated with Link headers and an ETag."""
    repo = call.sim.world.issues_enabled(_repo(call))
    state = _choice(call, "state", "open", ("open", "closed", "all"))
    sort = _choice(call, "sort", "created", ("created", "updated", "comments"))
    direction = _choice(call, "direction", "desc", ("asc", "desc"))
    since = parse_iso(call.query["since"]) if call.query.get("since") else None
    labels = tuple(sorted({n.strip().lower() for n in call.query.get("labels", "").split(",") if n.strip()}))
    key = ("rest", state, sort, direction, since, labels)
    items: list[Issue] | None = repo.views.get(key)
    if items is None:
        items = [
            i
            for i in repo.issues.values()
            if (state == "all" or i.state == state)
            and (since is None or i.updated_ts >= since)
            and (not labels or all(any(lb.name.lower() == n for lb in i.labels.values()) for n in labels))
        ]
        if sort == "updated":
            items.sort(key=lambda i: (i.updated_ts, i.number))
        if direction == "desc":
            items.reverse()
        if len(repo.views) >= MAX_VIEWS_PER_REPO:
            repo.views.clear()
        repo.views[key] = items
    return _issue_page(call, items)


def create_issue(call: Call) -> Result:
    """``POST /repos/{owner}/{repo}/issues``: create an issue (labels created on the fly, as GitHub does)."""
    world = call.sim.world
    repo = world.issues_enabled(_repo(call))
    body = _body_dict(call)
    if "title" not in body or body["title"] is None:
        raise SimError("invalid", "Title is missing.", field="title", code="missing_field")
    raw_labels = body.get("labels") or []
    if not isinstance(raw_labels, list):
        raise SimError("invalid", "labels must be an array.", field="labels")
    parent = None
    if body.get("parent_issue_id") is not None:
        parent = world.issue_by_id(body["parent_issue_id"], field="parent_issue_id")
    issue = world.create_issue(
        repo, body["title"], body.get("body"), world.labels_named(repo, raw_labels), parent
    )
    location = f"{call.base}/repos/{repo.full_name}/issues/{issue.number}"
    return _one_issue(call, issue, 201, [(b"location", location.encode())])


def get_issue(call: Call) -> Result:
    """``GET /repos/{owner}/{repo}/issues/{issue_number}``."""
    return _one_issue(call, _issue(call))


STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")


def update_issue(call: Call) -> Result:
    """``PATCH /repos/{owner}/{repo}/issues/{issue_number}``: validates every field first, then applies."""
    world = call.sim.world
    issue = _issue(call)
    body = _body_dict(call)
    # Validate everything first, so a bad field changes nothing.
    state = body.get("state")
    if state is not None and state not in ("open", "closed"):
        raise SimError("invalid", f"state={state!r} is not open or closed.", field="state")
    reason = body.get("state_reason")
    if reason is not None and reason not in STATE_REASONS:
        raise SimError(
            "invalid", f"state_reason={reason!r} is not one of {STATE_REASONS}.", field="state_reason"
        )
    if state == "closed" and reason == "reopened":
        raise SimError("invalid", "state_reason 'reopened' cannot close an issue.", field="state_reason")
    duplicate_of = None
    if state == "closed" and reason == "duplicate" and body.get("duplicate_issue_id") is not None:
        duplicate_of = world.issue_by_id(body["duplicate_issue_id"], field="duplicate_issue_id")
    labels = None
    if "labels" in body and body["labels"] is not None:
        if not isinstance(body["labels"], list):
            raise SimError("invalid", "labels must be an array.", field="labels")
        labels = world.labels_named(issue.repo, body["labels"])
    title = body.get("title")
    if title is not None and not (
        isinstance(title, str | int) and not isinstance(title, bool) and str(title).strip()
    ):
        raise SimError("invalid", "title must be a non-empty string.", field="title")
    if "body" in body and body["body"] is not None and not isinstance(body["body"], str):
        raise SimError("invalid", "body must be a string or null.", field="body")
    world.edit(issue, title=title, body=body.get("body", ...), labels=labels)
    if state is not None:
        world.set_state(issue, state, reason, duplicate_of)
    return _one_issue(call, issue)


def list_labels(call: Call) -> Result:
    """``GET /repos/{owner}/{repo}/labels``, paginated."""
    labels = list(_repo(call).labels.values())
    page, headers = paginate(call, labels)
    return Result(200, call.sim.shapes.label_list_bytes(page), headers)


def create_label(call: Call) -> Result:
    """``POST /repos/{owner}/{repo}/labels``."""
    repo = _repo(call)
    body = _body_dict(call)
    if not isinstance(body.get("name"), str):
        raise SimError("invalid", "name is missing.", resource="Label", field="name", code="missing_field")
    label = call.sim.world.create_label(repo, body["name"], body.get("color"), body.get("description"))
    location = f"{call.base}/repos/{repo.full_name}/labels/{quote(label.name, safe='')}"
    return Result(201, orjson.dumps(call.sim.shapes.label(label)), [(b"location", location.encode())])


def add_labels(call: Call) -> Result:
    """``POST .../issues/{issue_number}/labels``: add labels (``{'labels': [...]}`` or a bare array)."""
    issue = _issue(call)
    raw = call.body.get("labels") if isinstance(call.body, dict) else call.body
    if not isinstance(raw, list) or not raw:
        raise SimError("invalid", "Give labels as {'labels': [...]} or a non-empty array.", field="labels")
    world = call.sim.world
    world.add_labels(issue, world.labels_named(issue.repo, raw))
    return Result(200, call.sim.shapes.label_list_bytes(list(issue.labels.values())))


def list_blocked_by(call: Call) -> Result:
    """``GET .../issues/{issue_number}/dependencies/blocked_by``."""
    return _issue_page(call, list(_issue(call).blocked_by.values()))


def list_blocking(call: Call) -> Result:
    """``GET .../issues/{issue_number}/dependencies/blocking``."""
    return _issue_page(call, list(_issue(call).blocking.values()))


def add_blocked_by(call: Call) -> Result:
    """``POST .../issues/{issue_number}/dependencies/blocked_by``: add a blocked-by edge by issue id."""
    issue = _issue(call)
    body = _body_dict(call)
    if body.get("issue_id") is None:
        raise SimError("invalid", "issue_id is missing.", field="issue_id", code="missing_field")
    blocker = call.sim.world.issue_by_id(body["issue_id"])
    call.sim.world.add_blocked_by(issue, blocker)
    location = f"{call.base}/repos/{issue.repo.full_name}/issues/{issue.number}/dependencies/blocked_by"
    return _one_issue(call, blocker, 201, [(b"location", location.encode())])


def remove_blocked_by(call: Call) -> Result:
    """``DELETE .../issues/{issue_number}/dependencies/blocked_by/{issue_id}``."""
    issue = _issue(call)
    return _one_issue(call, call.sim.world.remove_blocked_by(issue, call.params["issue_id"]))


def list_sub_issues(call: Call) -> Result:
    """``GET .../issues/{issue_number}/sub_issues``."""
    return _issue_page(call, list(_issue(call).sub_issues))


def add_sub_issue(call: Call) -> Result:
    """``POST .../issues/{issue_number}/sub_issues``."""
    parent = _issue(call)
    body = _body_dict(call)
    if body.get("sub_issue_id") is None:
        raise SimError("invalid", "sub_issue_id is missing.", field="sub_issue_id", code="missing_field")
    child = call.sim.world.issue_by_id(body["sub_issue_id"], field="sub_issue_id")
    call.sim.world.add_sub_issue(parent, child, bool(body.get("replace_parent")))
    location = f"{call.base}/repos/{parent.repo.full_name}/issues/{parent.number}/sub_issues"
    return _one_issue(call, parent, 201, [(b"location", location.encode())])


def reprioritize_sub_issue(call: Call) -> Result:
    """``PATCH .../issues/{issue_number}/sub_issues/priority``: move a sub-issue before or after another."""
    parent = _issue(call)
    body = _body_dict(call)
    call.sim.world.reprioritize(parent, body.get("sub_issue_id"), body.get("after_id"), body.get("before_id"))
    return _one_issue(call, parent)


ISSUE = "/repos/{owner}/{repo}/issues/{issue_number}"
ROUTES: tuple[RestRoute, ...] = (
    RestRoute("GET", "/rate_limit", get_rate_limit, counts_primary=False),
    RestRoute("GET", "/repos/{owner}/{repo}/issues", list_issues),
    RestRoute("POST", "/repos/{owner}/{repo}/issues", create_issue, content=True),
    RestRoute("GET", ISSUE, get_issue),
    RestRoute("PATCH", ISSUE, update_issue),
    RestRoute("GET", "/repos/{owner}/{repo}/labels", list_labels),
    RestRoute("POST", "/repos/{owner}/{repo}/labels", create_label, content=True),
    RestRoute("POST", ISSUE + "/labels", add_labels),
    RestRoute("GET", ISSUE + "/dependencies/blocked_by", list_blocked_by),
    RestRoute("POST", ISSUE + "/dependencies/blocked_by", add_blocked_by, content=True),
    RestRoute("DELETE", ISSUE + "/dependencies/blocked_by/{issue_id}", remove_blocked_by),
    RestRoute("GET", ISSUE + "/dependencies/blocking", list_blocking),
    RestRoute("GET", ISSUE + "/sub_issues", list_sub_issues),
    RestRoute("POST", ISSUE + "/sub_issues", add_sub_issue, content=True),
    RestRoute("PATCH", ISSUE + "/sub_issues/priority", reprioritize_sub_issue),
)
