"""One source row on its way into the new schema: every field read through here is accounted for.

``RowContext`` wraps a source row; its readers (``text``, ``datetime``, ``number``, ...) parse a
field, record where its value went (``ImportReport.accounting``) and report what could not be
stored. ``finish()`` sends any field no reader touched (a column the layout does not know, or one
the mapper forgot) to the row's ``extra`` JSON, so nothing is ever dropped silently.
``EmbeddedRecord`` does the same for the keys of a JSON object holding the whole original record
(generation 1's ``data`` column; some generation 2 rows keep it in ``notes``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from ailab.legacy.report import ImportReport
from ailab.legacy.values import (
    date_format,
    describe,
    null_text,
    parse_bool,
    parse_datetime,
    parse_float,
    parse_int,
    parse_json,
)


def is_blank(value: object) -> bool:
    """NULL, empty text, text meaning NULL, or an empty JSON list/object."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == "" or value in ("None", "null", "NULL", "[]", "{}")
    return isinstance(value, list | dict) and not value


def jsonable(value: Any) -> Any:
    """A source value as something JSON can hold (bytes as hex, datetimes as ISO text)."""
    if isinstance(value, bytes):
        return {"bytes_hex": value.hex()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class RowContext:
    """A source row plus what has become of each of its fields."""

    __slots__ = ("_acc", "_handled", "extra", "key", "report", "table", "target", "values")

    def __init__(self, table: str, target: str, key: str, values: dict[str, Any], report: ImportReport):
        self.table = table
        self.target = target
        self.key = key
        self.values = values
        self.report = report
        self.extra: dict[str, Any] = {}
        self._acc = report.fields_of(table)
        self._handled: set[str] = set()

    # --- accounting -------------------------------------------------------------------------

    def out(self, name: str, outcome: str, n: int = 1) -> None:
        """Account ``n`` values of field ``name`` as having gone to ``outcome``."""
        self._handled.add(name)
        key = (name, outcome)
        self._acc[key] = self._acc.get(key, 0) + n

    def anomaly(self, name: str, kind: str, value: Any, reason: str, action: str) -> None:
        """Report a value of field ``name`` that could not be stored as is."""
        self.report.add_anomaly(self.table, self.key, name, kind, value, reason, action)

    def mapped(self, name: str, source: object, target: str) -> None:
        """Record that field ``name``'s old value ``source`` was translated to ``target``."""
        self.report.map_value(self.table, name, describe(source), target, self.key)
        self.out(name, f"mapped -> {self.target}.{name}")

    def keep_extra(self, name: str, value: Any, key: str | None = None, *, group: str | None = None) -> str:
        """Store ``value`` in ``extra[key]`` (or ``extra[group][key]``); returns the destination."""
        key = key or name
        if group is None:
            self.extra[key] = jsonable(value)
            dest = f"{self.target}.extra.{key}"
        else:
            self.extra.setdefault(group, {})[key] = jsonable(value)
            dest = f"{self.target}.extra.{group}.{key}"
        self.out(name, f"extra -> {dest}")
        return dest

    def keep_unreadable(self, name: str, value: Any, kind: str, reason: str) -> None:
        """Keep a value that could not be parsed, raw, in ``extra.unparsed``, and report it."""
        dest = self.keep_extra(name, value, group="unparsed")
        self.anomaly(name, kind, jsonable(value), reason, f"raw value kept in {dest}")

    def finish(self) -> dict[str, Any] | None:
        """Send untouched fields to ``extra``; return the row's ``extra`` (None when empty)."""
        for name, value in self.values.items():
            if name in self._handled:
                continue
            if is_blank(value):
                self.out(name, "empty")
            else:
                self.keep_extra(name, value)
        return self.extra or None

    # --- readers ----------------------------------------------------------------------------

    def _absent(self, name: str, raw: Any) -> bool:
        """Record an empty value or a NULL text (``'None'``, ``'null'``): nothing to read."""
        if raw is None or raw == "":
            self.out(name, "empty")
            return True
        if null_text(raw):
            self.mapped(name, raw, "NULL")
            return True
        return False

    def text(self, name: str, *, value: Any = ..., dest: str | None = None) -> str | None:
        """A text field; ``'None'``/``'null'`` text and ``''`` become None (recorded)."""
        raw = self.values.get(name) if value is ... else value
        if self._absent(name, raw):
            return None
        if isinstance(raw, str):
            self.out(name, f"imported -> {dest or self.target + '.' + name}")
            return raw
        if isinstance(raw, bytes):
            self.keep_unreadable(name, raw, "not_utf8", "text that is not UTF-8")
            return None
        self.mapped(name, raw, "text")
        return str(raw)

    def datetime(self, name: str, *, value: Any = ..., dest: str | None = None) -> datetime | None:
        """Read a date field (or ``value``); an unreadable one is kept raw and reported, and None returned."""
        raw = self.values.get(name) if value is ... else value
        if self._absent(name, raw):
            return None
        formats = self.report.date_formats.setdefault(f"{self.table}.{name}", Counter())
        formats[date_format(raw)] += 1
        parsed, problem = parse_datetime(raw)
        if problem is not None:
            self.keep_unreadable(name, raw, "unparseable_date", problem)
            return None
        self.out(name, f"imported -> {dest or self.target + '.' + name}")
        return parsed

    def number(
        self, name: str, *, value: Any = ..., whole: bool = False, dest: str | None = None
    ) -> float | int | None:
        """Read a number field (or ``value``), whole when ``whole``; an unreadable one is kept raw and reported."""
        raw = self.values.get(name) if value is ... else value
        if self._absent(name, raw):
            return None
        parsed, problem = parse_int(raw) if whole else parse_float(raw)
        if problem is not None:
            self.keep_unreadable(name, raw, "not_a_number", problem)
            return None
        if isinstance(raw, str):
            self.mapped(name, raw, "number")
        else:
            self.out(name, f"imported -> {dest or self.target + '.' + name}")
        return parsed

    def boolean(self, name: str, *, value: Any = ..., default: bool) -> bool:
        """Read a boolean field (or ``value``); NULL or empty becomes ``default`` (the schema has no unknown)."""
        raw = self.values.get(name) if value is ... else value
        if raw is None or null_text(raw) or raw == "":
            # The new schema has no "unknown": NULL becomes the column default, as documented.
            self.mapped(name, raw, str(default).lower())
            return default
        parsed, problem = parse_bool(raw)
        if parsed is None:
            self.keep_unreadable(name, raw, "not_a_boolean", problem or "not a boolean")
            return default
        if isinstance(raw, int) and not isinstance(raw, bool):
            self.out(name, f"imported -> {self.target}.{name}")
        else:
            self.mapped(name, raw, str(parsed).lower())
        return parsed

    def json_value(self, name: str) -> tuple[Any, bool]:
        """A JSON column parsed; ``(value, ok)``. Blank -> ``(None, True)`` and recorded empty.

        Malformed JSON is kept raw in ``extra.unparsed`` and reported; the caller must not
        account the field again when ``ok`` is False.
        """
        raw = self.values.get(name)
        if self._absent(name, raw):
            return None, True
        parsed, problem = parse_json(raw)
        if problem is not None:
            self.keep_unreadable(name, raw, "malformed_json", problem)
            return None, False
        return parsed, True


class EmbeddedRecord:
    """The keys of a JSON object that holds a whole original record, accounted like columns."""

    __slots__ = ("column", "data", "handled", "row")

    def __init__(self, row: RowContext, column: str, data: dict[str, Any]):
        self.row = row
        self.column = column
        self.data = data
        self.handled: set[str] = set()

    def field_name(self, key: str) -> str:
        """How a key of the embedded record is named in the report: ``column.key``."""
        return f"{self.column}.{key}"

    def has(self, key: str) -> bool:
        """True when the record has ``key``."""
        return key in self.data

    def take(self, key: str) -> Any:
        """The value of ``key`` (None if absent), marked as read."""
        self.handled.add(key)
        return self.data.get(key)

    def out(self, key: str, outcome: str) -> None:
        """Account ``key``'s value as having gone to ``outcome``."""
        self.handled.add(key)
        self.row.out(self.field_name(key), outcome)

    def finish(self) -> None:
        """Send every key no reader took to the row's ``extra`` (blank ones are counted as empty)."""
        for key, value in self.data.items():
            if key in self.handled:
                continue
            name = self.field_name(key)
            if is_blank(value):
                self.row.out(name, "empty")
            elif key in self.row.extra:
                self.row.keep_extra(name, value, name)
            else:
                self.row.keep_extra(name, value, key)
