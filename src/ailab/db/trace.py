"""A query tracer that sees every statement on every engine (like sqlite-utils' tracer).

    with trace() as t:
        run_queries()
    assert t.count <= 3, t.statements

One listener pair is installed on the ``Engine`` class once; it looks up the active tracers in a
context variable, so it costs one ``ContextVar.get`` per statement when nothing is traced, and
tracing follows a request into worker threads (Starlette copies the context).

``Tracer.by_shape()`` groups the statements by shape (the SQL with literals and placeholders
normalised, so the same query with other values is one row) and ``Tracer.repeated()`` names the
shapes run more often than a threshold: the N+1 pattern. In a notebook a tracer displays itself as
that table (``%%sqltrace`` in ``ailab.notebook`` wraps a cell in one).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# A shape run more often than this in one trace is flagged as an N+1 pattern.
N_PLUS_ONE_THRESHOLD = 10
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass(frozen=True)
class TracedStatement:
    """One statement run while a tracer was active, with its parameters and duration."""

    sql: str
    params: Any
    duration_ms: float
    executemany: bool
    engine: Engine | None = field(default=None, compare=False, repr=False)  # for EXPLAIN afterwards

    @property
    def shape(self) -> str:
        """The statement's ``statement_shape``."""
        return statement_shape(self.sql)


_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_PLACEHOLDER = re.compile(r"%\([^)]+\)s|%s|\$\d+|(?<![:\w]):[A-Za-z_]\w*|\?")
_PLACEHOLDER_LIST = re.compile(r"\?(?:\s*,\s*\?)+")


def statement_shape(sql: str) -> str:
    """The SQL with whitespace collapsed, literals and placeholders as ``?``, and lists as ``?, ...``.

    The same query with other values (or another number of values in an ``IN`` list) has one shape.
    """
    text = " ".join(sql.split())
    text = _STRING.sub("?", text)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    return _PLACEHOLDER_LIST.sub("?, ...", text)


@dataclass(frozen=True)
class ShapeStats:
    """One statement shape in a trace: how often it ran and how much database time it took."""

    shape: str
    count: int
    total_ms: float
    max_ms: float
    share: float  # of the whole trace's database time, 0..1
    example: TracedStatement  # the slowest execution, with its parameters (for EXPLAIN)

    @property
    def transaction_control(self) -> bool:
        """Whether the shape is transaction control (``BEGIN``, ``COMMIT``, savepoints): never an N+1."""
        return self.shape.lstrip().upper().startswith(_TRANSACTION_CONTROL)

    def repeated(self, threshold: int = N_PLUS_ONE_THRESHOLD) -> bool:
        """Run more than ``threshold`` times: one query per item of something (N+1)."""
        return self.count > threshold and not self.transaction_control


@dataclass
class Tracer:
    """Collects the statements run while it is active."""

    keep_params: bool = True
    statements: list[TracedStatement] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many statements ran."""
        return len(self.statements)

    @property
    def total_ms(self) -> float:
        """The database time of all statements, in milliseconds."""
        return sum(s.duration_ms for s in self.statements)

    def record(self, stmt: TracedStatement) -> None:
        """Add one statement (the engine listener calls this)."""
        self.statements.append(stmt)

    def summary(self) -> str:
        """The count and total time, then each statement with its duration, one per line."""
        lines = [f"{self.count} statements, {self.total_ms:.2f} ms"]
        lines += [f"  {s.duration_ms:8.3f} ms  {' '.join(s.sql.split())[:200]}" for s in self.statements]
        return "\n".join(lines)

    def by_shape(self) -> list[ShapeStats]:
        """The statements grouped by shape, most database time first."""
        groups: dict[str, list[TracedStatement]] = {}
        for s in self.statements:
            groups.setdefault(s.shape, []).append(s)
        total = self.total_ms
        stats = [
            ShapeStats(
                shape=shape,
                count=len(runs),
                total_ms=(spent := sum(r.duration_ms for r in runs)),
                max_ms=max(r.duration_ms for r in runs),
                share=spent / total if total > 0 else 0.0,
                example=max(runs, key=lambda r: r.duration_ms),
            )
            for shape, runs in groups.items()
        ]
        return sorted(stats, key=lambda st: (-st.total_ms, -st.count))

    def repeated(self, threshold: int = N_PLUS_ONE_THRESHOLD) -> list[ShapeStats]:
        """The shapes run more than ``threshold`` times: N+1 patterns."""
        return [st for st in self.by_shape() if st.repeated(threshold)]

    def _repr_html_(self) -> str:
        from ailab.display import block, note, table

        rows = [
            [
                st.count,
                f"{st.total_ms:.2f}",
                f"{st.max_ms:.2f}",
                f"{st.share:.0%}",
                "N+1" if st.repeated() else "",
                st.shape[:400],
            ]
            for st in self.by_shape()[:50]
        ]
        shapes = len(self.by_shape())
        return block(
            table(
                ["count", "total ms", "max ms", "share", "flag", "statement shape"],
                rows,
                caption=f"{self.count} statements, {shapes} shapes, {self.total_ms:.2f} ms in the database",
                verdict_columns=[4],
                code_columns=[5],
            ),
            note(f"N+1: the same shape run more than {N_PLUS_ONE_THRESHOLD} times.") if shapes else "",
        )


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
        tracer.record(TracedStatement(statement, params, elapsed_ms, executemany, conn.engine))


_installed = False


def _install() -> None:
    global _installed
    if not _installed:
        event.listen(Engine, "before_cursor_execute", _before)
        event.listen(Engine, "after_cursor_execute", _after)
        _installed = True


_install()
