"""What the API accepts: request bodies and the rules of its parameters, all in the schema.

Every rule the server enforces on a single value is stated here, so the OpenAPI document
predicts each 422: lengths match the columns, vocabularies are enums, lists have limits,
keys and references have patterns, and ``null`` is accepted exactly where it clears a value
(fields whose column cannot be empty take no ``null``: leave them out to keep them).

Text: any Unicode text except control characters. Multi-line fields (description, notes,
criteria, blockers) also take tab, line feed and carriage return; every other C0/C1 control
character is rejected with a 422, and so is an unpaired surrogate (not Unicode text at all,
and not storable in UTF-8). Accepted text is stored and returned unchanged, except that
single-line fields (title, type, assignee, ...) and tags lose surrounding whitespace.

The fast lane (``fastlane.py``) checks query parameters with the compiled patterns below;
what fails goes to FastAPI, which answers the 422 from these same declarations.

The rules that need the data (unknown project or dependency, a dependency cycle, a taken key)
stay in ``ailab.queries``: 404 and 409.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints

from ailab.queries import MAX_ID as _MAX_ID
from ailab.vocab import PRIORITIES, STATUSES

# Limits of the query parameters (app.py declares them, fastlane.py checks them: one number each).
MAX_PROJECT_PARAM_LENGTH = 64
MAX_Q_LENGTH = 200
MAX_CURSOR_LENGTH = 40
MAX_BLOCKER_DEPTH = 200
DEFAULT_BLOCKERS_LIMIT = 500
MAX_BLOCKERS_LIMIT = 5000

# Characters a single line may not hold: C0 and C1 controls (so also tab and line breaks).
_CTRL = r"\x00-\x1f\x7f-\x9f"
# Characters a multi-line text may not hold: controls other than tab, LF and CR.
_CTRL_MULTI = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
LINE_PATTERN = rf"^[^{_CTRL}]*$"
TEXT_PATTERN = rf"^[^{_CTRL_MULTI}]*$"
# Not blank: something other than whitespace (the server strips surrounding whitespace).
NONBLANK_LINE_PATTERN = rf"^\s*[^\s{_CTRL}][^{_CTRL}]*$"
NONBLANK_TEXT_PATTERN = rf"^\s*[^\s{_CTRL_MULTI}][^{_CTRL_MULTI}]*$"
# A key starts with a letter (so it is never taken for an id) and is safe in a URL path.
KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9._-]{0,63}$"
# A reference in a path: an id or a key, at most 64 characters, no whitespace, '/' or controls.
REF_PATTERN = rf"^[^\s/{_CTRL}]{{1,64}}$"
# A tag: no commas (filters separate tags with them), controls or surrounding whitespace.
_TAG = rf"[^,\s{_CTRL}](?:[^,{_CTRL}]*[^,\s{_CTRL}])?"
TAG_PATTERN = rf"^{_TAG}$"
TAG_LIST_PATTERN = rf"^{_TAG}(?:,{_TAG})*$"
STATUS_LIST_PATTERN = rf"^(?:{'|'.join(STATUSES)})(?:,(?:{'|'.join(STATUSES)}))*$"
PRIORITY_LIST_PATTERN = rf"^(?:{'|'.join(PRIORITIES)})(?:,(?:{'|'.join(PRIORITIES)}))*$"
# The keyset cursor: <created_at in microseconds since 1970>.<id>; empty = the first page.
CURSOR_PATTERN = r"^(?:-?[0-9]{1,17}\.[0-9]{1,18})?$"

# What breaking each pattern means, for the 422's message (pydantic would quote the regex).
PATTERN_MESSAGES = {
    LINE_PATTERN: "control characters (tab and line breaks too) are not allowed in this single-line text",
    TEXT_PATTERN: "control characters other than tab, line feed and carriage return are not allowed",
    NONBLANK_LINE_PATTERN: "must not be blank, and control characters (tab and line breaks too) "
    "are not allowed in this single-line text",
    NONBLANK_TEXT_PATTERN: "must not be blank, and control characters other than tab, line feed "
    "and carriage return are not allowed",
    KEY_PATTERN: "a key starts with a letter, then letters, digits, '.', '_' or '-' (64 at most)",
    REF_PATTERN: "pass a work item id (digits) or key, without spaces or '/'",
    TAG_PATTERN: "a tag has no commas, control characters or surrounding spaces",
    TAG_LIST_PATTERN: "tag names separated by commas, each without control characters or surrounding spaces",
    STATUS_LIST_PATTERN: f"use one or more of {', '.join(STATUSES)}, separated by commas",
    PRIORITY_LIST_PATTERN: f"use one or more of {', '.join(PRIORITIES)}, separated by commas",
    CURSOR_PATTERN: "pass the next_cursor of a previous page unchanged, or leave it out for the first page",
}

MAX_ID = _MAX_ID  # ids are 32-bit integers on Postgres
MAX_TAGS = 50
MAX_DEPENDENCIES = 100
MAX_CHECKLIST = 100
# A filter's values and their lengths are bounded so that every request the schema allows fits the
# server's request line (uvicorn refuses one over 64 KiB): at worst ~40 KiB, percent-encoded.
MAX_FILTER_VALUES = 10
MAX_TAG_FILTER_LENGTH = 150
MAX_VOCAB_FILTER_LENGTH = 100
# Each tag an item must have is one more EXISTS in the page query; Postgres took 0.4 s for 10 and
# 9 s for 50 (measured, 500 items). So `tag` names at most 5 tags, one per value (no comma lists).
MAX_ALL_TAGS = 5

Status = Literal["todo", "in_progress", "review", "blocked", "done", "cancelled"]
Priority = Literal["low", "medium", "high", "critical"]
assert get_args(Status) == STATUSES and get_args(Priority) == PRIORITIES  # one vocabulary

# RFC 3339 date-time, as `format: date-time` says: with a time and an offset (Z or +hh:mm).
DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    # pydantic alone would also take a Unix time (a number, or digits) or a date without time.
    if not isinstance(value, str) or not DATE_TIME.fullmatch(value):
        raise ValueError("use an RFC 3339 date-time with an offset, e.g. 2026-12-31T17:00:00Z")
    return value


def _integral(value: object) -> object:
    # JSON Schema's integer is any number without a fraction: 5.0 is one; "5" and true are not.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Scalars take exactly their JSON type: no "yes" for true, no false for 0 (pydantic's lax mode would).
Bool = Annotated[bool, Strict()]
DateTime = Annotated[datetime, BeforeValidator(_rfc3339)]
Line = Annotated[str, StringConstraints(pattern=LINE_PATTERN)]
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
NonBlankText = Annotated[str, StringConstraints(pattern=NONBLANK_TEXT_PATTERN)]
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN, max_length=64)]
ItemId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID), BeforeValidator(_integral)]
Ref = ItemId | Key
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN, max_length=100)]
Hours = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]

# Compiled for the fast lane: the same rules as the declarations above.
LINE = re.compile(LINE_PATTERN)
REF = re.compile(REF_PATTERN)
TAG = re.compile(TAG_PATTERN)
TAG_LIST = re.compile(TAG_LIST_PATTERN)
STATUS_LIST = re.compile(STATUS_LIST_PATTERN)
PRIORITY_LIST = re.compile(PRIORITY_LIST_PATTERN)
CURSOR = re.compile(CURSOR_PATTERN)


class CriterionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: NonBlankText
    done: Bool = False


class BlockerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: NonBlankText
    resolved: Bool = False


def _line(max_length: int, *, nonblank: bool = False) -> object:
    return StringConstraints(
        pattern=NONBLANK_LINE_PATTERN if nonblank else LINE_PATTERN, max_length=max_length
    )


# The default of a field that always has a value: "not sent", so its value stays (never stored).
OMITTED: Any = None


def _without_defaults(schema: dict[str, Any]) -> None:
    # An omitted field keeps its value; its Python default (None) is no value a client may send.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class WorkItemPatch(BaseModel):
    """Fields to change; omitted fields keep their values, list fields replace the whole list.
    ``null`` clears an optional field; fields that always have a value do not take it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_defaults)

    title: Annotated[str, _line(500, nonblank=True)] = OMITTED
    description: Text = OMITTED
    status: Status = OMITTED
    priority: Priority = OMITTED
    type: Annotated[str, _line(32, nonblank=True)] = OMITTED
    issue_type: Annotated[str, _line(32)] | None = None
    project: Annotated[str, _line(64)] | None = Field(None, description="Project key; null: no project.")
    parent: Ref | None = Field(None, description="Parent work item id or key; null: no parent.")
    assignee: Annotated[str, _line(200)] | None = None
    author: Annotated[str, _line(200)] | None = None
    due_date: DateTime | None = None
    estimated_hours: Hours | None = None
    actual_hours: Hours | None = None
    notes: Text | None = None
    file_path: Annotated[str, _line(500)] | None = None
    repository_url: Annotated[str, _line(500)] | None = None
    is_draft: Bool = OMITTED
    archived: Bool = OMITTED
    tags: list[Tag] = Field(
        OMITTED,
        max_length=MAX_TAGS,
        json_schema_extra={"uniqueItems": True},
        description="Tag names; created when new. Each at most once.",
    )
    depends_on: list[Ref] = Field(
        OMITTED,
        max_length=MAX_DEPENDENCIES,
        json_schema_extra={"uniqueItems": True},
        description="Ids or keys of items this one waits for.",
    )
    criteria: list[NonBlankText | CriterionIn] = Field(OMITTED, max_length=MAX_CHECKLIST)
    blockers: list[NonBlankText | BlockerIn] = Field(OMITTED, max_length=MAX_CHECKLIST)


class WorkItemCreate(WorkItemPatch):
    title: Annotated[str, _line(500, nonblank=True)]
    key: Key = Field(OMITTED, description="Default: WI-<id, 6 digits>.")
