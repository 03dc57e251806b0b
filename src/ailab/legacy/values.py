"""Parsers for the values the old system stored: JSON text, dates in several formats, numbers and
booleans as text, and the text ``None`` where NULL was meant.

Each parser returns the parsed value and, when the value could not be read as-is, a short reason
(``None`` when all is well). They never guess: text that is not what the column promises is
reported by the caller, never turned into something plausible.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import orjson

# Text the old code wrote where it meant NULL (``str(None)`` and friends).
NULL_TEXTS = frozenset({"None", "null", "NULL"})

_DIGITS_TO_D = str.maketrans("0123456789", "dddddddddd")
_DOTTED_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_SLASHED_ISO_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_GITHUB_URL = re.compile(
    r"^(?:(?:https?://)?(?:www\.)?github\.com[/:]|git@github\.com:)"
    r"(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?"
    r"(?:/issues/(?P<number>\d+))?/?(?:[?#].*)?$"
)
_OWNER_NAME = re.compile(r"^(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<name>[A-Za-z0-9._-]+)$")
# Epoch values outside this window are not plausible timestamps of the old system.
_EPOCH_MIN, _EPOCH_MAX = 946_684_800, 4_102_444_800  # 2000-01-01 .. 2100-01-01


def null_text(value: object) -> bool:
    """Whether ``value`` is text that stands for NULL (``'None'``, ``'null'``)."""
    return isinstance(value, str) and value in NULL_TEXTS


def describe(value: object) -> str:
    """A short, exact rendering of a source value for mapping tables: ``'open'``, ``NULL``."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return repr(value) + (" (text)" if value in NULL_TEXTS else "")
    return repr(value)


def parse_json(value: object) -> tuple[Any, str | None]:
    """JSON text -> Python value. Non-text values are returned unchanged (already parsed)."""
    if not isinstance(value, str | bytes):
        return value, None
    try:
        return orjson.loads(value), None
    except orjson.JSONDecodeError:
        pass
    try:
        # The stdlib also reads NaN/Infinity, which the old Python code could have written.
        return json.loads(value), None
    except (ValueError, TypeError):
        return None, "not valid JSON"


def parse_datetime(value: object) -> tuple[datetime | None, str | None]:
    """A date or datetime in any format the old system wrote -> naive UTC datetime."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, "a boolean, not a date"
    if isinstance(value, int | float):
        seconds = value / 1000 if value > _EPOCH_MAX * 10 else value
        if _EPOCH_MIN <= seconds <= _EPOCH_MAX:
            return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None), None
        return None, "a number that is not a plausible epoch timestamp"
    if not isinstance(value, str):
        return None, f"a {type(value).__name__}, not a date"
    text = value.strip()
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _parse_other_formats(text)
    if parsed is None:
        return None, "not a date in any known format"
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed, None


def _parse_other_formats(text: str) -> datetime | None:
    # German-style day.month.year is unambiguous (dots); slashed dates only year-first.
    try:
        if m := _DOTTED_DATE.match(text):
            day, month, year, hour, minute, second = m.groups()
            return datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        if m := _SLASHED_ISO_DATE.match(text):
            return datetime(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    return None


def date_format(value: object) -> str:
    """The shape of a date value, for the report's "date formats seen": ``dddd-dd-ddTdd:dd:ddZ``."""
    if isinstance(value, str):
        return value.strip().translate(_DIGITS_TO_D)
    return f"<{type(value).__name__}>"


def parse_float(value: object) -> tuple[float | None, str | None]:
    """A number from a legacy value: (value, None), or (None, why it is not one). None stays None."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, "a boolean, not a number"
    if isinstance(value, int | float):
        return float(value), None
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ".")), None
        except ValueError:
            return None, "text that is not a number"
    return None, f"a {type(value).__name__}, not a number"


def parse_int(value: object) -> tuple[int | None, str | None]:
    """A whole number from a legacy value: (value, None), or (None, why it is not one)."""
    number, problem = parse_float(value)
    if number is None:
        return None, problem
    if number != int(number):
        return None, "not a whole number"
    return int(number), None


_TRUE = frozenset({"1", "true", "yes", "y", "t", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "off"})


def parse_bool(value: object) -> tuple[bool | None, str | None]:
    """A boolean from a legacy value (true/false, yes/no, on/off, 1/0, ...): (value, None), or (None, why not)."""
    if value is None or isinstance(value, bool):
        return value, None
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value), None
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True, None
        if lowered in _FALSE:
            return False, None
    return None, "not a boolean"


def github_repository(url: object) -> str | None:
    """``owner/name`` of a GitHub repository URL (https, ssh, or already ``owner/name``)."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    m = _GITHUB_URL.match(text) or _OWNER_NAME.match(text)
    return f"{m['owner']}/{m['name']}" if m else None


def github_issue_url(url: object) -> tuple[str, int] | None:
    """``(owner/name, number)`` of a GitHub issue URL, else None."""
    if not isinstance(url, str):
        return None
    m = _GITHUB_URL.match(url.strip())
    if not m or m["number"] is None:
        return None
    return f"{m['owner']}/{m['name']}", int(m["number"])
