"""Opaque keyset cursors: the (created_at, id) of the last row of a page, url-safe base64.

A keyset cursor, unlike OFFSET, costs the same on page 1 and page 2,000, and rows inserted
between two requests neither duplicate nor skip rows on the following pages.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import orjson

from ailab.errors import ValidationError

_VERSION = 1
_BAD_CURSOR = (
    "Invalid cursor {cursor!r}: pass the next_cursor value of a previous page unchanged, "
    "or leave it out for the first page."
)


def encode_cursor(created_at: datetime, item_id: int) -> str:
    """An opaque, URL-safe keyset cursor for the page after the row (created_at, id)."""
    raw = orjson.dumps([_VERSION, created_at.isoformat(), item_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """``(created_at, id)`` from a cursor; ``ValidationError`` if it is not one of ours."""
    shown = cursor if len(cursor) <= 80 else cursor[:77] + "..."
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, created, item_id = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if version != _VERSION or not isinstance(item_id, int) or isinstance(item_id, bool):
            raise ValueError("unexpected cursor content")
        return datetime.fromisoformat(created), item_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError, UnicodeEncodeError):
        raise ValidationError(_BAD_CURSOR.format(cursor=shown)) from None
