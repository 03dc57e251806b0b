"""GitHub's timestamps and the database's: ISO 8601 UTC text <-> naive UTC datetimes.

Apart from ``remote`` so the webhook receiver reads delivery times without importing the HTTP
client (the dashboard server imports it; httpx stays out of a server without webhooks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_ZERO = timedelta(0)


def parse_time(value: str | None) -> datetime | None:
    """GitHub's ISO 8601 UTC time -> a naive UTC datetime (the database's convention)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)  # Python 3.11 reads the trailing "Z" itself
    if parsed.tzinfo is None:
        return parsed
    return (parsed if parsed.utcoffset() == _ZERO else parsed.astimezone(UTC)).replace(tzinfo=None)


def format_time(value: datetime) -> str:
    """A UTC datetime in GitHub's ``since=`` format."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
