"""Where the sync stands, from the database alone: ``/api/sync/status`` and the dashboard panel.

Per repository: the last push and pull, pending local changes, the watcher holding the lock,
GitHub's budget left and the items that failed (as the watcher last wrote them), and for the
webhook receiver the deliveries by state with the reasons of the latest failures. A handful of
indexed statements; nothing here talks to GitHub.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ailab.db import tables
from ailab.sync.webhooks import DELIVERIES

STATE = tables.github_sync_state
STATUS = tables.github_sync_status
LOCKS = tables.github_watch_locks
DELIVERY_STATES = ("pending", "applied", "stale", "deferred", "ignored", "failed")
RECENT_FAILURES = 20


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def sync_status(conn: Connection, *, webhooks_enabled: bool) -> dict[str, Any]:
    """The ``/api/sync/status`` document: per repository, then the webhook deliveries by state."""
    repos: dict[str, dict[str, Any]] = {}

    def repo(name: str) -> dict[str, Any]:
        return repos.setdefault(
            name,
            {
                "repository": name,
                "last_push_at": None,
                "last_pull_at": None,
                "last_poll_at": None,
                "pulled_until": None,
                "pending_local_changes": None,
                "needs_full_sync": False,
                "watcher": None,
                "budget": None,
                "failures": [],
            },
        )

    for name, pulled_until, pushed_at in conn.execute(
        select(STATE.c.repository, STATE.c.pulled_until, STATE.c.pushed_at)
    ):
        entry = repo(name)
        entry["pulled_until"], entry["last_push_at"] = _iso(pulled_until), _iso(pushed_at)
    for row in conn.execute(select(STATUS)).mappings():
        entry = repo(row["repository"])
        entry["last_push_at"] = _iso(row["last_push_at"]) or entry["last_push_at"]
        entry["last_pull_at"] = _iso(row["last_pull_at"])
        entry["last_poll_at"] = _iso(row["last_poll_at"])
        entry["pending_local_changes"] = row["pending_local"]
        entry["needs_full_sync"] = bool(row["needs_full"])
        if row["rate_limit"] is not None:
            entry["budget"] = {
                "remaining": row["rate_remaining"],
                "limit": row["rate_limit"],
                "reset_at": _iso(row["rate_reset_at"]),
            }
        entry["failures"] = orjson.loads(row["failures"]) if row["failures"] else []
    for name, holder, acquired, heartbeat in conn.execute(
        select(LOCKS.c.repository, LOCKS.c.holder, LOCKS.c.acquired_at, LOCKS.c.heartbeat_at)
    ):
        repo(name)["watcher"] = {"holder": holder, "since": _iso(acquired), "heartbeat_at": _iso(heartbeat)}
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    for status, n in conn.execute(select(DELIVERIES.c.status, func.count()).group_by(DELIVERIES.c.status)):
        counts[status] = int(n)
    last = conn.execute(select(func.max(DELIVERIES.c.received_at))).scalar()
    failures = [
        {
            "guid": guid,
            "event": event,
            "action": action,
            "reason": reason,
            "received_at": _iso(received),
        }
        for guid, event, action, reason, received in conn.execute(
            select(
                DELIVERIES.c.guid,
                DELIVERIES.c.event,
                DELIVERIES.c.action,
                DELIVERIES.c.reason,
                DELIVERIES.c.received_at,
            )
            .where(DELIVERIES.c.status == "failed")
            .order_by(DELIVERIES.c.id.desc())
            .limit(RECENT_FAILURES)
        )
    ]
    return {
        "repositories": [repos[k] for k in sorted(repos)],
        "deliveries": {
            "webhooks_enabled": webhooks_enabled,
            "counts": counts,
            "pending": counts["pending"],
            "last_received_at": _iso(last),
            "failures": failures,
        },
    }
