"""A pure-ASGI fast path for the dashboard's hot GET requests.

FastAPI resolves a route by trying each pattern, builds a ``Request``, solves dependencies and
validates every query parameter with pydantic: ~60 us per request, ~130 us for the list page
with its eight parameters (measured in-process at 100k items; the page query itself ~300 us).
The dashboard's GETs take a few plain parameters, so this middleware matches their paths with
string operations, parses and checks the parameters in a few lines, and calls the same handlers
(``handlers.py``) as the FastAPI routes.

Anything it does not fully understand goes on to FastAPI unchanged: other methods and paths, a
value that breaks a rule of the schema (checked here with the same compiled patterns and limits
as ``schemas.py`` declares; FastAPI then answers the 422), a ``root_path``. So the API, its
OpenAPI schema and its error messages stay FastAPI's; this only skips work for requests that
FastAPI would have accepted. ``tests/test_web_contract.py`` holds both lanes to the schema.

It sits inside ``ProfilingMiddleware`` (Server-Timing, metrics and the slow log still see every
request) and sets ``scope["route"]`` to the matching FastAPI route, as the router would.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ailab import queries
from ailab.web import handlers, schemas
from ailab.web.context import WebContext
from ailab.web.error_handlers import response_for

Params = dict[str, list[str]]
Endpoint = Callable[[WebContext, Params, str], Awaitable[Response]]  # (ctx, query, path ref)

ITEMS = "/api/work-items"
ITEM_PREFIX = ITEMS + "/"
BLOCKERS_SUFFIX = "/blockers"
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class Unsupported(Exception):
    """A parameter this lane does not check itself: FastAPI handles the request instead."""


def _params(scope: Scope) -> Params:
    raw: bytes = scope.get("query_string", b"")
    params: Params = {}
    if raw:
        # As Starlette parses them: latin-1, blank values kept.
        for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            params.setdefault(key, []).append(value)
    return params


def _text(params: Params, name: str, max_length: int, rule: re.Pattern[str] = schemas.LINE) -> str | None:
    values = params.get(name)
    if not values:
        return None
    value = values[0]
    if len(values) > 1 or len(value) > max_length or not rule.match(value):  # a scalar comes once
        raise Unsupported(name)
    return value


def _list(
    params: Params,
    name: str,
    rule: re.Pattern[str],
    max_length: int = schemas.MAX_VOCAB_FILTER_LENGTH,
    max_values: int = schemas.MAX_FILTER_VALUES,
) -> list[str] | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > max_values:
        raise Unsupported(name)
    for value in values:
        if len(value) > max_length or not rule.match(value):
            raise Unsupported(name)
    return values


def _int(params: Params, name: str, default: int, low: int, high: int) -> int:
    values = params.get(name)
    if not values:
        return default
    value = values[0]
    if len(values) > 1 or not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise Unsupported(name)
    return int(value)


def _bool(params: Params, name: str) -> bool:
    values = params.get(name)
    if not values:
        return False
    if len(values) > 1:
        raise Unsupported(name)
    value = values[0].lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise Unsupported(name)


def _ref(ref: str) -> str:
    if not schemas.REF.match(ref):
        raise Unsupported("ref")
    return ref


def _list_page(ctx: WebContext, params: Params, _rest: str) -> Awaitable[Response]:
    return handlers.work_items(
        ctx,
        status=_list(params, "status", schemas.STATUS_LIST),
        priority=_list(params, "priority", schemas.PRIORITY_LIST),
        project=_text(params, "project", schemas.MAX_PROJECT_PARAM_LENGTH),
        tag=_list(params, "tag", schemas.TAG, 100, schemas.MAX_ALL_TAGS),
        any_tag=_list(params, "any_tag", schemas.TAG_LIST, schemas.MAX_TAG_FILTER_LENGTH),
        q=_text(params, "q", schemas.MAX_Q_LENGTH),
        limit=_int(params, "limit", queries.DEFAULT_PAGE_SIZE, 1, queries.MAX_PAGE_SIZE),
        cursor=_text(params, "cursor", schemas.MAX_CURSOR_LENGTH, schemas.CURSOR),
    )


def _item(ctx: WebContext, _params: Params, rest: str) -> Awaitable[Response]:
    return handlers.work_item(ctx, _ref(rest))


def _blockers(ctx: WebContext, params: Params, rest: str) -> Awaitable[Response]:
    return handlers.blockers(
        ctx,
        _ref(rest),
        max_depth=_int(params, "max_depth", queries.DEFAULT_MAX_DEPTH, 1, schemas.MAX_BLOCKER_DEPTH),
        open_only=_bool(params, "open_only"),
        limit=_int(params, "limit", schemas.DEFAULT_BLOCKERS_LIMIT, 1, schemas.MAX_BLOCKERS_LIMIT),
    )


async def _favicon(_ctx: WebContext, _params: Params, _rest: str) -> Response:
    return handlers.favicon()


# By exact path; the two item routes are matched by prefix in ``FastLane._match``.
EXACT: dict[str, Endpoint] = {
    "/api/summary": lambda ctx, _p, _r: handlers.summary(ctx),
    "/": lambda ctx, _p, _r: handlers.dashboard(ctx),
    ITEMS: _list_page,
    "/healthz": lambda ctx, _p, _r: handlers.readiness(ctx),
    "/readyz": lambda ctx, _p, _r: handlers.readiness(ctx),
    "/livez": lambda ctx, _p, _r: handlers.liveness(ctx),
    "/favicon.ico": _favicon,
}


class FastLane:
    """ASGI middleware answering the hot GETs itself; anything else goes on to ``app`` unchanged."""

    def __init__(self, app: ASGIApp, *, ctx: WebContext, routes: Callable[[], list[BaseRoute]]) -> None:
        self.app = app
        self.ctx = ctx
        # FastAPI's route objects by template (for metrics labels); routes exist by the time
        # Starlette builds its middleware (at the first request).
        self.routes = {getattr(r, "path", ""): r for r in routes()}

    def _match(self, path: str) -> tuple[str, str, Endpoint] | None:
        """(route template, the ref in the path, endpoint), or None for FastAPI."""
        handler = EXACT.get(path)
        if handler is not None:
            return path, "", handler
        if path.startswith(ITEM_PREFIX):
            rest = path[len(ITEM_PREFIX) :]
            if rest.endswith(BLOCKERS_SUFFIX):
                return ITEM_PREFIX + "{ref}" + BLOCKERS_SUFFIX, rest[: -len(BLOCKERS_SUFFIX)], _blockers
            return ITEM_PREFIX + "{ref}", rest, _item
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        found = self._match(path)
        if found is None:
            await self.app(scope, receive, send)
            return
        template, rest, handler = found
        try:
            call = handler(self.ctx, _params(scope), rest)
        except Unsupported:
            await self.app(scope, receive, send)
            return
        route = self.routes.get(template)
        if route is not None:
            scope["route"] = route
            if rest:
                scope["path_params"] = {"ref": rest}
        try:
            response = await call
        except Exception as err:
            response = response_for(err, "GET", path)
        await response(scope, receive, send)
