"""How the old system's statuses and priorities map onto the documented vocabulary.

The old code accepted any text. The documented values (``ailab.vocab``) are kept as they are;
the others map as listed below. Comparison ignores case, surrounding blanks, and ``-``/space vs
``_``. A value that is in neither list becomes the default (``todo`` / ``medium``) and is reported
as an anomaly. Either way the original value stays in the row's ``extra.legacy`` and in the
import report.

| old status | new status |
| --- | --- |
| open, new, backlog, planned, pending, not_started, proposed, ready | todo |
| active, doing, started, wip, in_work, ongoing | in_progress |
| in_review, testing, qa, under_review, needs_review | review |
| on_hold, waiting, stalled, paused | blocked |
| completed, complete, closed, resolved, finished, implemented, fixed, merged | done |
| canceled, wontfix, won_t_fix, rejected, abandoned, obsolete, duplicate | cancelled |

| old priority | new priority |
| --- | --- |
| urgent, blocker, highest, p0, showstopper | critical |
| major, p1, important | high |
| normal, p2, default | medium |
| minor, lowest, trivial, p3, p4 | low |
"""

from __future__ import annotations

from typing import Final

from ailab.vocab import PRIORITIES, STATUSES

DEFAULT_STATUS: Final = "todo"
DEFAULT_PRIORITY: Final = "medium"

STATUS_MAP: Final[dict[str, str]] = {
    **dict.fromkeys(
        ("open", "new", "backlog", "planned", "pending", "not_started", "proposed", "ready"), "todo"
    ),
    **dict.fromkeys(("active", "doing", "started", "wip", "in_work", "ongoing"), "in_progress"),
    **dict.fromkeys(("in_review", "testing", "qa", "under_review", "needs_review"), "review"),
    **dict.fromkeys(("on_hold", "waiting", "stalled", "paused"), "blocked"),
    **dict.fromkeys(
        ("completed", "complete", "closed", "resolved", "finished", "implemented", "fixed", "merged"),
        "done",
    ),
    **dict.fromkeys(
        ("canceled", "wontfix", "won_t_fix", "rejected", "abandoned", "obsolete", "duplicate"), "cancelled"
    ),
}

PRIORITY_MAP: Final[dict[str, str]] = {
    **dict.fromkeys(("urgent", "blocker", "highest", "p0", "showstopper"), "critical"),
    **dict.fromkeys(("major", "p1", "important"), "high"),
    **dict.fromkeys(("normal", "p2", "default"), "medium"),
    **dict.fromkeys(("minor", "lowest", "trivial", "p3", "p4"), "low"),
}


def _normalise(value: str) -> str:
    return value.strip().lower().replace("-", "_").replace(" ", "_").replace("'", "_")


def _lookup(value: str, documented: tuple[str, ...], table: dict[str, str]) -> str | None:
    key = _normalise(value)
    if key in documented:
        return key
    return table.get(key)


def map_status(value: str) -> str | None:
    """The documented status for an old one; None if the map has no entry for it."""
    return value if value in STATUSES else _lookup(value, STATUSES, STATUS_MAP)


def map_priority(value: str) -> str | None:
    """The documented priority for an old one; None if the map has no entry for it."""
    return value if value in PRIORITIES else _lookup(value, PRIORITIES, PRIORITY_MAP)


def mapping_table_markdown() -> str:
    """The map as Markdown, for the import report."""
    lines = ["| field | old value | new value |", "| --- | --- | --- |"]
    for field, table in (("status", STATUS_MAP), ("priority", PRIORITY_MAP)):
        by_target: dict[str, list[str]] = {}
        for old, new in table.items():
            by_target.setdefault(new, []).append(old)
        for new, olds in by_target.items():
            lines.append(f"| {field} | {', '.join(olds)} | {new} |")
    lines.append(f"| status | anything else | {DEFAULT_STATUS} (reported as an anomaly) |")
    lines.append(f"| priority | anything else | {DEFAULT_PRIORITY} (reported as an anomaly) |")
    return "\n".join(lines)
