"""Creating and changing work items: validated up front, written all-or-nothing.

Every write runs inside a SAVEPOINT of the caller's transaction and first bumps the
``data_revision`` row. On Postgres that row lock also serialises concurrent writers, so two
updates cannot each add half of a dependency cycle; SQLite serialises writers anyway
(``BEGIN IMMEDIATE``). Any error rolls the savepoint back: nothing is half-written even if
the caller catches the error and commits.

Use a write transaction: ``with ailab.db.session() as s`` or ``ailab.db.connect(readonly=False)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ailab.clock import SYSTEM_CLOCK, Clock
from ailab.db.revision import bump_revision
from ailab.errors import ConflictError, MissingReferenceError, NotFoundError, ValidationError
from ailab.queries._tables import (
    blockers,
    criteria,
    dependencies,
    is_id,
    projects,
    resolve_item_id,
    tags,
    work_item_tags,
    work_items,
)
from ailab.queries.graph import reaches
from ailab.queries.items import get_work_item
from ailab.vocab import check_priority, check_status

if TYPE_CHECKING:  # a Session is accepted, never created: the server need not import the ORM
    from sqlalchemy.orm import Session

_TEXT_LIMITS = {
    "title": 500,
    "type": 32,
    "issue_type": 32,
    "assignee": 200,
    "author": 200,
    "file_path": 500,
    "repository_url": 500,
}
_OPTIONAL_TEXT = ("description", "issue_type", "assignee", "author", "notes", "file_path", "repository_url")
_NUMBERS = ("estimated_hours", "actual_hours")
_FLAGS = ("is_draft", "archived")
_RELATIONS = ("tags", "depends_on", "criteria", "blockers")
UPDATABLE_FIELDS = frozenset(
    {"title", "status", "priority", "type", "due_date", "project", "parent"}
    | set(_OPTIONAL_TEXT)
    | set(_NUMBERS)
    | set(_FLAGS)
    | set(_RELATIONS)
)
CREATABLE_FIELDS = UPDATABLE_FIELDS | {"key", "created_at"}
MAX_TAG_LENGTH = 100


def _atomic(conn: Connection, savepoint: bool) -> AbstractContextManager[Any]:
    """A write's statements all or none. With ``savepoint`` (the default) a failure rolls back
    to a savepoint and the caller's transaction goes on: a sync applies many changes in one.
    ``savepoint=False`` when the transaction holds this write alone (the dashboard's): a failure
    rolls all of it back anyway, and SAVEPOINT and RELEASE were two of a Postgres PATCH's eight
    round trips."""
    return conn.begin_nested() if savepoint else nullcontext()


def _connection(target: Session | Connection) -> Connection:
    return target if isinstance(target, Connection) else target.connection()


def _now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.time(), UTC).replace(tzinfo=None)


def _text(field: str, value: Any, *, required: bool, nonblank: bool | None = None) -> str | None:
    if value is None:
        if required:
            raise ValidationError(f"{field} is required and cannot be null.")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text, not {type(value).__name__}.")
    text: str = value.strip() if field in _TEXT_LIMITS else value
    if (required if nonblank is None else nonblank) and not text:
        raise ValidationError(f"{field} cannot be empty.")
    limit = _TEXT_LIMITS.get(field)
    if limit is not None and len(text) > limit:
        raise ValidationError(f"{field} is {len(text)} characters long; the most allowed is {limit}.")
    return text


def _timestamp(field: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{field}={value!r} is not an ISO 8601 date or date-time.") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value
        try:
            return value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # an offset at the ends of datetime's range (year 1 or 9999)
            raise ValidationError(
                f"{field}={value.isoformat()} is out of range; use years 1-9999 in UTC."
            ) from None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise ValidationError(f"{field} must be an ISO 8601 date-time, not {type(value).__name__}.")


def _number(field: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValidationError(f"{field} must be a non-negative number, not {value!r}.")
    return float(value)


def _tag_names(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValidationError("tags must be a list of tag names.")
    names: list[str] = []
    for raw in value:
        if not isinstance(raw, str) or not raw.strip():
            raise ValidationError(f"Tag {raw!r} is not a non-empty text.")
        name = raw.strip()
        if len(name) > MAX_TAG_LENGTH:
            raise ValidationError(f"Tag {name[:20]!r}... is longer than {MAX_TAG_LENGTH} characters.")
        if name in names:
            raise ValidationError(f"Tag {name!r} is listed twice for one item; list each tag once.")
        names.append(name)
    return names


def _refs(value: Any) -> list[int | str]:
    if not isinstance(value, list | tuple):
        raise ValidationError("depends_on must be a list of work item ids or keys.")
    refs: list[int | str] = []
    for raw in value:
        if (
            isinstance(raw, bool)
            or not isinstance(raw, int | str)
            or (isinstance(raw, str) and not raw.strip())
        ):
            raise ValidationError(f"Dependency {raw!r} is not a work item id or key.")
        ref: int | str = int(raw) if isinstance(raw, str) and is_id(raw.strip()) else raw
        ref = ref.strip() if isinstance(ref, str) else ref
        if ref in refs:
            raise ValidationError(f"Dependency {ref!r} is listed twice; list each dependency once.")
        refs.append(ref)
    return refs


def _checklist(field: str, flag: str, value: Any) -> list[tuple[str, bool]]:
    if not isinstance(value, list | tuple):
        raise ValidationError(f"{field} must be a list of texts or {{'text': ..., '{flag}': bool}} objects.")
    rows: list[tuple[str, bool]] = []
    for entry in value:
        text, done = (entry, False) if isinstance(entry, str) else (None, False)
        if isinstance(entry, Mapping):
            unknown = set(entry) - {"text", flag}
            if unknown:
                raise ValidationError(
                    f"Unknown keys {sorted(unknown)} in a {field} entry; use 'text' and '{flag}'."
                )
            text, done = entry.get("text"), entry.get(flag, False)
        if not isinstance(text, str) or not text.strip() or not isinstance(done, bool):
            raise ValidationError(
                f"Invalid {field} entry {entry!r}: needs a non-empty text and a boolean {flag}."
            )
        rows.append((text.strip(), done))
    return rows


def _validate(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Check types and vocabularies without touching the database; returns cleaned values."""
    if not isinstance(data, Mapping):
        raise ValidationError("The work item data must be an object of field: value pairs.")
    allowed = CREATABLE_FIELDS if creating else UPDATABLE_FIELDS
    unknown = sorted(set(data) - allowed)
    if unknown:
        hint = " (keys cannot be changed)" if "key" in unknown and not creating else ""
        raise ValidationError(
            f"Unknown or read-only fields {unknown}{hint}; allowed: {', '.join(sorted(allowed))}."
        )
    if creating and "title" not in data:
        raise ValidationError("title is required to create a work item.")
    clean: dict[str, Any] = {}
    for field, value in data.items():
        if field == "title":
            clean[field] = _text(field, value, required=True)
        elif field == "key":
            key = _text(field, value, required=True)
            if key is not None and (len(key) > 64 or is_id(key)):
                raise ValidationError(f"key {key!r} must be 1-64 characters and not all digits.")
            clean[field] = key
        elif field == "type":
            clean[field] = _text(field, value, required=True)
        elif field == "status":
            clean[field] = check_status(value)
        elif field == "priority":
            clean[field] = check_priority(value)
        elif field in _OPTIONAL_TEXT:
            # A description may be empty (its default) but not null.
            clean[field] = _text(field, value, required=field == "description", nonblank=False)
        elif field in ("due_date", "created_at"):
            clean[field] = _timestamp(field, value)
            if field == "created_at" and clean[field] is None:
                raise ValidationError("created_at cannot be null; leave it out to use the current time.")
        elif field in _NUMBERS:
            clean[field] = _number(field, value)
        elif field in _FLAGS:
            if not isinstance(value, bool):
                raise ValidationError(f"{field} must be true or false, not {value!r}.")
            clean[field] = value
        elif field == "project":
            clean[field] = _text(field, value, required=False)
        elif field == "parent":
            clean[field] = None if value is None else _refs([value])[0]
        elif field == "tags":
            clean[field] = _tag_names(value)
        elif field == "depends_on":
            clean[field] = _refs(value)
        elif field == "criteria":
            clean[field] = _checklist(field, "done", value)
        elif field == "blockers":
            clean[field] = _checklist(field, "resolved", value)
    return clean


def _resolve_refs(conn: Connection, refs: Sequence[int | str]) -> list[int]:
    """Ids for ids/keys in order; ``NotFoundError`` naming every missing one (1 statement)."""
    if not refs:
        return []
    ids = [r for r in refs if isinstance(r, int)]
    keys = [r for r in refs if isinstance(r, str)]
    found: dict[int | str, int] = {}
    stmt = select(work_items.c.id, work_items.c.key).where(
        work_items.c.id.in_(ids) | work_items.c.key.in_(keys)
    )
    for item_id, key in conn.execute(stmt):
        found[item_id] = item_id
        found[key] = item_id
    missing = [r for r in refs if r not in found]
    if missing:
        raise MissingReferenceError(
            f"Dependencies not found: {missing}; create those work items first or fix the refs."
        )
    return [found[r] for r in refs]


def _project_id(conn: Connection, key: str | None) -> int | None:
    if key is None:
        return None
    project_id = conn.execute(select(projects.c.id).where(projects.c.key == key)).scalar()
    if project_id is None:
        raise MissingReferenceError(
            f"No project with key {key!r}; create it first or use an existing project key."
        )
    return int(project_id)


def _tag_ids(conn: Connection, names: list[str]) -> list[int]:
    """Get-or-create tags by name (2 statements; safe against concurrent creators)."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        dialect_insert(tags)
        .values([{"name": n} for n in names])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    by_name: dict[str, int] = {
        name: tag_id
        for name, tag_id in conn.execute(select(tags.c.name, tags.c.id).where(tags.c.name.in_(names)))
    }
    return [by_name[n] for n in names]


def _replace_relations(conn: Connection, item_id: int, clean: Mapping[str, Any], *, fresh: bool) -> None:
    if "tags" in clean:
        if not fresh:
            conn.execute(delete(work_item_tags).where(work_item_tags.c.work_item_id == item_id))
        if clean["tags"]:
            tag_ids = _tag_ids(conn, clean["tags"])
            conn.execute(insert(work_item_tags), [{"work_item_id": item_id, "tag_id": t} for t in tag_ids])
    if "depends_on" in clean:
        # An id and a key may name the same item: it is one dependency.
        dep_ids = list(dict.fromkeys(_resolve_refs(conn, clean["depends_on"])))
        if item_id in dep_ids:
            raise ConflictError("A work item cannot depend on itself; remove it from depends_on.")
        if not fresh and reaches(conn, dep_ids, item_id):
            raise ConflictError(
                "These dependencies would create a cycle (one of them already depends on this item, "
                "directly or through others); remove that dependency."
            )
        if not fresh:
            conn.execute(delete(dependencies).where(dependencies.c.work_item_id == item_id))
        if dep_ids:
            conn.execute(
                insert(dependencies), [{"work_item_id": item_id, "depends_on_id": d} for d in dep_ids]
            )
    for field, table, flag in (("criteria", criteria, "done"), ("blockers", blockers, "resolved")):
        if field in clean:
            if not fresh:
                conn.execute(delete(table).where(table.c.work_item_id == item_id))
            rows = [
                {"work_item_id": item_id, "position": i, "text": text, flag: done}
                for i, (text, done) in enumerate(clean[field], start=1)
            ]
            if rows:
                conn.execute(insert(table), rows)


def _parent_id(conn: Connection, ref: int | str) -> int:
    try:
        return resolve_item_id(conn, ref)
    except NotFoundError:
        raise MissingReferenceError(
            f"No parent work item {ref!r}; create it first or fix the parent id or key."
        ) from None


def _column_values(conn: Connection, clean: Mapping[str, Any], item_id: int | None) -> dict[str, Any]:
    values = {k: v for k, v in clean.items() if k not in _RELATIONS and k not in ("project", "parent")}
    if "project" in clean:
        values["project_id"] = _project_id(conn, clean["project"])
    if "parent" in clean:
        parent = clean["parent"]
        values["parent_id"] = None if parent is None else _parent_id(conn, parent)
        if item_id is not None and values["parent_id"] == item_id:
            raise ConflictError("A work item cannot be its own parent; pick another parent or null.")
    return values


def create_work_item(
    target: Session | Connection,
    data: Mapping[str, Any],
    *,
    clock: Clock = SYSTEM_CLOCK,
    savepoint: bool = True,
) -> dict[str, Any]:
    """Create a work item (with tags, dependencies, criteria, blockers) and return it as
    ``get_work_item`` does. Without ``key`` it gets ``WI-<id:06d>``.

    ``savepoint``: see ``_atomic``."""
    clean = _validate(data, creating=True)
    conn = _connection(target)
    try:
        with _atomic(conn, savepoint):
            bump_revision(conn)
            key = clean.get("key")
            if key is not None and key in clean.get("depends_on", []):
                raise ConflictError("A work item cannot depend on itself; remove it from depends_on.")
            if (
                key is not None
                and conn.execute(select(work_items.c.id).where(work_items.c.key == key)).first()
            ):
                raise ConflictError(
                    f"A work item with key {key!r} already exists; pick another key or omit it."
                )
            values = _column_values(conn, clean, None)
            now = _now(clock)
            values.setdefault("created_at", now)
            values["updated_at"] = now
            values.setdefault("status", "todo")
            values.setdefault("priority", "medium")
            values.setdefault("type", "task")
            values.setdefault("description", "")
            values.setdefault("is_draft", False)
            values.setdefault("archived", False)
            values["key"] = key or f"pending-{uuid.uuid4().hex}"
            item_id = int(
                conn.execute(insert(work_items).values(values).returning(work_items.c.id)).scalar_one()
            )
            if key is None:
                conn.execute(
                    update(work_items)
                    .where(work_items.c.id == item_id)
                    .values(key=f"WI-{item_id:06d}", updated_at=now)
                )
            _replace_relations(conn, item_id, clean, fresh=True)
    except sa_exc.IntegrityError as err:
        raise ConflictError(
            f"The work item conflicts with existing data ({type(err.orig).__name__}); reload and retry."
        ) from None
    return get_work_item(conn, item_id)


def update_work_item(
    target: Session | Connection,
    key_or_id: int | str,
    patch: Mapping[str, Any],
    *,
    clock: Clock = SYSTEM_CLOCK,
    savepoint: bool = True,
) -> dict[str, Any]:
    """Change the given fields of a work item; list fields (tags, depends_on, criteria,
    blockers) are replaced as a whole. Returns the item as ``get_work_item`` does.

    ``savepoint``: see ``_atomic``."""
    clean = _validate(patch, creating=False)
    conn = _connection(target)
    try:
        with _atomic(conn, savepoint):
            bump_revision(conn)
            item_id = resolve_item_id(conn, key_or_id)
            values = _column_values(conn, clean, item_id)
            values["updated_at"] = _now(clock)
            conn.execute(update(work_items).where(work_items.c.id == item_id).values(values))
            _replace_relations(conn, item_id, clean, fresh=False)
    except sa_exc.IntegrityError as err:
        raise ConflictError(
            f"The change conflicts with existing data ({type(err.orig).__name__}); reload and retry."
        ) from None
    return get_work_item(conn, item_id)
