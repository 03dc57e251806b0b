"""``%%sqltrace``: run a notebook cell under the statement tracer and show what it sent.

    %load_ext ailab

    %%sqltrace --explain --budget 3
    page = list_work_items(conn, tags_any=["api"])

The cell's statements are grouped by shape (``ailab.db.trace.statement_shape``) into a table of
count, total and max ms and share of the database time. Shapes run more than ``--threshold``
times are flagged N+1. ``--explain`` adds the plan of each SELECT shape's slowest run (SQLite
``EXPLAIN QUERY PLAN``, Postgres ``EXPLAIN``). ``--budget N`` (statements) and ``--budget-ms MS``
(database time) fail the cell when exceeded, so a notebook can assert them. The result is kept
in the notebook as ``_sqltrace`` (or the name given with ``--out``).
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from ailab.db.trace import N_PLUS_ONE_THRESHOLD, ShapeStats, Tracer, trace
from ailab.display import block, heading, note, pre, table
from ailab.errors import AilabError
from ailab.queries.explain import explain_sql

EXPLAINED_SHAPES = 10  # plans for the slowest SELECT shapes only: a plan per shape, not per run


class SqlBudgetExceeded(AilabError):
    """A ``%%sqltrace --budget`` cell sent more statements (or spent more database time) than allowed."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the budget line is the whole story.
        return [f"SqlBudgetExceeded: {self}"]


@dataclass(repr=False)
class SqlTrace:
    """What a traced cell sent: shapes, N+1 flags, plans, and the budget's verdict."""

    tracer: Tracer
    threshold: int = N_PLUS_ONE_THRESHOLD
    budget: int | None = None
    budget_ms: float | None = None
    plans: dict[str, str] = field(default_factory=dict)  # shape -> plan text

    @property
    def count(self) -> int:
        """How many statements the cell ran."""
        return self.tracer.count

    @property
    def total_ms(self) -> float:
        """The cell's database time, in milliseconds."""
        return self.tracer.total_ms

    @property
    def shapes(self) -> list[ShapeStats]:
        """The statements grouped by shape, most database time first."""
        return self.tracer.by_shape()

    @property
    def n_plus_one(self) -> list[ShapeStats]:
        """Shapes run more than ``threshold`` times."""
        return self.tracer.repeated(self.threshold)

    def over_budget(self) -> list[str]:
        """What exceeds the budget, one line each (empty: within budget or no budget)."""
        problems = []
        if self.budget is not None and self.count > self.budget:
            problems.append(f"{self.count} statements > budget {self.budget}")
        if self.budget_ms is not None and self.total_ms > self.budget_ms:
            problems.append(f"{self.total_ms:.2f} ms in the database > budget {self.budget_ms:g} ms")
        return problems

    def explain(self, limit: int = EXPLAINED_SHAPES) -> None:
        """Fill ``plans`` for the slowest SELECT shapes, on the engine each one ran on."""
        for st in self.shapes:
            if len(self.plans) >= limit:
                break
            example = st.example
            if example.engine is None or example.executemany:
                continue
            if not st.shape.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            try:
                with example.engine.connect() as conn:
                    self.plans[st.shape] = explain_sql(conn, example.sql, example.params)
            except DBAPIError as err:  # e.g. a temporary table gone since: say so in place of the plan
                self.plans[st.shape] = f"(no plan: {type(err.orig).__name__}: {err.orig})"

    def _verdict(self) -> str:
        problems = self.over_budget()
        if problems:
            return "over budget: " + "; ".join(problems)
        budget = [f"{self.budget} statements" if self.budget is not None else ""]
        budget.append(f"{self.budget_ms:g} ms" if self.budget_ms is not None else "")
        within = " and ".join(b for b in budget if b)
        return f"within budget ({within})" if within else ""

    def _rows(self) -> list[list[object]]:
        return [
            [
                st.count,
                f"{st.total_ms:.2f}",
                f"{st.max_ms:.2f}",
                f"{st.share:.0%}",
                "N+1" if st.repeated(self.threshold) else "",
                st.shape[:400],
            ]
            for st in self.shapes[:50]
        ]

    def _repr_html_(self) -> str:
        shapes = self.shapes
        flagged = self.n_plus_one
        parts = [
            table(
                ["count", "total ms", "max ms", "share", "flag", "statement shape"],
                self._rows(),
                caption=f"%%sqltrace: {self.count} statements, {len(shapes)} shapes, "
                f"{self.total_ms:.2f} ms in the database",
                verdict_columns=[4],
                code_columns=[5],
            )
        ]
        if flagged:
            parts.append(
                note(
                    f"N+1: {len(flagged)} shape(s) ran more than {self.threshold} times; "
                    "fetch them in one statement for all items instead of one per item."
                )
            )
        verdict = self._verdict()
        if verdict:
            color = "#c62828" if self.over_budget() else "#0a7d32"
            parts.append(f'<div style="color:{color};font-weight:600">{verdict}</div>')
        for shape, plan in self.plans.items():
            parts += [heading("EXPLAIN " + shape[:160]), pre(plan)]
        return block(*parts)

    def __repr__(self) -> str:
        lines = [f"%%sqltrace: {self.count} statements, {len(self.shapes)} shapes, {self.total_ms:.2f} ms"]
        for row in self._rows():
            count, total, peak, share, flag, shape = row
            lines.append(f"{count:>6} {total:>9} ms {peak:>8} ms {share:>4} {flag:>3}  {str(shape)[:120]}")
        if self._verdict():
            lines.append(self._verdict())
        for shape, plan in self.plans.items():
            lines += [f"EXPLAIN {shape[:120]}", *("  " + line for line in plan.splitlines())]
        return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The ``%%sqltrace`` option parser (no ``-h``; ``exit_on_error=False`` so ``parse_line`` can report)."""
    p = argparse.ArgumentParser(prog="%%sqltrace", add_help=False, exit_on_error=False)
    p.add_argument("--explain", action="store_true", help="show the plan of each SELECT shape")
    p.add_argument("--budget", type=int, default=None, help="fail the cell above N statements")
    p.add_argument("--budget-ms", type=float, default=None, help="fail the cell above MS database time")
    p.add_argument("--threshold", type=int, default=N_PLUS_ONE_THRESHOLD, help="N+1 above this count")
    p.add_argument("--out", default="_sqltrace", help="the notebook variable that keeps the result")
    return p


def parse_line(line: str) -> argparse.Namespace:
    """The magic's options; a bad line raises a ``ConfigError`` that says what is accepted."""
    from ailab.errors import ConfigError

    try:
        args, unknown = parser().parse_known_args(shlex.split(line))
    except (argparse.ArgumentError, ValueError) as err:
        raise ConfigError(f"%%sqltrace {line!r}: {err}. {USAGE}") from None
    if unknown:
        raise ConfigError(f"%%sqltrace does not know {' '.join(unknown)!r}. {USAGE}")
    if not args.out.isidentifier():
        raise ConfigError(f"%%sqltrace --out {args.out!r} is not a Python name. {USAGE}")
    return args


USAGE = "Usage: %%sqltrace [--explain] [--budget N] [--budget-ms MS] [--threshold N] [--out NAME]"


def run_traced(shell: Any, line: str, cell: str) -> SqlTrace:
    """Run ``cell`` in ``shell``'s namespace under the tracer; display the result; enforce the budget."""
    from IPython.display import display

    args = parse_line(line)
    code = shell.transform_cell(cell)  # IPython syntax (other magics, !commands) works inside too
    with trace() as tracer:
        shell.ex(compile(code, "<%%sqltrace>", "exec"))
    result = SqlTrace(tracer, threshold=args.threshold, budget=args.budget, budget_ms=args.budget_ms)
    if args.explain:
        result.explain()
    shell.user_ns[args.out] = result
    display(result)  # type: ignore[no-untyped-call]
    problems = result.over_budget()
    if problems:
        raise SqlBudgetExceeded("; ".join(problems) + f" (the cell's trace is kept as {args.out}).")
    return result
