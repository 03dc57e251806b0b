"""Fault injection: seeded random faults and scripted "fail the Nth request matching X" rules."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass

import httpx

from ailab.sync.simulator.config import FaultConfig, FaultKind, FaultRule


class SimulatedConnectionReset(httpx.ReadError):
    """Raised out of the ASGI app for a RESET fault: in-process clients see a transport error."""


class SimulatedTimeout(httpx.ReadTimeout):
    """Raised out of the ASGI app for TIMEOUT_AFTER_WRITE, after the request was applied."""


SIMULATED_TRANSPORT_FAULTS = (SimulatedConnectionReset, SimulatedTimeout)


@dataclass(frozen=True)
class Fault:
    """One fault to inject into a request: its kind and the HTTP status it answers with."""

    kind: FaultKind
    status: int


class _RuleState:
    __slots__ = ("matched", "rule")

    def __init__(self, rule: FaultRule) -> None:
        self.rule = rule
        self.matched = 0

    def matches(self, method: str, route: str, graphql_fields: Collection[str]) -> bool:
        """Whether the request fits the rule: same method and route, the rule's GraphQL field among
        ``graphql_fields`` (each check skipped where the rule leaves it unset)."""
        rule = self.rule
        return (
            (rule.method is None or rule.method == method)
            and (rule.route is None or rule.route == route)
            and (rule.graphql_field is None or rule.graphql_field in graphql_fields)
        )


class FaultInjector:
    """Decides, per admitted request, whether and how it fails.

    Scripted rules are checked first (every matching rule counts the request, the first one due
    fires); then, if no rule fired, one seeded random draw is made for eligible requests.
    """

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._rules = [_RuleState(rule) for rule in config.rules]

    def add(self, rule: FaultRule) -> None:
        """Script one more rule; its Nth counts matching requests from now on."""
        self._rules.append(_RuleState(rule))

    def clear(self) -> None:
        """Forget all scripted rules (random rates stay as configured)."""
        self._rules.clear()

    @property
    def active(self) -> bool:
        """True when any rule or random fault rate is set (the fast path skips fault checks otherwise)."""
        return bool(self._rules) or self.config.random_enabled

    def pick(self, method: str, route: str, graphql_fields: Collection[str], is_write: bool) -> Fault | None:
        """The fault for this request, if a rule matches it (counting its n-th match) or a random draw hits."""
        fault: Fault | None = None
        for state in self._rules:
            if state.matches(method, route, graphql_fields):
                state.matched += 1
                rule = state.rule
                if fault is None and rule.nth <= state.matched < rule.nth + rule.times:
                    fault = Fault(rule.kind, rule.status or self.config.server_error_status)
        cfg = self.config
        if fault is None and cfg.random_enabled and (is_write or not cfg.writes_only):
            draw = self._rng.random()
            for kind, rate in (
                (FaultKind.SERVER_ERROR, cfg.server_error_rate),
                (FaultKind.SERVER_ERROR_AFTER_WRITE, cfg.server_error_after_write_rate),
                (FaultKind.TIMEOUT_AFTER_WRITE, cfg.timeout_after_write_rate),
                (FaultKind.RESET, cfg.reset_rate),
            ):
                if draw < rate:
                    fault = Fault(kind, cfg.server_error_status)
                    break
                draw -= rate
        return fault
