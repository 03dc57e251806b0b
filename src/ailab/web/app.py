"""The dashboard server: a FastAPI app over ``ailab.queries``.

The pieces: ``context`` (how requests reach the database), ``handlers`` (what each endpoint
does), ``fastlane`` (the hot GETs without FastAPI's per-request machinery), ``summary_cache``
(the summary's JSON behind a cheap change check, recomputed from the kept counts on a change),
``error_handlers``, ``profiling`` (Server-Timing, metrics, slow log) and ``page``. The contract:
``schemas`` (what requests may hold), ``response_models`` (what answers hold) and ``problems``
(the one error shape, and how a route documents its statuses).

The FastAPI routes below declare the API (OpenAPI, request validation, the bearer-token
dependency); GET requests the fast lane accepts skip them but run the same handlers.
Middleware, outermost first: FastAPI's own, CORS (only if configured), security headers, profiling,
fast lane, body limit, FastAPI's router.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import StringConstraints
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.responses import Response

from ailab import __version__, queries
from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.db import get_engine
from ailab.db.change_watch import NoWatch, change_watch
from ailab.db.engine import create_configured_engine
from ailab.db.timeouts import apply_statement_timeout
from ailab.settings import Settings, get_settings
from ailab.vocab import PRIORITIES, STATUSES
from ailab.web import error_handlers, github, handlers, problems, schemas
from ailab.web.body_limit import BodyLimit
from ailab.web.context import WebContext
from ailab.web.fastlane import FastLane
from ailab.web.github import STATUS_RESPONSES, WEBHOOK_RESPONSES, WebhookReceiver
from ailab.web.metrics import WebMetrics
from ailab.web.page import DashboardPage
from ailab.web.problems import FILTERED_READ, ITEM_READ, ITEM_WRITE, READ, WRITE, documented
from ailab.web.profiling import ProfilingMiddleware
from ailab.web.response_models import Blockers, Health, Liveness, Summary, WorkItemPage
from ailab.web.response_models import WorkItem as WorkItemAnswer
from ailab.web.responses import JSONBytesResponse
from ailab.web.schemas import WorkItemCreate, WorkItemPatch
from ailab.web.security_headers import SecurityHeaders
from ailab.web.server import tune_process
from ailab.web.summary_cache import SummaryCache

log = logging.getLogger("ailab.web")

Ref = Annotated[
    str,
    Path(
        pattern=schemas.REF_PATTERN,
        description="Work item id (digits) or key (e.g. WI-000042).",
        examples=["WI-000001", "2"],
    ),
]
StatusFilter = Annotated[
    str, StringConstraints(pattern=schemas.STATUS_LIST_PATTERN, max_length=schemas.MAX_VOCAB_FILTER_LENGTH)
]
PriorityFilter = Annotated[
    str, StringConstraints(pattern=schemas.PRIORITY_LIST_PATTERN, max_length=schemas.MAX_VOCAB_FILTER_LENGTH)
]
TagName = Annotated[str, StringConstraints(pattern=schemas.TAG_PATTERN, max_length=100)]
TagFilter = Annotated[
    str, StringConstraints(pattern=schemas.TAG_LIST_PATTERN, max_length=schemas.MAX_TAG_FILTER_LENGTH)
]
_REPEAT = "Repeat the parameter or separate values with commas."


def _on_the_wire(schema: dict[str, Any]) -> None:
    """A list filter as it is sent: one value (a string) or the parameter repeated (an array).

    FastAPI would say "an array, or null"; a client, or a fuzzer judging what it sent, then
    cannot tell that ``?tag=false`` is the one-element list ``["false"]``."""
    array = next(branch for branch in schema.pop("anyOf") if branch.get("type") == "array")
    item = array["items"]
    schema.update(type=["string", "array"], pattern=item["pattern"], items=item, maxItems=array["maxItems"])
    if "maxLength" in item:
        schema["maxLength"] = item["maxLength"]


def FilterQuery(description: str) -> Any:  # reads as the Query it returns
    """The ``Query`` of a list filter: ``description`` plus how to repeat it, at most
    ``schemas.MAX_FILTER_VALUES`` values, its schema as sent on the wire (``_on_the_wire``)."""
    return Query(
        max_length=schemas.MAX_FILTER_VALUES,
        description=f"{description} {_REPEAT}",
        json_schema_extra=_on_the_wire,
    )


StatusQuery = FilterQuery(f"One of {', '.join(STATUSES)}.")
PriorityQuery = FilterQuery(f"One of {', '.join(PRIORITIES)}.")


def once(*names: str) -> Any:
    """A dependency refusing a scalar query parameter given more than once (``?limit=3&limit=4``):
    the schema gives it one value, so there is no "last one wins" to rely on."""

    def check(request: Request) -> None:
        repeated = [name for name in names if len(request.query_params.getlist(name)) > 1]
        if repeated:
            raise RequestValidationError(
                [
                    {"type": "repeated", "loc": ("query", n), "msg": "give this parameter once"}
                    for n in repeated
                ]
            )

    return Depends(check)


TagQuery = FilterQuery


_bearer = HTTPBearer(auto_error=False, description="The server's AILAB_API_TOKEN.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock = SYSTEM_CLOCK,
    inline_reads: bool | None = None,
    inline_writes: bool | None = None,
    warm_up: bool = True,
    fast_lane: bool = True,
) -> FastAPI:
    """The dashboard app for ``settings.database_url`` (or ``engine``).

    ``inline_reads`` and ``inline_writes`` default to True on SQLite and False elsewhere (see
    ``ailab.web.context``).
    ``warm_up`` computes the summary once at startup, so the first page load is cached.
    ``fast_lane=False`` sends every request through FastAPI's routes (to compare the two).
    """
    settings = settings or get_settings()
    owns_engine = engine is None
    if engine is None:
        engine = _own_engine(settings)
    is_sqlite = engine.dialect.name == "sqlite"
    metrics = WebMetrics(engine)
    ctx = WebContext(
        settings=settings,
        engine=engine,
        clock=clock,
        inline_reads=is_sqlite if inline_reads is None else inline_reads,
        inline_writes=is_sqlite if inline_writes is None else inline_writes,
        cache=SummaryCache(settings.summary_cache_seconds, clock),
        metrics=metrics,
        page=DashboardPage(),
    )
    webhooks = WebhookReceiver(ctx, settings.github_webhook_secret)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            ctx.watch = change_watch(ctx.engine, postgres_listen=settings.summary_listen)
        except Exception as err:  # every summary load then checks the revision in the database
            log.warning(
                "no change watch (%s); the summary checks the database on every load", type(err).__name__
            )
        if warm_up:
            try:
                await ctx.summary()
            except Exception as err:  # the server still starts; /healthz reports the problem
                log.warning(
                    "summary warm-up failed (%s); is the schema migrated? run `ailab db upgrade`",
                    type(err).__name__,
                )
        if webhooks.enabled:
            webhooks.start()  # applies deliveries acknowledged before a restart first
        try:
            yield
        finally:
            await webhooks.stop()
            ctx.watch.close()
            ctx.watch = NoWatch()
            if owns_engine:
                ctx.engine.dispose()

    app = FastAPI(
        title="ailab dashboard",
        version=__version__,
        description="Work items, their summary and dependencies. Writes need a bearer token.",
        default_response_class=JSONBytesResponse,
        docs_url=None,  # Swagger UI would load from a CDN; the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.webhooks = webhooks
    # The last added is the outermost: profiling sees what the fast lane answers too; the
    # body limit sees only what the fast lane passes on.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if fast_lane:
        app.add_middleware(FastLane, ctx=ctx, routes=lambda: app.routes)
    app.add_middleware(ProfilingMiddleware, metrics=metrics, slow_request_ms=settings.slow_request_ms)
    app.add_middleware(SecurityHeaders)
    origins = [o.strip() for o in (settings.cors_origins or "").split(",") if o.strip()]
    if origins:  # no CORS headers at all unless configured: browsers then keep other sites out
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH"],
            allow_headers=["Authorization", "Content-Type"],
        )
    error_handlers.install(app)
    problems.install(app)
    _add_routes(app, ctx)
    _add_github_routes(app, ctx, webhooks)
    return app


# SQLite page cache per pooled connection in the server. The engine's default (64 MiB) suits
# batch work; here it would grow the server's RSS past its 100 MiB goal after one summary scan,
# while page and summary latencies measured the same with 4 MiB (the OS page cache holds the
# file either way).
WEB_SQLITE_CACHE_KIB = 4096


def _own_engine(settings: Settings) -> Engine:
    """An engine for this app alone (disposed with it), with the server's SQLite cache size and,
    on Postgres, every connection it may use kept open.

    QueuePool closes an overflow connection as soon as it is returned. Under load the server
    uses all of them all the time, so on Postgres each request beyond the pool size paid for a
    new backend process (its startup, and re-preparing its statements): measured at 600
    requests/s, p95 100 ms with ``pool_size=5, max_overflow=5`` against 23-43 ms with 10 and 0.
    The number of connections, and so of concurrent database calls, stays the same.

    No pre-ping on Postgres: it cost a round trip on every checkout, that is on every request. A
    connection that died meanwhile (a server restart) fails its request with a 503 and
    ``Retry-After``; SQLAlchemy then drops every connection the pool held from before the error.
    """
    url = settings.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return get_engine(settings.database_url, settings)  # one shared in-memory database
    if url.get_backend_name() == "postgresql":
        size = settings.pool_size + max(0, settings.max_overflow)
        engine = create_configured_engine(url, settings, pool_size=size, max_overflow=0, pool_pre_ping=False)
        apply_statement_timeout(engine, settings.statement_timeout_ms)
        return engine
    engine = create_configured_engine(url, settings)
    apply_statement_timeout(engine, settings.statement_timeout_ms)
    if engine.dialect.name == "sqlite":

        def small_page_cache(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA cache_size=-{WEB_SQLITE_CACHE_KIB}")

        event.listen(engine, "connect", small_page_cache)
    return engine


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory ailab.web.app:create_app_from_env`` (one per worker process)."""
    settings = get_settings()
    tune_process(settings)
    return create_app(settings)


# OpenAPI links: an item's key from a create or change leads to its reads and its next change
# (clients, and the fuzzer's stateful phase, chain calls with them).
_BY_KEY = {"ref": "$response.body#/key"}
ITEM_LINKS = {
    "GetWorkItem": {"operationId": "get_work_item", "parameters": _BY_KEY},
    "UpdateWorkItem": {"operationId": "update_work_item", "parameters": _BY_KEY},
    "GetBlockers": {"operationId": "get_work_item_blockers", "parameters": _BY_KEY},
}
_LOCATION = {"description": "The new item's path.", "required": True, "schema": {"type": "string"}}
REQUIRE_JSON = "The body must be JSON: send 'Content-Type: application/json' (got {given!r})."  # 415


def _add_routes(app: FastAPI, ctx: WebContext) -> None:
    # Routes close over ``ctx`` rather than resolving it per request through Depends.
    # The dependencies are ``async def``: FastAPI runs a plain ``def`` one in a worker thread, and
    # under read load each hop there and back waited a full turn of the busy event loop. That was
    # where writes starved (profiled: PATCH p50 1.2 s, of which 2.3 ms in the write itself).
    async def require_writer(request: Request, _credentials: Credentials) -> None:
        ctx.check_token(request.headers.get("authorization"))

    async def require_json(request: Request) -> None:
        given = request.headers.get("content-type", "")
        media = given.split(";", 1)[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            raise HTTPException(415, REQUIRE_JSON.format(given=given))

    writer = [Depends(require_writer), Depends(require_json)]

    @app.get("/", include_in_schema=False)
    async def dashboard() -> Response:
        return await handlers.dashboard(ctx)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return handlers.favicon()

    @app.get(
        "/api/summary",
        operation_id="get_summary",
        summary="Totals, counts by status/priority, top tags, weekly, blocked",
        responses={200: {"model": Summary}, **documented(*READ)},
    )
    async def api_summary() -> Response:
        return await handlers.summary(ctx)

    @app.get(
        "/api/work-items",
        operation_id="list_work_items",
        dependencies=[once("project", "q", "limit", "cursor")],
        summary="A page of work items, newest first (keyset pagination)",
        responses={200: {"model": WorkItemPage}, **documented(*FILTERED_READ)},
    )
    async def api_list(
        status: Annotated[list[StatusFilter] | None, StatusQuery] = None,
        priority: Annotated[list[PriorityFilter] | None, PriorityQuery] = None,
        # Plain strings, empty when absent ("" filters nothing), so the schema says `string`.
        project: Annotated[
            str,
            Query(
                max_length=schemas.MAX_PROJECT_PARAM_LENGTH,
                pattern=schemas.LINE_PATTERN,
                description="Project key.",
            ),
        ] = "",
        tag: Annotated[
            list[TagName] | None,
            Query(
                max_length=schemas.MAX_ALL_TAGS,
                description=f"Items with all of these tags (at most {schemas.MAX_ALL_TAGS}): repeat the parameter.",
                json_schema_extra=_on_the_wire,
            ),
        ] = None,
        any_tag: Annotated[list[TagFilter] | None, TagQuery("Items with at least one of these.")] = None,
        q: Annotated[
            str,
            Query(
                max_length=schemas.MAX_Q_LENGTH,
                pattern=schemas.LINE_PATTERN,
                description="Text in the title.",
            ),
        ] = "",
        limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = queries.DEFAULT_PAGE_SIZE,
        cursor: Annotated[
            str,
            Query(
                max_length=schemas.MAX_CURSOR_LENGTH,
                pattern=schemas.CURSOR_PATTERN,
                description="`next_cursor` of the previous page; empty or absent for the first.",
            ),
        ] = "",
    ) -> Response:
        return await handlers.work_items(
            ctx,
            status=status,
            priority=priority,
            project=project,
            tag=tag,
            any_tag=any_tag,
            q=q,
            limit=limit,
            cursor=cursor,
        )

    @app.get(
        "/api/work-items/{ref}",
        operation_id="get_work_item",
        summary="One work item with tags, dependencies, criteria, blockers",
        responses={200: {"model": WorkItemAnswer}, **documented(*ITEM_READ)},
    )
    async def api_item(ref: Ref) -> Response:
        return await handlers.work_item(ctx, ref)

    @app.get(
        "/api/work-items/{ref}/blockers",
        operation_id="get_work_item_blockers",
        dependencies=[once("max_depth", "open_only", "limit")],
        summary="Everything the item waits for, transitively",
        responses={200: {"model": Blockers}, **documented(*ITEM_READ)},
    )
    async def api_blockers(
        ref: Ref,
        max_depth: Annotated[int, Query(ge=1, le=schemas.MAX_BLOCKER_DEPTH)] = queries.DEFAULT_MAX_DEPTH,
        open_only: bool = False,
        limit: Annotated[
            int, Query(ge=1, le=schemas.MAX_BLOCKERS_LIMIT, description="Nearest blockers to return.")
        ] = schemas.DEFAULT_BLOCKERS_LIMIT,
    ) -> Response:
        return await handlers.blockers(ctx, ref, max_depth=max_depth, open_only=open_only, limit=limit)

    @app.post(
        "/api/work-items",
        status_code=201,
        operation_id="create_work_item",
        dependencies=writer,
        summary="Create a work item",
        responses={
            201: {
                "model": WorkItemAnswer,
                "description": "Created.",
                "headers": {"Location": _LOCATION},
                "links": ITEM_LINKS,
            },
            **documented(*WRITE),
        },
    )
    async def api_create(body: WorkItemCreate) -> Response:
        return await handlers.create(ctx, body.model_dump(exclude_unset=True))

    @app.patch(
        "/api/work-items/{ref}",
        operation_id="update_work_item",
        dependencies=writer,
        summary="Change a work item",
        responses={200: {"model": WorkItemAnswer, "links": ITEM_LINKS}, **documented(*ITEM_WRITE)},
    )
    async def api_update(ref: Ref, body: WorkItemPatch) -> Response:
        return await handlers.update(ctx, ref, body.model_dump(exclude_unset=True))

    @app.get(
        "/livez",
        operation_id="get_liveness",
        summary="Liveness: the process runs (never checks the database; restart only if this fails)",
        responses={200: {"model": Liveness}},
    )
    async def livez() -> Response:
        return await handlers.liveness(ctx)

    @app.get(
        "/readyz",
        operation_id="get_readiness",
        summary="Readiness: the database answers and its schema is at head (a busy pool is ready)",
        responses={200: {"model": Health}, **documented(503)},
    )
    async def readyz() -> Response:
        return await handlers.readiness(ctx)

    @app.get(
        "/healthz",
        operation_id="get_health",
        summary="Alias of /readyz (kept for existing probes)",
        responses={200: {"model": Health}, **documented(503)},
    )
    async def healthz() -> Response:
        return await handlers.readiness(ctx)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)


def _add_github_routes(app: FastAPI, ctx: WebContext, webhooks: WebhookReceiver) -> None:
    @app.post(
        "/api/github/webhook",
        summary="GitHub webhook deliveries (signed with AILAB_GITHUB_WEBHOOK_SECRET)",
        status_code=202,
        responses=WEBHOOK_RESPONSES,
    )
    async def github_webhook(request: Request) -> Response:
        return await webhooks.receive(request)

    @app.get(
        "/api/sync/status",
        summary="Last push and pull, pending changes and deliveries, failures, budget",
        responses=STATUS_RESPONSES,
    )
    async def sync_status() -> Response:
        return await github.status(ctx, webhooks)
