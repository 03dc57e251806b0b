"""Core ``Table`` handles for the schema in ``ailab.db.tables`` and small shared helpers.

The read paths use SQLAlchemy Core, not the ORM: for a 50-row page the ORM costs 4-8x raw
SQLite, Core 2-3x (shared/limits.md), and these functions return plain dicts anyway.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, Table, bindparam, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.expression import Executable

from ailab.db import tables as schema
from ailab.errors import NotFoundError, ValidationError

work_items: Table = schema.work_items
projects: Table = schema.projects
tags: Table = schema.tags
work_item_tags: Table = schema.work_item_tags
dependencies: Table = schema.work_item_dependencies
criteria: Table = schema.acceptance_criteria
blockers: Table = schema.blockers
github_links: Table = schema.github_links
summary_counts: Table = schema.summary_counts


_ID_BY_ID = select(work_items.c.id).where(work_items.c.id == bindparam("item_id", type_=BigInteger()))
_ID_BY_KEY = select(work_items.c.id).where(work_items.c.key == bindparam("key", type_=String()))


MAX_ID = 2**31 - 1  # ids are 32-bit integers on Postgres


def is_id(ref: str) -> bool:
    """``ref`` is an id: ASCII digits of a number an id can be (anything else is looked up as a key)."""
    return ref.isascii() and ref.isdigit() and int(ref) <= MAX_ID


def _parse_ref(key_or_id: int | str) -> int | str:
    """A work item reference as an id (an int, or an all-digit string) or a key (a string)."""
    if isinstance(key_or_id, bool):
        raise ValidationError(f"Work item reference {key_or_id!r} is neither an id nor a key.")
    if isinstance(key_or_id, int):
        return key_or_id
    ref = str(key_or_id).strip()
    if not ref:
        raise ValidationError("Empty work item reference; pass an id (e.g. 42) or a key (e.g. WI-000042).")
    return int(ref) if is_id(ref) else ref


def first_by_ref(
    conn: Connection, key_or_id: int | str, by_id: Executable, by_key: Executable
) -> Row[Any] | None:
    """The first row of ``by_id`` (bound ``item_id``) or ``by_key`` (bound ``key``), whichever
    kind of reference ``key_or_id`` is. Statements built once and bound here: a new construct
    per call costs more than running it."""
    ref = _parse_ref(key_or_id)
    if isinstance(ref, int):
        return conn.execute(by_id, {"item_id": ref}).first()
    return conn.execute(by_key, {"key": ref}).first()


def resolve_item_id(conn: Connection, key_or_id: int | str) -> int:
    """The id of the work item with this id or key; ``NotFoundError`` if there is none."""
    row = first_by_ref(conn, key_or_id, _ID_BY_ID, _ID_BY_KEY)
    if row is None:
        raise NotFoundError(
            f"No work item {key_or_id!r}; check the id or key (list them with GET /api/work-items)."
        )
    return int(row[0])
