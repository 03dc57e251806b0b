"""What the simulator received and answered, so tests and reports can count requests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SimCounters:
    """Request counts since the simulator started (or since ``reset()``).

    Keys of ``received`` are ``"METHOD /route/template"``, e.g.
    ``"POST /repos/{owner}/{repo}/issues"`` or ``"POST /graphql"``; every request that reached
    the app is counted there, including refused and faulted ones.
    """

    received: Counter[str] = field(default_factory=Counter)
    """Every request, by method + route template."""
    status: Counter[int] = field(default_factory=Counter)
    """Every answer, by HTTP status (transport faults are not answers: see ``faults``)."""
    graphql_operations: Counter[str] = field(default_factory=Counter)
    """Admitted GraphQL documents by operation type: ``"query"`` / ``"mutation"``."""
    graphql_operation_names: Counter[str] = field(default_factory=Counter)
    """Admitted GraphQL documents by ``operationName`` (or the operation's own name), when named."""
    graphql_fields: Counter[str] = field(default_factory=Counter)
    """Admitted GraphQL root fields, ``"mutation.createIssue"``, ``"query.repository"``
    (each alias counts once: 10 aliased createIssue = 10)."""
    rate_limited: Counter[str] = field(default_factory=Counter)
    """Refusals by reason: ``primary``, ``graphql_primary``, ``secondary_points``,
    ``secondary_content_minute``, ``secondary_content_hour``, ``concurrency``."""
    faults: Counter[str] = field(default_factory=Counter)
    """Injected faults by ``FaultKind`` value."""
    writes: int = 0
    """Writes applied: REST POST/PATCH/DELETE that succeeded + GraphQL mutation fields without error."""
    content_created: int = 0
    """Content-creating operations admitted (create issue/label, add blocked-by/sub-issue)."""
    not_modified: int = 0
    """304 answers (they do not count against the primary limit)."""
    unauthorized: int = 0
    """401 answers (bad or missing token)."""
    max_in_flight: int = 0
    """Highest number of requests in flight at once."""

    @property
    def total(self) -> int:
        """Requests received, all routes."""
        return sum(self.received.values())

    @property
    def refused(self) -> int:
        """Answers refused by any rate limit (403 or 429)."""
        return sum(self.rate_limited.values())

    def reset(self) -> None:
        """Zero every counter."""
        for counter in (
            self.received,
            self.status,
            self.graphql_operations,
            self.graphql_operation_names,
            self.graphql_fields,
            self.rate_limited,
            self.faults,
        ):
            counter.clear()
        self.writes = self.content_created = self.not_modified = self.unauthorized = self.max_in_flight = 0
