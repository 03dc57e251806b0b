"""JSON list fields: tags, dependencies, acceptance criteria, blockers and leftover lists.

Each reader takes a source field (a JSON text column, or a value already parsed from an embedded
record), keeps what fits the new schema and reports, value by value, what does not: malformed
JSON, a JSON object where a list was meant, elements of the wrong kind, blank or duplicate
elements, and texts too long for their column.
"""

from __future__ import annotations

from typing import Any

from ailab.legacy.rows import RowContext, jsonable
from ailab.legacy.values import parse_bool

TAG_NAME_MAX = 100
CRITERION_TEXT_KEYS = ("text", "description", "title", "criterion", "name")
CRITERION_DONE_KEYS = ("done", "completed", "checked", "met", "resolved", "status")
DONE_STATUSES = frozenset({"done", "completed", "complete", "resolved", "closed", "met", "fixed"})
NOT_DONE_STATUSES = frozenset({"open", "todo", "pending", "not_met", "unmet", "unresolved", "active"})


def read_list(row: RowContext, name: str, value: Any = ...) -> list[Any] | None:
    """A JSON list from ``name`` (or from ``value`` when given); None when blank or unreadable.

    Blank and unreadable values are accounted here; the caller accounts the elements.
    """
    if value is ...:
        parsed, ok = row.json_value(name)
        if not ok or parsed is None:
            return None
    else:
        parsed = value
        if parsed is None:
            row.out(name, "empty")
            return None
    if isinstance(parsed, list):
        if not parsed:
            row.out(name, "empty")
            return None
        return parsed
    if isinstance(parsed, str) and parsed.strip():
        # A bare JSON string where a list was meant: one element, recorded as a mapping.
        row.report.map_value(row.table, name, "a JSON string", "one-element list", row.key)
        return [parsed]
    row.keep_unreadable(name, parsed, "not_a_list", f"a JSON {type(parsed).__name__}, not a list")
    return None


def _report_elements(row: RowContext, name: str, items: list[Any], kind: str, reason: str) -> None:
    if items:
        where = row.keep_extra(name, items, name, group="unparsed_elements")
        row.anomaly(name, kind, [jsonable(i) for i in items], reason, f"kept in {where}")
        # keep_extra counted the field once; count the remaining elements too.
        if len(items) > 1:
            row.out(name, f"extra -> {row.target}.extra.unparsed_elements.{name}", len(items) - 1)


def string_items(
    row: RowContext,
    name: str,
    items: list[Any],
    dest: str | None,
    *,
    max_len: int | None = None,
    seen: set[str] | None = None,
) -> list[str]:
    """The text elements of ``items``, de-duplicated in order; the rest reported.

    With ``dest`` None the caller accounts the kept elements (it decides where each goes).
    """
    seen = set() if seen is None else seen
    kept: list[str] = []
    odd: list[Any] = []
    duplicates = 0
    for item in items:
        if not isinstance(item, str) or not item.strip():
            odd.append(item)
        elif item in seen:
            duplicates += 1
        elif max_len is not None and len(item) > max_len:
            odd.append(item)
        else:
            seen.add(item)
            kept.append(item)
    if kept and dest is not None:
        row.out(name, f"imported -> {dest}", len(kept))
    if duplicates:
        row.out(name, f"duplicate -> {dest or 'an earlier element'}", duplicates)
    limit = f" or longer than {max_len} characters" if max_len else ""
    _report_elements(row, name, odd, "bad_list_element", f"not a non-blank text{limit}")
    return kept


def checklist_items(
    row: RowContext, name: str, items: list[Any], dest: str, flag: str
) -> list[tuple[str, bool]]:
    """Criteria or blockers: texts, or objects with a text and a done/resolved flag."""
    kept: list[tuple[str, bool]] = []
    odd: list[Any] = []
    for item in items:
        entry = _checklist_entry(item, flag)
        if entry is None:
            odd.append(item)
        else:
            kept.append(entry)
    if kept:
        row.out(name, f"imported -> {dest}", len(kept))
    _report_elements(
        row, name, odd, "bad_list_element", f"neither a text nor an object with a text and {flag}"
    )
    return kept


def _checklist_entry(item: Any, flag: str) -> tuple[str, bool] | None:
    if isinstance(item, str):
        return (item, False) if item.strip() else None
    if not isinstance(item, dict):
        return None
    texts = [k for k in CRITERION_TEXT_KEYS if isinstance(item.get(k), str) and item[k].strip()]
    flags = [k for k in CRITERION_DONE_KEYS if k in item]
    # Only objects whose every key is understood: anything else would lose its other keys.
    if len(texts) != 1 or len(flags) > 1 or set(item) - {texts[0], *flags}:
        return None
    done = False
    if flags:
        raw = item[flags[0]]
        if flags[0] == "status":
            status = raw.strip().lower() if isinstance(raw, str) else None
            if status not in DONE_STATUSES | NOT_DONE_STATUSES:
                return None
            done = status in DONE_STATUSES
        else:
            parsed, _problem = parse_bool(raw)
            if parsed is None:
                return None
            done = parsed
    return item[texts[0]], done
