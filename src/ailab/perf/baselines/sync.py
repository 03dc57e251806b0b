"""The old GitHub sync, kept only to be measured against: one call per item, then ``sleep(1)``.

What the review found in ``github_integration.py``: every item is created with its own REST
call followed by ``time.sleep(1)``; nothing is batched, nothing is read first (so a rerun
creates duplicates), later edits are never pushed. ``old_push`` reproduces that pattern
faithfully (synchronous client, real sleep) against the simulator, for the report's baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from ailab.sync.mapping import LocalItem


@dataclass(frozen=True)
class BaselineRun:
    """One ``old_push`` run: items pushed, wall-clock seconds, requests made."""

    items: int
    seconds: float
    requests: int

    @property
    def ms_per_item(self) -> float:
        """Wall-clock milliseconds per item (sleeps included); NaN for no items."""
        return self.seconds * 1000 / self.items if self.items else float("nan")

    @property
    def requests_per_item(self) -> float:
        """Requests per item; NaN for no items."""
        return self.requests / self.items if self.items else float("nan")


def old_push(
    api_url: str,
    token: str,
    repository: str,
    items: Sequence[LocalItem],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> BaselineRun:
    """Create one issue per item, one request each, sleeping a second after each (the old code)."""
    started = time.perf_counter()
    requests = 0
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30.0) as client:
        for item in items:
            client.post(
                f"/repos/{repository}/issues",
                json={"title": item.title, "body": item.description, "labels": list(item.tags)},
            ).raise_for_status()
            requests += 1
            sleep(1)  # the old "rate limiting"
    return BaselineRun(len(items), time.perf_counter() - started, requests)
