"""``create_app``: the simulator as a Starlette ASGI app (``app.state.sim`` is the simulator).

Routes are plain ASGI endpoints (no Request/Response objects, no middleware) so a request costs
little more than the routing regex and one ``orjson.dumps``; unknown paths answer GitHub's
JSON 404.
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ailab.clock import Clock
from ailab.sync.simulator.admin import admin_routes
from ailab.sync.simulator.config import SimulatorConfig
from ailab.sync.simulator.graphql_api import handle_graphql, schema
from ailab.sync.simulator.hook_routes import (
    AS_USER_PATH,
    DELIVERIES_PEEK_PATH,
    FAULTS_PATH,
    HOOK_ROUTES,
    ISSUE_PEEK_PATH,
    AsUserEndpoint,
    PeekEndpoint,
    WebhookFaultsEndpoint,
)
from ailab.sync.simulator.rest import ROUTES, RestRoute
from ailab.sync.simulator.rest_pipeline import handle_rest
from ailab.sync.simulator.simulator import DOCS, GitHubSimulator


class _RestEndpoint:
    def __init__(self, sim: GitHubSimulator, route: RestRoute) -> None:
        self.sim = sim
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await handle_rest(self.sim, self.route, scope, receive, send)


class _GraphQLEndpoint:
    def __init__(self, sim: GitHubSimulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await handle_graphql(self.sim, scope, receive, send)


class _NotFound:
    def __init__(self, sim: GitHubSimulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.sim.counters.received[f"{scope['method']} <unknown>"] += 1
        body = orjson.dumps({"message": "Not Found", "documentation_url": DOCS, "status": "404"})
        headers = self.sim.limits.core.headers(self.sim.clock.time())
        await self.sim.reply(send, 404, body, headers, self.sim.next_request_id())


def create_app(
    config: SimulatorConfig | None = None,
    clock: Clock | None = None,
    *,
    simulator: GitHubSimulator | None = None,
) -> Starlette:
    """A Starlette app serving a new ``GitHubSimulator`` (or the given one) at ``app.state.sim``."""
    sim = simulator if simulator is not None else GitHubSimulator(config, clock)
    schema()  # build the GraphQL schema now, not on the first request
    routes = [
        Route(r.starlette_path, _RestEndpoint(sim, r), methods=[r.method]) for r in (*ROUTES, *HOOK_ROUTES)
    ]
    routes.append(Route(AS_USER_PATH, AsUserEndpoint(sim), methods=["PATCH"]))
    routes.append(Route(FAULTS_PATH, WebhookFaultsEndpoint(sim), methods=["POST"]))
    routes.append(Route(ISSUE_PEEK_PATH, PeekEndpoint(sim, "issue"), methods=["GET"]))
    routes.append(Route(DELIVERIES_PEEK_PATH, PeekEndpoint(sim, "deliveries"), methods=["GET"]))
    routes.append(Route("/graphql", _GraphQLEndpoint(sim), methods=["POST"]))
    routes += admin_routes(sim)  # /_simulator/...: delete/transfer issues, delete labels, reset
    routes.append(Route("/{path:path}", _NotFound(sim)))
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app
