"""Reading work items: filtered keyset pages and one item with everything attached.

Statement budgets (asserted in tests, on SQLite and Postgres):

* ``list_work_items``: 1 statement for a page of any size (the budget asserted is 3): the page
  (projects joined), each row's tags and dependency ids both ways aggregated beside it.
* ``get_work_item``: 1 statement: the item (project and GitHub link joined), with its tags, its
  dependencies both ways (with key/title/status of the other side), criteria and blockers
  aggregated as JSON.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ailab import planted
from ailab.errors import NotFoundError, ValidationError
from ailab.queries._tables import (
    blockers,
    criteria,
    dependencies,
    first_by_ref,
    github_links,
    projects,
    tags,
    work_item_tags,
    work_items,
)
from ailab.queries.cursor import decode_cursor, encode_cursor
from ailab.vocab import check_priority, check_status

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50

# The columns of a work item in a list page (the detail view adds the rest).
_ITEM_COLUMNS = (
    work_items.c.id,
    work_items.c.key,
    work_items.c.title,
    work_items.c.status,
    work_items.c.priority,
    work_items.c.type,
    work_items.c.assignee,
    work_items.c.created_at,
    work_items.c.updated_at,
)
LIST_COLUMNS = (*_ITEM_COLUMNS, projects.c.key.label("project"))


@dataclass
class Page:
    """One page of work items, newest first, and the cursor of the next page (None at the end)."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None
    limit: int = DEFAULT_PAGE_SIZE

    def to_dict(self) -> dict[str, Any]:
        """The page as the API's JSON body: items, the cursor of the next page (None at the end), the limit."""
        return {"items": self.items, "next_cursor": self.next_cursor, "limit": self.limit}


def _clean_names(values: Iterable[str] | None, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    names = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"Empty or non-text {what} {value!r} in the filter; remove it.")
        names.append(value.strip())
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class _Shape:
    """Which filters a page query has: one statement is built (and compiled) per shape."""

    dialect: str
    status: bool = False
    priority: bool = False
    single_status: bool = False  # one value: a plain bind, not an expanding IN (see _vocab_term)
    single_priority: bool = False
    project: bool = False
    q: bool = False
    q_folded: bool = False  # SQLite, text with non-ASCII letters: ailab_lower(title) LIKE
    tag_groups: int = 0  # EXISTS terms: the tags_any group (if any) first, then one per tags_all tag
    single_first_tag: bool = False  # the first group is one tag: walk its (created, id) index
    cursor: bool = False
    rare_tag_links: int = 2000


# A tag condition matching at most this many links is "rare": its items are fetched by id and
# sorted (cheap for few rows); a common tag instead filters a newest-first index scan, which
# finds a page after about limit * items / matches rows. Each plan is terrible for the other
# case (shared/limits.md: 5-25 ms for a scan looking for a rare tag), and SQLite's planner
# cannot tell them apart, so the page statement contains both branches and a once-evaluated
# count of the candidates (capped at RARE_TAG_LINKS + 1) switches one of them off.
# The crossover measured at 100k items: on SQLite about 1,000 links (per-tag p95 1.5 ms at 1,000
# vs 1.8 ms at 2,000, worst tag 1.9 vs 3.7 ms); on Postgres the scan branch costs more, so 2,000.
RARE_TAG_LINKS = 2000
SQLITE_RARE_TAG_LINKS = 1000


def _tag_ids(group: int) -> Select[tuple[int]]:
    return select(tags.c.id).where(tags.c.name.in_(bindparam(f"tags_{group}", expanding=True)))


def _has_tag(group: int) -> ColumnElement[bool]:
    """EXISTS on the (work_item_id, tag_id) primary key: a point lookup per candidate row.

    ``OFFSET 0`` keeps Postgres from turning the EXISTS into a semi-join: it cannot estimate a
    tag's popularity through the name lookup, and for a popular tag the semi-join plan joins
    all its links and sorts them (70 ms measured at 100k) instead of stopping after one page.
    """
    link = work_item_tags.alias(f"has_tag_{group}")  # not correlated to a tag walk's links
    return (
        select(literal(1))
        .where(link.c.work_item_id == work_items.c.id, link.c.tag_id.in_(_tag_ids(group)))
        .offset(0)
        .exists()
    )


# Separators for the aggregated relation columns (unit separator: never in a tag name).
_TAG_SEP = "\x1f"
_ID_SEP = ","
_SEP_SQL = {_TAG_SEP: ("char(31)", "chr(31)"), _ID_SEP: ("','", "','")}


def _concat(expr: ColumnElement[Any], sep: str, dialect: str) -> ColumnElement[str]:
    """``group_concat`` / ``string_agg`` with the separator written into the SQL. SQLAlchemy's
    ``aggregate_strings`` sends it as a literal-execute parameter, which re-renders the whole
    statement's SQL on every execution (~35 us a page)."""
    sqlite_sep, postgres_sep = _SEP_SQL[sep]
    if dialect == "sqlite":
        return func.group_concat(expr, literal_column(sqlite_sep), type_=String())
    return func.string_agg(expr, literal_column(postgres_sep), type_=String())


@functools.cache
def _page_stmt(shape: _Shape) -> Select[Any]:
    """The page rows plus each row's tags and dependency ids, aggregated by correlated
    subqueries over the <= 201 page rows: one statement and one round of result processing
    instead of three (the per-row cost of fetching relation rows was half of a page's time)."""
    page = _page_rows_stmt(shape).subquery("page")
    # The name as a primary-key lookup per link, not a join: Postgres would hash-join a scan of
    # all tags for every page row (measured 1.6 vs 0.75 ms per page).
    tag_name = select(tags.c.name).where(tags.c.id == work_item_tags.c.tag_id).scalar_subquery()
    tag_names = (
        select(_concat(tag_name, _TAG_SEP, shape.dialect))
        .where(work_item_tags.c.work_item_id == page.c.id)
        .scalar_subquery()
    )
    depends_on = (
        select(_concat(cast(dependencies.c.depends_on_id, String), _ID_SEP, shape.dialect))
        .where(dependencies.c.work_item_id == page.c.id)
        .scalar_subquery()
    )
    blocks = (
        select(_concat(cast(dependencies.c.work_item_id, String), _ID_SEP, shape.dialect))
        .where(dependencies.c.depends_on_id == page.c.id)
        .scalar_subquery()
    )
    return select(
        page, tag_names.label("tags"), depends_on.label("depends_on"), blocks.label("blocks")
    ).order_by(page.c.created_at.desc(), page.c.id.desc())


def _page_rows_stmt(shape: _Shape) -> Select[Any]:
    where: list[ColumnElement[bool]] = []
    if shape.status:
        where.append(_vocab_term(work_items.c.status, "status", shape.single_status))
    if shape.priority:
        where.append(_vocab_term(work_items.c.priority, "priority", shape.single_priority))
    if shape.project:
        project_id = select(projects.c.id).where(projects.c.key == bindparam("project")).scalar_subquery()
        where.append(work_items.c.project_id == project_id)
    if shape.q:
        pattern = bindparam("q", type_=String())
        # SQLite's LIKE ignores case (ASCII letters); Postgres needs ILIKE.
        title = work_items.c.title
        where.append(
            title.like(pattern, escape="/") if shape.dialect == "sqlite" else title.ilike(pattern, escape="/")
        )
    if shape.q_folded:
        # SQLite's LIKE folds ASCII letters only: for text with other letters, compare the title
        # lower-cased by Python (a function every ailab SQLite connection has, see ailab.db.engine)
        # with the lower-cased text. ASCII-only text keeps the plain LIKE, ~3x faster (README).
        folded = bindparam("q_folded", type_=String())
        where.append(func.ailab_lower(work_items.c.title).like(folded, escape="/"))
    if shape.cursor and not shape.single_first_tag:
        where.append(tuple_(work_items.c.created_at, work_items.c.id) < _after())
    tag_terms = [_has_tag(i) for i in range(shape.tag_groups)]
    fetch = bindparam("fetch", type_=Integer())
    if shape.single_first_tag:
        return _tag_walk(shape, where, tag_terms[1:], fetch)
    columns = select(*LIST_COLUMNS).select_from(
        work_items.outerjoin(projects, projects.c.id == work_items.c.project_id)
    )
    order = (work_items.c.created_at.desc(), work_items.c.id.desc())
    if not tag_terms:
        return columns.where(*where).order_by(*order).limit(fetch)
    candidates = (
        select(work_item_tags.c.work_item_id)
        .where(work_item_tags.c.tag_id.in_(_tag_ids(0)))
        .limit(shape.rare_tag_links + 1)
        .cte("tag_candidates")
    )
    few = select(func.count()).select_from(candidates).scalar_subquery() <= shape.rare_tag_links
    # A LIMIT of 0 ends a branch before its loop starts (a false WHERE term would still scan).
    rare_limit = case((few, fetch), else_=0)
    common_limit = case((few, 0), else_=fetch)
    # The rare branch fetches its candidates by id inside an OFFSET 0 fence (neither planner may
    # flatten it), so neither can trade the cheap "fetch these few, sort them" for a walk down
    # the created_at index that probes every row against the candidates (436 ms on Postgres).
    rare_rows = select(*_ITEM_COLUMNS, work_items.c.project_id).where(
        *where, *tag_terms[1:], work_items.c.id.in_(select(candidates.c.work_item_id))
    )
    if shape.dialect == "sqlite":
        rare_rows = rare_rows.with_hint(work_items, "NOT INDEXED", "sqlite")  # rowid lookups
    fenced = rare_rows.offset(0).subquery("rare_rows")
    rare = (
        select(*(fenced.c[c.name] for c in _ITEM_COLUMNS), projects.c.key.label("project"))
        .select_from(fenced.outerjoin(projects, projects.c.id == fenced.c.project_id))
        .order_by(fenced.c.created_at.desc(), fenced.c.id.desc())
        .limit(rare_limit)
    )
    common = columns.where(*where, *tag_terms)
    both = union_all(
        select(rare.subquery()),
        select(common.order_by(*order).limit(common_limit).subquery()),
    ).subquery("page")
    return select(both).order_by(both.c.created_at.desc(), both.c.id.desc()).limit(fetch)


def _vocab_term(column: ColumnElement[Any], name: str, single: bool) -> ColumnElement[bool]:
    """``column = :name`` for one value (the dashboard's usual filter), else ``IN``. An expanding
    ``IN`` re-renders the statement's SQL on every call (~60 us a page at 100k items)."""
    if single:
        return column == bindparam(name, type_=String())
    return column.in_(bindparam(name, expanding=True))


def _after() -> ColumnElement[Any]:
    # BigInteger: a cursor may name any position, also past the largest id (int4 on Postgres).
    return tuple_(bindparam("after_created", type_=DateTime()), bindparam("after_id", type_=BigInteger()))


def _tag_walk(
    shape: _Shape, where: list[ColumnElement[bool]], other_tags: list[ColumnElement[bool]], fetch: Any
) -> Select[Any]:
    """One tag's items newest first, straight off ``(tag_id, item_created_at, work_item_id)``:
    the walk stops after ``fetch`` matches whatever the tag's popularity, so no plan switch.
    ``item_created_at`` is the item's ``created_at`` (kept by triggers), so the order and the
    keyset cursor are the page's own."""
    created, item_id = work_item_tags.c.item_created_at, work_item_tags.c.work_item_id
    # A plain bind, not an expanding IN: no per-call re-rendering of the SQL (~50 us).
    tag_id = select(tags.c.id).where(tags.c.name == bindparam("tags_0", type_=String())).scalar_subquery()
    conditions = [work_item_tags.c.tag_id == tag_id, *where, *other_tags]
    if shape.cursor:
        conditions.append(tuple_(created, item_id) < _after())
    joined = work_item_tags.join(work_items, work_items.c.id == item_id).outerjoin(
        projects, projects.c.id == work_items.c.project_id
    )
    return (
        select(*LIST_COLUMNS)
        .select_from(joined)
        .where(*conditions)
        .order_by(created.desc(), item_id.desc())
        .limit(fetch)
    )


def page_rows_query(dialect: str, **filters: Any) -> tuple[Select[Any], dict[str, Any]]:
    """The page statement without the aggregated relations (tags, dependency ids).

    Not used to serve pages; it lets benchmarks time the filter itself against the old
    JSON-column scan, apart from the relation lookups the old query did not do."""
    _stmt, params = page_query(dialect, **filters)
    return _page_rows_stmt(_shape_of(dialect, params)), params


def _like_pattern(q: str) -> str:
    escaped = q.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


def page_query(
    dialect: str,
    *,
    status: Sequence[str] | None = None,
    priority: Sequence[str] | None = None,
    project: str | None = None,
    tags_any: Sequence[str] | None = None,
    tags_all: Sequence[str] | None = None,
    q: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[Select[Any], dict[str, Any]]:
    """The page statement and its parameters (validated), e.g. to ``explain`` it."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"limit={limit!r} is out of range; use a whole number from 1 to {MAX_PAGE_SIZE}."
        )
    params: dict[str, Any] = {"fetch": limit + 1}
    statuses = [check_status(s) for s in _clean_names(status, "status")]
    priorities = [check_priority(p) for p in _clean_names(priority, "priority")]
    if statuses:
        params["status"] = statuses[0] if len(statuses) == 1 else statuses
    if priorities:
        params["priority"] = priorities[0] if len(priorities) == 1 else priorities
    if project is not None:
        if not project.strip():
            raise ValidationError("Empty project filter; pass a project key or leave it out.")
        params["project"] = project.strip()
    if q is not None and q.strip():
        if dialect == "sqlite" and not q.isascii():
            params["q_folded"] = _like_pattern(q.strip().lower())
        else:
            params["q"] = _like_pattern(q.strip())
    groups = [[name] for name in _clean_names(tags_all, "tag")]
    any_names = _clean_names(tags_any, "tag")
    if any_names:
        groups.insert(0, any_names)
    for i, group in enumerate(groups):
        # A single first tag is a plain value: its index is walked (see _tag_walk).
        params[f"tags_{i}"] = group[0] if i == 0 and len(group) == 1 else group
    if cursor:
        params["after_created"], params["after_id"] = decode_cursor(cursor)
    return _page_stmt(_shape_of(dialect, params)), params


def _shape_of(dialect: str, params: dict[str, Any]) -> _Shape:
    return _Shape(
        dialect=dialect,
        status="status" in params,
        priority="priority" in params,
        single_status=isinstance(params.get("status"), str),
        single_priority=isinstance(params.get("priority"), str),
        project="project" in params,
        q="q" in params,
        q_folded="q_folded" in params,
        tag_groups=sum(1 for name in params if name.startswith("tags_")),
        single_first_tag=isinstance(params.get("tags_0"), str),
        cursor="after_id" in params,
        rare_tag_links=min(RARE_TAG_LINKS, SQLITE_RARE_TAG_LINKS) if dialect == "sqlite" else RARE_TAG_LINKS,
    )


def list_work_items(
    conn: Connection,
    *,
    status: Sequence[str] | None = None,
    priority: Sequence[str] | None = None,
    project: str | None = None,
    tags_any: Sequence[str] | None = None,
    tags_all: Sequence[str] | None = None,
    q: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page:
    """A page of work items, newest first (``created_at DESC, id DESC``), each with its tags,
    ``depends_on`` ids and ``blocks`` ids. Pass ``next_cursor`` back for the next page.

    ``tags_any``: items with at least one of these tags; ``tags_all``: items with every one.
    ``q``: case-insensitive substring of the title (SQLite folds ASCII letters only).
    Unknown tags or project match nothing.
    """
    slowdown = planted.tag_filter_slowdown() if tags_any or tags_all else 0.0  # test-only, 0 normally
    started = time.perf_counter() if slowdown else 0.0
    stmt, params = page_query(
        conn.dialect.name,
        status=status,
        priority=priority,
        project=project,
        tags_any=tags_any,
        tags_all=tags_all,
        q=q,
        limit=limit,
        cursor=cursor,
    )
    result = conn.execute(stmt, params)
    *columns, _, _, _ = result.keys()  # the page's own columns, then tags, depends_on, blocks
    rows = result.all()
    # One loop with no call per field: shaping the rows was a quarter of a page's time.
    items = []
    for *values, tag_names, depends_on, blocks in rows[:limit]:
        item = dict(zip(columns, values, strict=True))
        item["tags"] = sorted(tag_names.split(_TAG_SEP)) if tag_names else []
        item["depends_on"] = sorted(map(int, depends_on.split(_ID_SEP))) if depends_on else []
        item["blocks"] = sorted(map(int, blocks.split(_ID_SEP))) if blocks else []
        items.append(item)
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last["created_at"], last["id"])
    if slowdown:
        planted.stretch(started, slowdown)
    return Page(items=items, next_cursor=next_cursor, limit=limit)


# --- one item -------------------------------------------------------------------------------


class _JsonRows(FunctionElement[str]):
    """An aggregate of the group's rows as JSON text: ``[v, ...]`` for one column, else
    ``[[a, b, ...], ...]``; NULL for no rows. SQLite: ``json_group_array``; Postgres:
    ``json_agg`` (as text, so both engines hand Python the same string to parse)."""

    name = "json_rows"
    type = String()
    inherit_cache = True


@compiles(_JsonRows, "sqlite")
def _json_rows_sqlite(element: _JsonRows, compiler: Any, **kw: Any) -> str:
    args = compiler.process(element.clauses, **kw)
    return (
        f"json_group_array({args})" if len(element.clauses) == 1 else f"json_group_array(json_array({args}))"
    )


@compiles(_JsonRows, "postgresql")
def _json_rows_postgres(element: _JsonRows, compiler: Any, **kw: Any) -> str:
    args = compiler.process(element.clauses, **kw)
    return (
        f"CAST(json_agg({args}) AS TEXT)"
        if len(element.clauses) == 1
        else (f"CAST(json_agg(json_build_array({args})) AS TEXT)")
    )


def _json_of(*columns: Any) -> Select[Any]:
    return select(_JsonRows(*columns))


def _detail_stmt() -> Select[Any]:
    """The item, its project and GitHub link, and each related list as a JSON aggregate over
    the item's own rows (correlated subqueries): one statement, so one round trip and one
    snapshot on every engine. Four statements cost a Postgres detail page three more round
    trips, each ~0.2 ms of the server's CPU in the driver and the thread hop."""
    item = work_items.c.id
    tag_names = (
        _json_of(tags.c.name)
        .select_from(work_item_tags.join(tags, tags.c.id == work_item_tags.c.tag_id))
        .where(work_item_tags.c.work_item_id == item)
    )
    other = work_items.alias("other")
    neighbour = (other.c.id, other.c.key, other.c.title, other.c.status)
    depends_on = (
        _json_of(*neighbour)
        .select_from(dependencies.join(other, other.c.id == dependencies.c.depends_on_id))
        .where(dependencies.c.work_item_id == item)
    )
    blocks = (
        _json_of(*neighbour)
        .select_from(dependencies.join(other, other.c.id == dependencies.c.work_item_id))
        .where(dependencies.c.depends_on_id == item)
    )
    crit = _json_of(criteria.c.position, criteria.c.text, criteria.c.done).where(
        criteria.c.work_item_id == item
    )
    block = _json_of(blockers.c.position, blockers.c.text, blockers.c.resolved).where(
        blockers.c.work_item_id == item
    )
    return select(
        *(c for c in work_items.c if c.name != "extra"),
        projects.c.key.label("project_key"),
        projects.c.name.label("project_name"),
        github_links.c.repository.label("gh_repository"),
        github_links.c.issue_number.label("gh_issue_number"),
        github_links.c.state.label("gh_state"),
        github_links.c.synced_at.label("gh_synced_at"),
        tag_names.scalar_subquery().label("tags_json"),
        depends_on.scalar_subquery().label("depends_on_json"),
        blocks.scalar_subquery().label("blocks_json"),
        crit.scalar_subquery().label("criteria_json"),
        block.scalar_subquery().label("blockers_json"),
    ).select_from(
        work_items.outerjoin(projects, projects.c.id == work_items.c.project_id).outerjoin(
            github_links, github_links.c.work_item_id == work_items.c.id
        )
    )


_DETAIL = _detail_stmt()
_DETAIL_BY_ID = _DETAIL.where(work_items.c.id == bindparam("item_id", type_=Integer()))
_DETAIL_BY_KEY = _DETAIL.where(work_items.c.key == bindparam("key", type_=String()))


def _detail_row(conn: Connection, key_or_id: int | str) -> dict[str, Any] | None:
    row = first_by_ref(conn, key_or_id, _DETAIL_BY_ID, _DETAIL_BY_KEY)
    return None if row is None else dict(row._mapping)


def _json_list(value: str | None) -> list[Any]:
    return orjson.loads(value) if value else []


def _neighbours(value: str | None) -> list[dict[str, Any]]:
    rows = sorted(_json_list(value))  # by id (the first field), as the API promises
    return [{"id": oid, "key": key, "title": title, "status": status} for oid, key, title, status in rows]


def get_work_item(conn: Connection, key_or_id: int | str) -> dict[str, Any]:
    """One work item with tags, ``depends_on`` and ``blocks`` (each ``{id, key, title, status}``),
    ordered ``criteria`` and ``blockers``, its ``project`` and its ``github`` link (or None).

    One statement (see ``_detail_stmt``): everything read comes from one snapshot."""
    data = _detail_row(conn, key_or_id)
    if data is None:
        raise NotFoundError(
            f"No work item {key_or_id!r}; check the id or key (list them with GET /api/work-items)."
        )
    project_key, project_name = data.pop("project_key"), data.pop("project_name")
    data["project"] = {"key": project_key, "name": project_name} if project_key is not None else None
    repo, number = data.pop("gh_repository"), data.pop("gh_issue_number")
    state, synced_at = data.pop("gh_state"), data.pop("gh_synced_at")
    data["github"] = (
        {
            "repository": repo,
            "issue_number": number,
            "state": state,
            "synced_at": synced_at,
            "url": f"https://github.com/{repo}/issues/{number}" if number is not None else None,
        }
        if repo is not None
        else None
    )
    # Sorted here, by code point on every engine whatever the database's collation (and
    # SQLite before 3.44 has no ORDER BY inside an aggregate).
    data["tags"] = sorted(_json_list(data.pop("tags_json")))
    data["depends_on"] = _neighbours(data.pop("depends_on_json"))
    data["blocks"] = _neighbours(data.pop("blocks_json"))
    data["criteria"] = [
        {"position": position, "text": text, "done": bool(done)}
        for position, text, done in sorted(_json_list(data.pop("criteria_json")))
    ]
    data["blockers"] = [
        {"position": position, "text": text, "resolved": bool(resolved)}
        for position, text, resolved in sorted(_json_list(data.pop("blockers_json")))
    ]
    return data
