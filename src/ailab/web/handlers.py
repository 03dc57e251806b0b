"""What each endpoint does, given arguments already parsed and checked.

Both ways into the app call these: the FastAPI routes (``app.py``: OpenAPI, validation errors,
writes) and the fast lane (``fastlane.py``: the hot GETs, parsed without pydantic).

Statement budgets (asserted in tests): summary 1 when cached / 3 when not (the issue allows 5),
list page 3, one item 1, transitive blockers 2, health 1.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from starlette.responses import Response

from ailab import queries
from ailab.db.schema_head import expected_head
from ailab.errors import DatabaseError, PoolExhaustedError
from ailab.web.context import WebContext
from ailab.web.problems import RETRY_AFTER_SECONDS, problem
from ailab.web.responses import JSONBytesResponse

log = logging.getLogger("ailab.web")
SUMMARY_HEADERS = {"hit": {"X-Summary-Cache": "hit", "Cache-Control": "no-cache"}}
SUMMARY_HEADERS["miss"] = {"X-Summary-Cache": "miss", "Cache-Control": "no-cache"}
FAVICON_HEADERS = {"Cache-Control": "max-age=86400"}
HTML = "text/html; charset=utf-8"


def split_values(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated query values: ``?status=todo&status=done`` or ``?status=todo,done``."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()] or None


async def dashboard(ctx: WebContext) -> Response:
    """``/``: the dashboard page with the summary inlined."""
    body, _hit = await ctx.summary()
    return Response(ctx.page.render(body), media_type=HTML, headers=ctx.page.headers)


def favicon() -> Response:
    """``/favicon.ico``: an empty 204, cached for a day, so browsers stop asking."""
    return Response(status_code=204, headers=FAVICON_HEADERS)


async def summary(ctx: WebContext) -> Response:
    """``/api/summary``: the summary JSON; ``X-Summary-Cache`` says whether it was cached."""
    body, hit = await ctx.summary()
    return JSONBytesResponse(body, headers=SUMMARY_HEADERS["hit" if hit else "miss"])


async def work_items(
    ctx: WebContext,
    *,
    status: list[str] | None,
    priority: list[str] | None,
    project: str | None,
    tag: list[str] | None,
    any_tag: list[str] | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> Response:
    """``/api/work-items``: one page of the filtered list (list filters repeated or comma-separated; a blank
    ``project`` filters nothing)."""

    def run(conn: Connection) -> queries.Page:
        return queries.list_work_items(
            conn,
            status=split_values(status),
            priority=split_values(priority),
            project=project.strip() or None if project else None,
            tags_all=split_values(tag),
            tags_any=split_values(any_tag),
            q=q,
            limit=limit,
            cursor=cursor or None,
        )

    page = await ctx.read(run)
    return JSONBytesResponse(page.to_dict())


async def work_item(ctx: WebContext, ref: str) -> Response:
    """``/api/work-items/{ref}``: one item, by id or key."""
    item = await ctx.read(lambda conn: queries.get_work_item(conn, ref))
    return JSONBytesResponse(item)


async def blockers(ctx: WebContext, ref: str, *, max_depth: int, open_only: bool, limit: int) -> Response:
    """``/api/work-items/{ref}/blockers``: the nearest ``limit`` of its transitive blockers, with their
    ``total`` and whether the walk was ``truncated``."""
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


_READINESS = text(
    "SELECT (SELECT version_num FROM alembic_version), (SELECT revision FROM data_revision WHERE id = 1)"
)


def _schema_and_revision(conn: Connection) -> tuple[str | None, int | None]:
    row = conn.execute(_READINESS).one()
    return row[0], row[1]


async def liveness(_ctx: WebContext) -> Response:
    """``/livez``: answers while the process and its event loop run; never touches the database,
    so a busy pool or a slow database cannot make a liveness probe restart a working server."""
    return JSONBytesResponse({"status": "alive"})


async def readiness(ctx: WebContext) -> Response:
    """``/readyz`` (alias ``/healthz``): 200 when the database answers and its schema is the one
    this server needs; 503 with the reason otherwise. A busy pool is ready (the database is
    answering every connection), not down and not unmigrated."""
    database = ctx.engine.dialect.name
    try:
        schema, revision = await ctx.read(_schema_and_revision)
    except PoolExhaustedError:
        return JSONBytesResponse({"status": "ok", "database": database, "revision": None, "pool": "busy"})
    except (sa_exc.SQLAlchemyError, DatabaseError) as err:
        log.warning("readiness check failed: %s", type(err).__name__)
        return problem(
            503,
            "The database did not answer, or has no ailab schema (run `ailab db upgrade`).",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
            database=database,
        )
    head = expected_head()
    if schema != head:
        return problem(
            503,
            f"The database schema is at revision {schema or 'none'}, and this server needs {head}: "
            "run `ailab db upgrade` (or serve it with the ailab version that migrated it).",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
            database=database,
        )
    return JSONBytesResponse(
        {
            "status": "ok",
            "database": database,
            "revision": revision,
            "schema_revision": schema,
            "pool": "available",
        }
    )


health = readiness  # /healthz: kept as an alias of /readyz


async def create(ctx: WebContext, data: dict[str, Any]) -> Response:
    """``POST /api/work-items``: create an item; 201 with its ``Location``."""
    # The request's transaction holds this write alone: no savepoint needed (see queries.writes).
    item = await ctx.write(
        lambda conn: queries.create_work_item(conn, data, clock=ctx.clock, savepoint=False)
    )
    # The key is user input: percent-encoded, a header holds it safely (and it names the same path).
    location = "/api/work-items/" + quote(item["key"], safe="")
    return JSONBytesResponse(item, status_code=201, headers={"Location": location})


async def update(ctx: WebContext, ref: str, patch: dict[str, Any]) -> Response:
    """``PATCH /api/work-items/{ref}``: change the fields in ``patch``; returns the item."""
    item = await ctx.write(
        lambda conn: queries.update_work_item(conn, ref, patch, clock=ctx.clock, savepoint=False)
    )
    return JSONBytesResponse(item)
