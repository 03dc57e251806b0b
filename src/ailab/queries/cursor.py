"""Keyset cursors: the (created_at, id) of the last row of a page, as ``<microseconds>.<id>``.

A keyset cursor, unlike OFFSET, costs the same on page 1 and page 2,000, and rows inserted
between two requests neither duplicate nor skip rows on the following pages.

``created_at`` is counted in microseconds since 1970-01-01 (UTC, negative before). The format is
plain on purpose: every string of that shape names a position in the newest-first order (the
next page is what comes after it), so the API's schema can say exactly which cursors it accepts
(``^-?[0-9]{1,17}\\.[0-9]{1,18}$``) and accept every one of them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from ailab.errors import ValidationError

EPOCH = datetime(1970, 1, 1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_CURSOR = re.compile(r"-?[0-9]{1,17}\.[0-9]{1,18}")
_BAD_CURSOR = (
    "Invalid cursor {cursor!r}: pass the next_cursor value of a previous page unchanged, "
    "or leave it out for the first page."
)


def encode_cursor(created_at: datetime, item_id: int) -> str:
    """The keyset cursor for the page after the row (created_at, id): ``<microseconds since epoch>.<id>``."""
    return f"{(created_at - EPOCH) // _ONE_MICROSECOND}.{item_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """``(created_at, id)`` from a cursor; ``ValidationError`` if it does not have the shape."""
    if not _CURSOR.fullmatch(cursor):
        shown = cursor if len(cursor) <= 80 else cursor[:77] + "..."
        raise ValidationError(_BAD_CURSOR.format(cursor=shown))
    micros, item_id = cursor.split(".")
    try:
        created_at = EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:  # beyond datetime's years 1-9999: the ends of the order
        created_at = datetime.min if micros.startswith("-") else datetime.max
    return created_at, int(item_id)
