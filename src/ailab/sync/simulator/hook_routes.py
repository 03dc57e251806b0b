"""The simulator's webhook endpoints: GitHub's hook-delivery operations and the "another user" edit.

* ``GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries``: the hook's deliveries, newest first.
* ``POST /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts``: redeliver one
  (202, as GitHub documents); the new attempt keeps the GUID.
* ``PATCH /_simulator/as/{login}/repos/{owner}/{repo}/issues/{issue_number}``: the body of GitHub's
  "update an issue", applied as the user ``login`` (the delivery's ``sender``), outside the
  bot's rate limits. That is how tests and measurements edit "on GitHub".
* ``GET /_simulator/repos/{owner}/{repo}/issues/{issue_number}`` and ``GET /_simulator/webhook/deliveries``:
  an issue and the webhook's deliveries as the API would answer, outside the rate limits (for
  measurements that must not spend the sync's budget).
* ``POST /_simulator/webhook/faults``: ``{"drop": 0.2, "duplicate": 0.2, ...}`` replaces the webhook's
  fault switches at run time (``{}`` turns them off).

The first two run through the REST pipeline (token, limits) like every GitHub route; they are
kept out of ``rest.ROUTES``, which mirrors the OpenAPI subset in ``shared/github`` exactly.
The ``/_simulator`` ones need the simulator's token when it has one, and are never limited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Receive, Scope, Send

from ailab.errors import ConfigError
from ailab.sync.simulator import rest
from ailab.sync.simulator.model import SimError
from ailab.sync.simulator.rest import Call, RestRoute, Result, error_result
from ailab.sync.simulator.simulator import DOCS, base_url, header, read_body
from ailab.sync.simulator.webhooks import ACTOR, WebhookFaults

if TYPE_CHECKING:
    from ailab.sync.simulator.simulator import GitHubSimulator

HOOK = "/repos/{owner}/{repo}/hooks/{hook_id}"
AS_USER_PATH = "/_simulator/as/{login}/repos/{owner}/{repo}/issues/{issue_number:int}"


def _sender(call: Call) -> Any:
    sender = call.sim.webhooks
    call.sim.world.repo(call.params["owner"], call.params["repo"], create=False)
    if sender is None or sender.config.hook_id != call.params["hook_id"]:
        raise SimError("not_found", "Not Found")
    return sender


def list_deliveries(call: Call) -> Result:
    """``GET .../hooks/{hook_id}/deliveries``: the hook's deliveries, newest first, paginated."""
    rows = _sender(call).listing()
    page, headers = rest.paginate(call, rows)
    return Result(200, orjson.dumps(page), headers)


def redeliver(call: Call) -> Result:
    """``POST .../deliveries/{delivery_id}/attempts``: a new attempt, same GUID (202, as GitHub answers)."""
    again = _sender(call).redeliver(call.params["delivery_id"])
    if again is None:
        raise SimError("not_found", "Not Found")
    return Result(202, b"{}")


HOOK_ROUTES: tuple[RestRoute, ...] = (
    RestRoute("GET", HOOK + "/deliveries", list_deliveries),
    RestRoute("POST", HOOK + "/deliveries/{delivery_id}/attempts", redeliver),
)


class AsUserEndpoint:
    """``PATCH /_simulator/as/{login}/...``: change an issue as someone other than the token's user."""

    def __init__(self, sim: GitHubSimulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await _allowed(self.sim, scope, send):
            return
        params = scope["path_params"]
        raw = await read_body(receive)
        try:
            body = orjson.loads(raw) if raw.strip() else None
            call = Call(self.sim, params, {}, [], body, base_url(scope), scope["path"])
            token = ACTOR.set(str(params["login"]))
            try:
                result = rest.update_issue(call)
            finally:
                ACTOR.reset(token)
        except orjson.JSONDecodeError:
            result = Result(
                400, orjson.dumps({"message": "Problems parsing JSON", "documentation_url": DOCS})
            )
        except SimError as err:
            result = error_result(err)
        await self.sim.reply(send, result.status, result.body, result.headers, self.sim.next_request_id())


FAULTS_PATH = "/_simulator/webhook/faults"


class WebhookFaultsEndpoint:
    """``POST /_simulator/webhook/faults``: set the webhook's fault switches while it runs."""

    def __init__(self, sim: GitHubSimulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await _allowed(self.sim, scope, send):
            return
        raw = await read_body(receive)
        sender = self.sim.webhooks
        try:
            body = orjson.loads(raw) if raw.strip() else {}
            if sender is None:
                raise SimError("not_found", "Not Found")
            if not isinstance(body, dict):
                raise SimError("bad_request", "Give the fault switches as a JSON object.")
            sender.set_faults(WebhookFaults(**body))
            result = Result(200, orjson.dumps(body))
        except orjson.JSONDecodeError:
            result = Result(
                400, orjson.dumps({"message": "Problems parsing JSON", "documentation_url": DOCS})
            )
        except (TypeError, ConfigError) as err:
            result = Result(422, orjson.dumps({"message": str(err), "documentation_url": DOCS}))
        except SimError as err:
            result = error_result(err)
        await self.sim.reply(send, result.status, result.body, result.headers, self.sim.next_request_id())


ISSUE_PEEK_PATH = "/_simulator/repos/{owner}/{repo}/issues/{issue_number:int}"
DELIVERIES_PEEK_PATH = "/_simulator/webhook/deliveries"


class PeekEndpoint:
    """``GET`` an issue or the webhook's deliveries without spending any rate limit."""

    def __init__(self, sim: GitHubSimulator, what: str) -> None:
        self.sim = sim
        self.what = what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await _allowed(self.sim, scope, send):
            return
        params = scope["path_params"]
        try:
            if self.what == "issue":
                repo = self.sim.world.repo(params["owner"], params["repo"], create=False)
                result = Result(
                    200, self.sim.shapes.issue_bytes(self.sim.world.issue(repo, params["issue_number"]))
                )
            else:
                sender = self.sim.webhooks
                result = Result(200, orjson.dumps(sender.listing() if sender is not None else []))
        except SimError as err:
            result = error_result(err)
        await self.sim.reply(send, result.status, result.body, result.headers, self.sim.next_request_id())


async def _allowed(sim: GitHubSimulator, scope: Scope, send: Send) -> bool:
    if sim.authorized(header(scope, b"authorization")):
        return True
    await sim.unauthorized(send, sim.limits.core, sim.next_request_id())
    return False
