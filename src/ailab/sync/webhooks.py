"""GitHub webhook deliveries in: the signature check, the parsed delivery and its durable record.

As GitHub documents it:

* ``X-Hub-Signature-256: sha256=<hex>`` is the HMAC-SHA256 of the raw body keyed with the
  webhook secret; it is compared in constant time, over the bytes received (never re-serialised).
* ``X-GitHub-Event`` names the event (``issues``, ``ping``, ...); ``X-GitHub-Delivery`` is a
  GUID that a redelivery keeps, so it is the replay key: the deliveries table is unique by it.
* GitHub wants a 2xx within 10 seconds and never retries by itself, so a delivery is recorded
  (committed) and acknowledged at once, and applied afterwards (``ailab.sync.deliveries``).

The body is kept in the database only; it never goes into a log line or an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ailab.db import tables
from ailab.errors import ValidationError
from ailab.sync.signing import sign, signature_ok
from ailab.sync.timestamps import parse_time

DELIVERIES = tables.github_webhook_deliveries
SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
_GUID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_EVENT_RE = re.compile(r"^[a-z_]{1,64}$")
__all__ = [
    "DELIVERIES",
    "Delivery",
    "parse_delivery",
    "payload_of",
    "record_delivery",
    "sign",
    "signature_ok",
]


@dataclass(frozen=True)
class Delivery:
    """What the receiver records of one delivery (``payload`` is the raw body as text)."""

    guid: str
    event: str
    action: str | None
    repository: str | None
    issue_number: int | None
    remote_updated_at: datetime | None
    payload: str


def parse_delivery(guid: str | None, event: str | None, body: bytes) -> Delivery:
    """Check the headers and the JSON body; ``ValidationError`` (no body content) when malformed."""
    if not guid or not _GUID_RE.match(guid):
        raise ValidationError(
            "X-GitHub-Delivery is missing or not a delivery GUID; GitHub sends one per event."
        )
    if not event or not _EVENT_RE.match(event):
        raise ValidationError("X-GitHub-Event is missing or not an event name (such as 'issues').")
    try:
        text = body.decode("utf-8")
        data = orjson.loads(body)
    except (UnicodeDecodeError, orjson.JSONDecodeError):
        raise ValidationError(
            "The delivery body is not UTF-8 JSON; set the webhook's content type to application/json."
        ) from None
    if not isinstance(data, dict):
        raise ValidationError("The delivery body is not a JSON object.")
    action = data.get("action") if isinstance(data.get("action"), str) else None
    repo = data.get("repository")
    repository = repo.get("full_name") if isinstance(repo, dict) else None
    issue = data.get("issue")
    number = issue.get("number") if isinstance(issue, dict) else None
    updated = issue.get("updated_at") if isinstance(issue, dict) else None
    try:
        remote_updated_at = parse_time(updated) if isinstance(updated, str) else None
    except ValueError:
        remote_updated_at = None
    return Delivery(
        guid=guid,
        event=event,
        action=action[:64] if action else None,
        repository=repository[:200] if isinstance(repository, str) else None,
        issue_number=number if isinstance(number, int) and not isinstance(number, bool) else None,
        remote_updated_at=remote_updated_at,
        payload=text,
    )


def record_delivery(conn: Connection, delivery: Delivery, received_at: datetime) -> bool:
    """Insert the delivery as ``pending``; False when its GUID was already recorded (a replay).

    One statement either way (``ON CONFLICT DO NOTHING``), so two copies arriving at once
    cannot both be recorded. No data revision bump: nothing the dashboard shows changed yet.
    """
    dialect_insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        dialect_insert(DELIVERIES)
        .values(
            guid=delivery.guid,
            event=delivery.event,
            action=delivery.action,
            repository=delivery.repository,
            issue_number=delivery.issue_number,
            remote_updated_at=delivery.remote_updated_at,
            payload=delivery.payload,
            status="pending",
            received_at=received_at,
        )
        .on_conflict_do_nothing(index_elements=["guid"])
    )
    return bool(conn.execute(stmt).rowcount)


def payload_of(text: str) -> dict[str, Any]:
    """A recorded delivery's payload as a dict (``{}`` when it is not a JSON object)."""
    data = orjson.loads(text)
    return data if isinstance(data, dict) else {}
