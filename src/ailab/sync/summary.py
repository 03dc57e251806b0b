"""``SyncSummary``: what a sync run did, the exit code that tells it, and its ``--json`` form.

Exit codes (``ailab sync``; documented in the README):

* ``0`` every planned action finished (and the drift probe agreed, or the reconciliation it
  triggered finished);
* ``1`` some items failed or were left behind (each is named with the reason; the rest was
  done and saved): rerun, or fix what the reason says;
* ``2`` configuration or authentication error (nothing more could be done): fix and rerun;
* ``3`` stopped at GitHub's rate-limit budget with work left: rerun after ``rerun_after``;
* ``4`` ``--check`` found drift (listed item by item).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ailab.sync.apply import Outcome
from ailab.sync.plan import Conflict, Plan

EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_CONFIG = 2
EXIT_RATE_LIMITED = 3
EXIT_DRIFT = 4


@dataclass
class Stop:
    """Why a run ended before its plan did."""

    reason: str
    rate_limited: bool = False
    rerun_after: float | None = None  # epoch seconds, when GitHub said its budget resets

    def rerun_hint(self) -> str:
        """When to rerun: after ``rerun_after`` when GitHub named the reset, otherwise later."""
        if self.rerun_after is None:
            return "rerun later; the sync resumes where it stopped"
        when = datetime.fromtimestamp(self.rerun_after, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"rerun after {when}, when GitHub's budget resets; the sync resumes where it stopped"


@dataclass(repr=False)
class SyncSummary:
    """What a sync run did (or, for a dry run, would do)."""

    dry_run: bool = False
    created: int = 0
    recreated: int = 0  # items whose issue had vanished from GitHub and got a new one
    adopted: int = 0
    moved: int = 0  # links followed to an issue transferred to another repository (301)
    updated: int = 0
    closed: int = 0
    reopened: int = 0
    relinked: int = 0
    edges_added: int = 0
    edges_removed: int = 0
    pulled: int = 0
    unchanged: int = 0
    waiting: int = 0
    items: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # key -> why it failed
    left: dict[str, str] = field(default_factory=dict)  # key -> why it was not attempted
    recreated_keys: list[str] = field(default_factory=list)
    stop: Stop | None = None
    probe: dict[str, Any] = field(default_factory=dict)  # repository -> drift probe outcome
    requests: int = 0
    reads: int = 0
    writes: int = 0
    not_modified: int = 0
    write_requests: int = 0
    items_written: int = 0
    rate_limit_waits: int = 0
    rate_limit_seconds: float = 0.0
    refusals: int = 0  # 403/429/RATE_LIMITED answers GitHub gave (each was waited out and retried)
    pacing_seconds: float = 0.0
    seconds: float = 0.0
    plans: dict[str, Plan] = field(default_factory=dict)
    creation_grants: list[tuple[float, int]] = field(
        default_factory=list
    )  # (seconds into the run, creations)
    write_starts: list[float] = field(default_factory=list)  # seconds into the run of each write

    def __repr__(self) -> str:
        # Short on purpose: asyncio may repr the task holding this (10,000 plans) as its result.
        return (
            f"SyncSummary(items={self.items}, created={self.created}, updated={self.updated}, "
            f"unchanged={self.unchanged}, failed={len(self.failed)}, left={len(self.left)}, "
            f"requests={self.requests}, seconds={self.seconds:.2f})"
        )

    def add(self, outcome: Outcome) -> None:
        """Add one repository's ``Outcome`` (counts, failures, recreated keys) to the run's totals."""
        for name in (
            "created", "recreated", "adopted", "moved", "updated", "closed", "reopened", "relinked",
            "edges_added", "edges_removed", "write_requests", "items_written",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(outcome, name))
        self.failed.update(outcome.failed)
        self.recreated_keys.extend(sorted(outcome.recreated_keys))

    # -- the verdict -----------------------------------------------------------------------------
    @property
    def exit_code(self) -> int:
        """The exit code of the run (see above): rate-limited first, then anything left behind."""
        if self.stop is not None and self.stop.rate_limited:
            return EXIT_RATE_LIMITED
        if self.failed or self.left or self.stop is not None:
            return EXIT_ITEMS_FAILED
        return EXIT_OK

    @property
    def ok(self) -> bool:
        """Every planned action finished (exit code ``0``)."""
        return self.exit_code == EXIT_OK

    def verdict(self) -> str:
        """One line: what is left and what to do (or that everything was done)."""
        if self.ok:
            return "done: every planned action finished."
        behind = len(self.failed) + len(self.left)
        parts = [
            f"{behind:,} item(s) left behind ({len(self.failed):,} failed, {len(self.left):,} not attempted)"
        ]
        if self.stop is not None:
            parts.append(f"stopped early: {self.stop.reason}; {self.stop.rerun_hint()}")
        else:
            parts.append("rerun `ailab sync` to retry them, or fix what each reason says")
        return "; ".join(parts) + "."

    # -- output ----------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Items by what was done to them (the ``counts`` of the ``--json`` document)."""
        names = (
            "items", "created", "recreated", "adopted", "moved", "updated", "closed", "reopened",
            "relinked", "edges_added", "edges_removed", "pulled", "unchanged", "waiting",
        )  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (stable keys, for cron jobs and CI)."""
        data: dict[str, Any] = {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "failed": [{"item": k, "reason": v} for k, v in sorted(self.failed.items())],
            "left": [{"item": k, "reason": v} for k, v in sorted(self.left.items())],
            "recreated": sorted(self.recreated_keys),
            "conflicts": [
                {"item": c.key, "group": c.group, "winner": c.winner, "applied": c.applied}
                for c in self.conflicts
            ],
            "stopped": None
            if self.stop is None
            else {
                "reason": self.stop.reason,
                "rate_limited": self.stop.rate_limited,
                "rerun_after": _iso(self.stop.rerun_after),
            },
            "drift_probe": self.probe,
            "requests": {
                "total": self.requests,
                "reads": self.reads,
                "writes": self.writes,
                "not_modified": self.not_modified,
            },
            "waits": {
                "rate_limit": self.rate_limit_waits,
                "rate_limit_seconds": round(self.rate_limit_seconds, 3),
                "refusals": self.refusals,
                "pacing_seconds": round(self.pacing_seconds, 3),
            },
            "seconds": round(self.seconds, 3),
            "verdict": self.verdict(),
        }
        if self.dry_run:
            data["plan"] = {repo: dict(sorted(plan.counts().items())) for repo, plan in self.plans.items()}
        return data

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        if self.dry_run:
            counts: dict[str, int] = {}
            for plan in self.plans.values():
                for kind, n in plan.counts().items():
                    counts[kind] = counts.get(kind, 0) + n
            planned = [(f"would {kind}" if kind not in ("unchanged", "waiting") else kind, f"{n:,}")
                       for kind, n in sorted(counts.items())]  # fmt: skip
            return [("items", f"{self.items:,}"), *planned, *self._cost_rows()]
        created = f"{self.created:,}"
        if self.adopted:
            created += f" (+{self.adopted:,} found by marker)"
        if self.recreated:
            created += f" (of which {self.recreated:,} recreated: their issue had vanished)"
        rows = [
            ("items", f"{self.items:,}"),
            ("created", created),
            ("updated", f"{self.updated:,}"),
            ("closed / reopened", f"{self.closed:,} / {self.reopened:,}"),
            ("relinked (edges +/-)", f"{self.relinked:,} ({self.edges_added:,} / {self.edges_removed:,})"),
            ("pulled", f"{self.pulled:,}"),
            ("unchanged", f"{self.unchanged:,}"),
        ]
        if self.moved:
            rows.append(("followed to another repository", f"{self.moved:,}"))
        if self.waiting:
            rows.append(("changed on GitHub, not pulled", f"{self.waiting:,} (run with --pull)"))
        for repository, probe in sorted(self.probe.items()):
            rows.append((f"drift probe {repository}", str(probe.get("verdict", ""))))
        rows += self._cost_rows()
        if self.failed:
            rows.append(("failed", f"{len(self.failed):,}"))
        if self.left:
            rows.append(("not attempted", f"{len(self.left):,}"))
        return rows

    def _cost_rows(self) -> list[tuple[str, str]]:
        return [
            ("requests (reads / writes, 304s)",
             f"{self.requests:,} ({self.reads:,} / {self.writes:,}, {self.not_modified:,})"),
            ("waits on rate limits", f"{self.rate_limit_waits} ({self.rate_limit_seconds:.1f} s)"),
            ("time", f"{self.seconds:.2f} s"),
        ]  # fmt: skip


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
