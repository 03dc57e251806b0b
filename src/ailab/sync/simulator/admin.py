"""Admin endpoints under ``/_simulator``: make the remote change under a running sync.

GitHub deletes and transfers issues through its web UI and GraphQL mutations outside the subset
the simulator serves, so these are the simulator's own controls (no GitHub counterpart, never
rate-limited, never faulted), for tests and for scenarios against ``ailab github-sim`` over
loopback. They need the same token as the API when the simulator has one.

* ``DELETE /_simulator/repos/{owner}/{repo}/issues/{n}``: delete the issue (410 from now on).
* ``POST /_simulator/repos/{owner}/{repo}/issues/{n}/transfer`` with ``{"to": "owner/name"}``:
  transfer it (301 from now on); answers the new issue.
* ``DELETE /_simulator/repos/{owner}/{repo}/labels/{name}``: delete the label.
* ``POST /_simulator/reset``: forget everything, as a restart would (new IDs from then on).

In process, the same controls are ``GitHubSimulator.delete_issue``, ``transfer_issue``,
``delete_label`` and ``reset``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ailab.errors import NotFoundError
from ailab.sync.simulator.model import SimError
from ailab.sync.simulator.rest import error_result
from ailab.sync.simulator.simulator import header, read_body

if TYPE_CHECKING:
    from ailab.sync.simulator.simulator import GitHubSimulator

PREFIX = "/_simulator"
Action = Callable[["GitHubSimulator", dict[str, Any], Any], tuple[int, Any]]


def _repo_name(params: dict[str, Any]) -> str:
    return f"{params['owner']}/{params['repo']}"


def _delete_issue(sim: GitHubSimulator, params: dict[str, Any], _body: Any) -> tuple[int, Any]:
    sim.delete_issue(_repo_name(params), int(params["issue_number"]))
    return 204, None


def _transfer_issue(sim: GitHubSimulator, params: dict[str, Any], body: Any) -> tuple[int, Any]:
    target = body.get("to") if isinstance(body, dict) else None
    if not isinstance(target, str):
        raise SimError("invalid", 'Give the target repository as {"to": "owner/name"}.', field="to")
    return 200, sim.transfer_issue(_repo_name(params), int(params["issue_number"]), target)


def _delete_label(sim: GitHubSimulator, params: dict[str, Any], _body: Any) -> tuple[int, Any]:
    sim.delete_label(_repo_name(params), unquote(str(params["name"])))
    return 204, None


def _reset(sim: GitHubSimulator, _params: dict[str, Any], _body: Any) -> tuple[int, Any]:
    sim.reset()
    return 204, None


class _AdminEndpoint:
    def __init__(self, sim: GitHubSimulator, action: Action) -> None:
        self.sim = sim
        self.action = action

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sim = self.sim
        request_id = sim.next_request_id()
        if not sim.authorized(header(scope, b"authorization")):
            body = orjson.dumps({"message": "Bad credentials", "status": "401"})
            await sim.reply(send, 401, body, [], request_id)
            return
        raw = await read_body(receive)
        try:
            payload = orjson.loads(raw) if raw.strip() else None
            status, data = self.action(sim, scope["path_params"], payload)
        except orjson.JSONDecodeError:
            status, data = 400, {"message": "Problems parsing JSON"}
        except NotFoundError as err:
            status, data = 404, {"message": str(err)}
        except SimError as err:
            result = error_result(err)
            await sim.reply(send, result.status, result.body, result.headers, request_id)
            return
        await sim.reply(send, status, b"" if data is None else orjson.dumps(data), [], request_id)


def admin_routes(sim: GitHubSimulator) -> list[Route]:
    """The ``/_simulator`` admin routes of ``sim`` (listed above)."""
    issue = PREFIX + "/repos/{owner}/{repo}/issues/{issue_number:int}"
    return [
        Route(issue, _AdminEndpoint(sim, _delete_issue), methods=["DELETE"]),
        Route(issue + "/transfer", _AdminEndpoint(sim, _transfer_issue), methods=["POST"]),
        Route(
            PREFIX + "/repos/{owner}/{repo}/labels/{name}",
            _AdminEndpoint(sim, _delete_label),
            methods=["DELETE"],
        ),
        Route(PREFIX + "/reset", _AdminEndpoint(sim, _reset), methods=["POST"]),
    ]
