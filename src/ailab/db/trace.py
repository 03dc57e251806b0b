"""A query tracer that sees every statement on every engine (like sqlite-utils' tracer).

    with trace() as t:
        run_queries()
    assert t.count <= 3, t.statements

One listener pair is installed on the ``Engine`` class once; it looks up the active tracers in a
context variable, so it costs one ``ContextVar.get`` per statement when nothing is traced, and
tracing follows a request into worker threads (Starlette copies the context).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class TracedStatement:
    sql: str
    params: Any
    duration_ms: float
    executemany: bool


@dataclass
class Tracer:
    """Collects the statements run while it is active."""

    keep_params: bool = True
    statements: list[TracedStatement] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def total_ms(self) -> float:
        return sum(s.duration_ms for s in self.statements)

    def record(self, stmt: TracedStatement) -> None:
        self.statements.append(stmt)

    def summary(self) -> str:
        lines = [f"{self.count} statements, {self.total_ms:.2f} ms"]
        lines += [f"  {s.duration_ms:8.3f} ms  {' '.join(s.sql.split())[:200]}" for s in self.statements]
        return "\n".join(lines)


_active: ContextVar[tuple[Tracer, ...]] = ContextVar("ailab_tracers", default=())
_START_KEY = "ailab_trace_start"


@contextmanager
def trace(keep_params: bool = True) -> Iterator[Tracer]:
    """Record every statement executed in this context (nested tracers all see them)."""
    _install()
    tracer = Tracer(keep_params=keep_params)
    token = _active.set((*_active.get(), tracer))
    try:
        yield tracer
    finally:
        _active.reset(token)


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if _active.get():
        conn.info.setdefault(_START_KEY, []).append(time.perf_counter())


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    tracers = _active.get()
    if not tracers:
        return
    starts = conn.info.get(_START_KEY)
    if not starts:
        return
    elapsed_ms = (time.perf_counter() - starts.pop()) * 1000.0
    for tracer in tracers:
        params = parameters if tracer.keep_params and not executemany else None
        tracer.record(TracedStatement(statement, params, elapsed_ms, executemany))


_installed = False


def _install() -> None:
    global _installed
    if not _installed:
        event.listen(Engine, "before_cursor_execute", _before)
        event.listen(Engine, "after_cursor_execute", _after)
        _installed = True


_install()
