"""The documented vocabularies of work items. Anything else is rejected on write.

The legacy importer maps old values (``open``, ``completed``, ...) onto these; see
``ailab.legacy``. ``type`` is deliberately free text: the old data uses more types than its
comments listed, so it is indexed but not constrained.
"""

from __future__ import annotations

from typing import Final

from ailab.errors import ValidationError

STATUSES: Final = ("todo", "in_progress", "review", "blocked", "done", "cancelled")
PRIORITIES: Final = ("low", "medium", "high", "critical")
# Statuses that count as finished: they close the GitHub issue and do not block dependants.
CLOSED_STATUSES: Final = frozenset({"done", "cancelled"})
OPEN_STATUSES: Final = tuple(s for s in STATUSES if s not in CLOSED_STATUSES)


def check_status(value: object) -> str:
    """Return ``value`` as a string if it is one of ``STATUSES``; else raise ``ValidationError``."""
    if value not in STATUSES:
        raise ValidationError(f"Unknown status {value!r}; use one of: {', '.join(STATUSES)}.")
    return str(value)


def check_priority(value: object) -> str:
    """Return ``value`` as a string if it is one of ``PRIORITIES``; else raise ``ValidationError``."""
    if value not in PRIORITIES:
        raise ValidationError(f"Unknown priority {value!r}; use one of: {', '.join(PRIORITIES)}.")
    return str(value)
