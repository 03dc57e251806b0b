"""Choosing a value when the old system kept it twice, and fitting values to the new columns.

A generation 1 row can say when it was created three times (``created_date``, ``created_at`` and
``data.created_at``); a generation 2 row whose ``notes`` hold the original record says its title
twice. ``choose`` takes the first non-blank candidate in a documented order and accounts for the
others: the same value is a ``duplicate``; a different one is kept in ``extra.conflicts`` and
reported. ``vocabulary`` maps statuses and priorities; ``fit_lengths`` keeps over-long texts whole
in ``extra.overflow`` when a column must hold a shortened copy.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import String, Table

from ailab.legacy.rows import EmbeddedRecord, RowContext, is_blank, jsonable
from ailab.legacy.values import null_text, parse_datetime, parse_float, parse_json

Candidate = tuple[str, Any]  # (source field name, raw value)


def candidates(
    row: RowContext, emb: EmbeddedRecord | None, column: str | None, *keys: str
) -> list[Candidate]:
    """The column (when the layout has it), then the embedded record's keys (when present)."""
    if emb is None:  # the common case, kept cheap: this runs for every field of every row
        return [(column, row.values[column])] if column is not None and column in row.values else []
    found: list[Candidate] = []
    if column is not None and column in row.values:
        found.append((column, row.values[column]))
    data, prefix = emb.data, emb.column + "."
    for key in keys:
        if key in data:
            emb.handled.add(key)
            found.append((prefix + key, data[key]))
    return found


def account_blank(row: RowContext, name: str, raw: Any) -> None:
    """Account a blank value: a NULL-like text is recorded as mapped to NULL, an empty one as empty."""
    if null_text(raw):
        row.mapped(name, raw, "NULL")
    else:
        row.out(name, "empty")


def _normalised(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text[:1] in ("[", "{"):
        parsed, problem = parse_json(text)
        if problem is None:
            return parsed
    if text[:4].isdigit() and len(text) >= 8:
        when, problem = parse_datetime(text)
        if problem is None:
            return when
    number, problem = parse_float(text)
    return number if problem is None else text


def same_value(a: Any, b: Any) -> bool:
    """True when two copies of a value are the same, also after normalizing text, numbers and dates."""
    return bool(a == b or _normalised(a) == _normalised(b))


def conflict(row: RowContext, name: str, value: Any, dest: str) -> None:
    """Keep a copy that disagrees with the imported value in ``extra.conflicts``, and report it."""
    where = row.keep_extra(name, value, name, group="conflicts")
    row.anomaly(
        name,
        "conflicting_copies",
        jsonable(value),
        f"differs from the value imported into {dest}",
        f"kept in {where}",
    )


def choose(row: RowContext, found: list[Candidate], dest: str) -> Candidate | None:
    """The first non-blank candidate (None if there are none); the others are accounted here."""
    if len(found) < 2:
        return found[0] if found else None
    chosen = next((c for c in found if not is_blank(c[1])), found[0])
    for name, raw in found:
        if name == chosen[0]:
            continue
        if is_blank(raw):
            account_blank(row, name, raw)
        elif same_value(raw, chosen[1]):
            row.out(name, f"duplicate -> {dest}")
        else:
            conflict(row, name, raw, dest)
    return chosen


def read_text(row: RowContext, chosen: Candidate | None, dest: str) -> str | None:
    """Read the chosen candidate as text into ``dest``; a JSON list or object is kept raw and reported."""
    if chosen is None:
        return None
    name, raw = chosen
    if isinstance(raw, list | dict):
        row.keep_unreadable(name, raw, "not_text", f"a JSON {type(raw).__name__}, not text")
        return None
    return row.text(name, value=raw, dest=dest)


def read_date(row: RowContext, chosen: Candidate | None, dest: str) -> Any:
    """Read the chosen candidate as a date into ``dest`` (None when nothing was chosen)."""
    return None if chosen is None else row.datetime(chosen[0], value=chosen[1], dest=dest)


def read_number(row: RowContext, chosen: Candidate | None, dest: str, *, whole: bool = False) -> Any:
    """Read the chosen candidate as a number into ``dest`` (None when nothing was chosen)."""
    return None if chosen is None else row.number(chosen[0], value=chosen[1], whole=whole, dest=dest)


def vocabulary(
    row: RowContext, chosen: Candidate | None, mapper: Callable[[str], str | None], default: str, field: str
) -> str:
    """A status or priority in the documented vocabulary; the original kept in ``extra.legacy``."""
    if chosen is None:
        return default
    name, raw = chosen
    if is_blank(raw):
        row.mapped(name, raw, default)
        return default
    if not isinstance(raw, str):
        row.keep_unreadable(name, raw, f"unknown_{field}", f"a {type(raw).__name__}, not a {field}")
        return default
    new = mapper(raw)
    if new == raw:
        row.out(name, f"imported -> {row.target}.{field}")
        return raw
    row.extra.setdefault("legacy", {})[field] = raw
    if new is None:
        row.mapped(name, raw, f"{default} (not in the map)")
        row.anomaly(
            name,
            f"unknown_{field}",
            raw,
            f"{raw!r} is not a documented {field} and the vocabulary map has no entry for it",
            f"stored as {default!r}; original kept in extra.legacy.{field}",
        )
        return default
    row.mapped(name, raw, new)
    return new


@cache
def _text_limits(table: Table) -> tuple[tuple[str, int], ...]:
    return tuple(
        (c.name, c.type.length) for c in table.columns if isinstance(c.type, String) and c.type.length
    )


def fit_lengths(row: RowContext, values: dict[str, Any], table: Table) -> None:
    """Shorten texts longer than their column; keep the whole text in ``extra.overflow``."""
    for name, length in _text_limits(table):
        value = values.get(name)
        if not isinstance(value, str) or len(value) <= length:
            continue
        row.extra.setdefault("overflow", {})[name] = value
        values[name] = value[:length]
        row.anomaly(
            name,
            "too_long",
            value,
            f"{len(value)} characters; {table.name}.{name} holds {length}",
            f"first {length} characters stored; the whole text kept in extra.overflow.{name}",
        )
