"""The dashboard server: a FastAPI app over ``ailab.queries``.

How the database is reached (measured, see shared/limits.md and ``ailab.perf.bench_web``):

* SQLite reads run **inline** in ``async def`` routes: a page query takes well under a
  millisecond, far less than a hop through the threadpool (which also contends for the GIL).
* Postgres reads, and all writes (SQLite's ``BEGIN IMMEDIATE`` may wait for a lock), run in
  worker threads, at most as many at once as the pool has connections. A request that cannot
  get one within ``AILAB_POOL_TIMEOUT`` answers 503 with ``Retry-After`` instead of piling up.

Statement budgets (asserted in tests): summary 1 when cached / 5 when not, list page 3,
one item 4, transitive blockers 2, health 1.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ailab import __version__, queries
from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.db import connect, get_engine
from ailab.db.engine import create_configured_engine
from ailab.errors import AilabError, DatabaseError, NotFoundError, PoolExhaustedError, ValidationError
from ailab.settings import Settings, get_settings
from ailab.web.metrics import WebMetrics
from ailab.web.page import DashboardPage
from ailab.web.profiling import ProfilingMiddleware
from ailab.web.responses import JSONBytesResponse, error_response
from ailab.web.schemas import WorkItemCreate, WorkItemPatch
from ailab.web.summary_cache import SummaryCache

log = logging.getLogger("ailab.web")
T = TypeVar("T")

WRITES_DISABLED = (
    "Writes are disabled on this server. To enable them, start it with the environment variable "
    "AILAB_API_TOKEN set to a secret, and send 'Authorization: Bearer <that secret>' with each write."
)
BAD_TOKEN = "Missing or wrong bearer token; send 'Authorization: Bearer <AILAB_API_TOKEN>'."
RETRY_AFTER_SECONDS = "1"


@dataclass
class WebContext:
    """Everything the routes share: one per app."""

    settings: Settings
    engine: Engine
    clock: Clock
    inline_reads: bool
    cache: SummaryCache
    metrics: WebMetrics
    page: DashboardPage
    db_slots: anyio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        # As many threads as the pool can serve at once (QueuePool: size + max overflow).
        pool = self.engine.pool
        size = getattr(pool, "size", lambda: 1)() + max(0, getattr(pool, "_max_overflow", 0))
        self.db_slots = anyio.CapacityLimiter(max(1, size))

    async def in_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread once a pool slot is free (503 if none frees up in time)."""
        try:
            with anyio.fail_after(self.settings.pool_timeout):
                await self.db_slots.acquire()
        except TimeoutError:
            raise PoolExhaustedError(
                f"All {self.db_slots.total_tokens:g} database connections stayed busy for "
                f"{self.settings.pool_timeout:g} s; retry shortly."
            ) from None
        try:
            return await anyio.to_thread.run_sync(fn)
        finally:
            self.db_slots.release()

    async def read(self, fn: Callable[[Connection], T]) -> T:
        def run() -> T:
            with connect(self.engine) as conn:
                return fn(conn)

        return run() if self.inline_reads else await self.in_thread(run)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        def run() -> T:
            with connect(self.engine, readonly=False) as conn:
                return fn(conn)

        return await self.in_thread(run)


Ref = Annotated[str, Path(max_length=64, description="Work item id (digits) or key (e.g. WI-000042).")]
_bearer = HTTPBearer(auto_error=False, description="The server's AILAB_API_TOKEN.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def check_token(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    """Allow a write only with the configured bearer token (compared in constant time)."""
    token = settings.api_token
    if not token:
        raise HTTPException(403, WRITES_DISABLED)
    given = credentials.credentials.encode("utf-8") if credentials else b""
    if not hmac.compare_digest(given, token.reveal().encode("utf-8")):
        raise HTTPException(401, BAD_TOKEN, headers={"WWW-Authenticate": "Bearer"})


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated query values: ``?status=todo&status=done`` or ``?status=todo,done``."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()] or None


def _validation_message(err: RequestValidationError) -> str:
    parts = []
    for error in err.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where = ".".join(loc[1:] if len(loc) > 1 and loc[0] in ("query", "body", "path", "header") else loc)
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid value')}")
    return "Invalid request: " + "; ".join(parts) + "."


def _install_error_handlers(app: FastAPI) -> None:
    async def on_ailab_error(_request: Request, err: Exception) -> Response:
        if isinstance(err, ValidationError):
            return error_response(422, str(err))
        if isinstance(err, NotFoundError):
            return error_response(404, str(err))
        if isinstance(err, PoolExhaustedError):
            return error_response(503, str(err), {"Retry-After": RETRY_AFTER_SECONDS})
        if isinstance(err, DatabaseError):
            return error_response(503, str(err), {"Retry-After": RETRY_AFTER_SECONDS})
        return error_response(400, str(err))

    async def on_request_validation(_request: Request, err: Exception) -> Response:
        assert isinstance(err, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in err.errors()
        ]
        return JSONBytesResponse({"detail": _validation_message(err), "errors": errors}, status_code=422)

    async def on_http_error(_request: Request, err: Exception) -> Response:
        assert isinstance(err, HTTPException)
        return error_response(err.status_code, str(err.detail), dict(err.headers or {}))

    async def on_database_error(request: Request, err: Exception) -> Response:
        log.error("database error on %s %s: %s", request.method, request.url.path, type(err).__name__)
        return error_response(
            503, "The database did not answer; check that it is running and reachable, then retry.",
            {"Retry-After": RETRY_AFTER_SECONDS},
        )  # fmt: skip

    async def on_unexpected(request: Request, err: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=err)
        return error_response(500, "Internal server error; the server log has the details.")

    app.add_exception_handler(AilabError, on_ailab_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(sa_exc.OperationalError, on_database_error)
    app.add_exception_handler(sa_exc.InterfaceError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock = SYSTEM_CLOCK,
    inline_reads: bool | None = None,
    warm_up: bool = True,
) -> FastAPI:
    """The dashboard app for ``settings.database_url`` (or ``engine``).

    ``inline_reads`` defaults to True on SQLite and False elsewhere (see the module docstring).
    ``warm_up`` computes the summary once at startup, so the first page load is cached.
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
        cache=SummaryCache(settings.summary_cache_seconds, clock),
        metrics=metrics,
        page=DashboardPage(),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            try:
                await ctx.read(ctx.cache.load)
            except Exception as err:  # the server still starts; /healthz reports the problem
                log.warning(
                    "summary warm-up failed (%s); is the schema migrated? run `ailab db upgrade`",
                    type(err).__name__,
                )
        try:
            yield
        finally:
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
    app.add_middleware(ProfilingMiddleware, metrics=metrics, slow_request_ms=settings.slow_request_ms)
    _install_error_handlers(app)
    _add_routes(app, ctx)
    return app


# SQLite page cache per pooled connection in the server. The engine's default (64 MiB) suits
# batch work; here it would grow the server's RSS past its 100 MiB goal after one summary scan,
# while page and summary latencies measured the same with 4 MiB (the OS page cache holds the
# file either way).
WEB_SQLITE_CACHE_KIB = 4096


def _own_engine(settings: Settings) -> Engine:
    """An engine for this app alone (disposed with it), with the server's SQLite cache size."""
    url = settings.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return get_engine(settings.database_url, settings)  # one shared in-memory database
    engine = create_configured_engine(url, settings)
    if engine.dialect.name == "sqlite":

        def small_page_cache(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA cache_size=-{WEB_SQLITE_CACHE_KIB}")

        event.listen(engine, "connect", small_page_cache)
    return engine


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory ailab.web.app:create_app_from_env``."""
    return create_app(get_settings())


def _add_routes(app: FastAPI, ctx: WebContext) -> None:
    # Routes close over ``ctx`` rather than resolving it per request through Depends.
    def require_writer(credentials: Credentials) -> None:
        check_token(ctx.settings, credentials)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> Response:
        body, _hit = await ctx.read(ctx.cache.load)
        ctx.metrics.summary_cache.labels("hit" if _hit else "miss").inc()
        return Response(
            ctx.page.render(body), media_type="text/html; charset=utf-8", headers=ctx.page.headers
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/summary", summary="Totals, counts by status/priority, top tags, weekly, blocked")
    async def api_summary() -> Response:
        body, hit = await ctx.read(ctx.cache.load)
        ctx.metrics.summary_cache.labels("hit" if hit else "miss").inc()
        return JSONBytesResponse(
            body, headers={"X-Summary-Cache": "hit" if hit else "miss", "Cache-Control": "no-cache"}
        )

    @app.get("/api/work-items", summary="A page of work items, newest first (keyset pagination)")
    async def api_list(
        status: Annotated[list[str] | None, Query(description="Repeat or comma-separate.")] = None,
        priority: Annotated[list[str] | None, Query(description="Repeat or comma-separate.")] = None,
        project: Annotated[str | None, Query(max_length=64, description="Project key.")] = None,
        tag: Annotated[list[str] | None, Query(description="Items with all of these tags.")] = None,
        any_tag: Annotated[list[str] | None, Query(description="Items with at least one of these.")] = None,
        q: Annotated[str | None, Query(max_length=200, description="Text in the title.")] = None,
        limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = queries.DEFAULT_PAGE_SIZE,
        cursor: Annotated[
            str | None, Query(max_length=500, description="next_cursor of the last page.")
        ] = None,
    ) -> Response:
        def run(conn: Connection) -> queries.Page:
            return queries.list_work_items(
                conn,
                status=_split(status),
                priority=_split(priority),
                project=project or None,
                tags_all=_split(tag),
                tags_any=_split(any_tag),
                q=q,
                limit=limit,
                cursor=cursor or None,
            )

        page = await ctx.read(run)
        return JSONBytesResponse(page.to_dict())

    @app.get("/api/work-items/{ref}", summary="One work item with tags, dependencies, criteria, blockers")
    async def api_item(ref: Ref) -> Response:
        item = await ctx.read(lambda conn: queries.get_work_item(conn, ref))
        return JSONBytesResponse(item)

    @app.get("/api/work-items/{ref}/blockers", summary="Everything the item waits for, transitively")
    async def api_blockers(
        ref: Ref,
        max_depth: Annotated[int, Query(ge=1, le=200)] = queries.DEFAULT_MAX_DEPTH,
        open_only: bool = False,
        limit: Annotated[int, Query(ge=1, le=5000, description="Nearest blockers to return.")] = 500,
    ) -> Response:
        chain = await ctx.read(
            lambda conn: queries.blocker_chain(conn, ref, max_depth=max_depth, open_only=open_only)
        )
        return JSONBytesResponse(
            {
                "item": ref,
                "total": len(chain.blockers),
                "truncated": chain.truncated,
                "blockers": chain.blockers[:limit],
            }
        )

    @app.post(
        "/api/work-items",
        status_code=201,
        dependencies=[Depends(require_writer)],
        summary="Create a work item",
    )
    async def api_create(body: WorkItemCreate) -> Response:
        data = body.model_dump(exclude_unset=True)
        item = await ctx.write(lambda conn: queries.create_work_item(conn, data, clock=ctx.clock))
        return JSONBytesResponse(
            item, status_code=201, headers={"Location": f"/api/work-items/{item['key']}"}
        )

    @app.patch("/api/work-items/{ref}", dependencies=[Depends(require_writer)], summary="Change a work item")
    async def api_update(ref: Ref, body: WorkItemPatch) -> Response:
        patch = body.model_dump(exclude_unset=True)
        item = await ctx.write(lambda conn: queries.update_work_item(conn, ref, patch, clock=ctx.clock))
        return JSONBytesResponse(item)

    @app.get("/healthz", summary="The server runs and the database answers (schema migrated)")
    async def healthz() -> Response:
        try:
            revision = await ctx.read(queries.current_revision)
        except (sa_exc.SQLAlchemyError, DatabaseError) as err:
            log.warning("health check failed: %s", type(err).__name__)
            return JSONBytesResponse(
                {
                    "status": "unavailable",
                    "database": ctx.engine.dialect.name,
                    "detail": "The database did not answer, or its schema is not migrated (run `ailab db upgrade`).",
                },
                status_code=503,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        return JSONBytesResponse({"status": "ok", "database": ctx.engine.dialect.name, "revision": revision})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)
