"""``%load_ext ailab`` and ``%%sqltrace`` in an IPython shell, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab.db import trace
from ailab.db.trace import N_PLUS_ONE_THRESHOLD, statement_shape
from ailab.notebook.sqltrace import SqlBudgetExceeded, SqlTrace

N_PLUS_ONE_LOOP = """
ids = [i for (i,) in conn.execute(text("SELECT id FROM work_items ORDER BY id LIMIT 40"))]
tags = {}
for item_id in ids:  # one query per item: the N+1 pattern
    tags[item_id] = conn.execute(
        text("SELECT t.name FROM tags t JOIN work_item_tags wit ON wit.tag_id = t.id WHERE wit.work_item_id = :id"),
        {"id": item_id},
    ).scalars().all()
"""
ONE_STATEMENT_PAGE = "page = list_work_items(conn, limit=40)\n"


@pytest.fixture
def shell(seeded_engine: Engine) -> Iterator[InteractiveShell]:
    from ailab.queries import list_work_items

    ip = InteractiveShell.instance()
    with seeded_engine.connect() as conn:
        ip.user_ns.update(conn=conn, text=text, list_work_items=list_work_items)
        assert ip.run_cell("%load_ext ailab").success
        yield ip
    for name in ("conn", "_sqltrace", "loop", "page_trace"):
        ip.user_ns.pop(name, None)


def _run(ip: InteractiveShell, source: str) -> Any:
    return ip.run_cell(source)


def test_the_n_plus_one_loop_is_flagged_and_the_page_is_not(shell: InteractiveShell) -> None:
    result = _run(shell, "%%sqltrace --out loop\n" + N_PLUS_ONE_LOOP)
    assert result.success, result.error_in_exec
    loop: SqlTrace = shell.user_ns["loop"]
    flagged = loop.n_plus_one
    assert len(flagged) == 1 and flagged[0].count == 40
    assert "wit.work_item_id = ?" in flagged[0].shape
    assert "N+1" in loop._repr_html_() and "N+1" in repr(loop)

    result = _run(shell, "%%sqltrace --explain --budget 1 --out page_trace\n" + ONE_STATEMENT_PAGE)
    assert result.success, result.error_in_exec
    page: SqlTrace = shell.user_ns["page_trace"]
    selects = [s for s in page.tracer.statements if s.sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) == 1 and page.n_plus_one == []
    assert len(shell.user_ns["page"].items) == 40
    # --explain: the page's plan, from the database it ran on
    (plan,) = page.plans.values()
    assert plan.strip() and "EXPLAIN" in page._repr_html_() and "within budget" in page._repr_html_()


def test_budget_exceeded_fails_the_cell_without_a_traceback(shell: InteractiveShell) -> None:
    result = _run(shell, "%%sqltrace --budget 5\n" + N_PLUS_ONE_LOOP)
    assert not result.success
    err = result.error_in_exec
    assert isinstance(err, SqlBudgetExceeded)
    assert str(err).startswith(f"{shell.user_ns['_sqltrace'].count} statements > budget 5")
    assert err._render_traceback_() == [f"SqlBudgetExceeded: {err}"]  # what IPython shows: one line
    assert shell.user_ns["_sqltrace"].over_budget()  # the trace is kept for a look

    result = _run(shell, "%%sqltrace --budget-ms 0\n" + ONE_STATEMENT_PAGE)
    assert isinstance(result.error_in_exec, SqlBudgetExceeded)
    assert "in the database > budget 0 ms" in str(result.error_in_exec)


def test_errors_in_the_cell_and_bad_options(shell: InteractiveShell) -> None:
    result = _run(shell, "%%sqltrace\nraise ValueError('from the cell')")
    assert isinstance(result.error_in_exec, ValueError)  # the cell's own error, unchanged
    for line in ("--bogus", "--budget many", "--out 2x"):
        result = _run(shell, f"%%sqltrace {line}\nx = 1")
        assert isinstance(result.error_in_exec, UsageError), line
        assert "Usage: %%sqltrace" in str(result.error_in_exec)


def test_threshold_option_and_transaction_control(shell: InteractiveShell) -> None:
    result = _run(shell, f"%%sqltrace --threshold 40\n{N_PLUS_ONE_LOOP}")
    assert result.success and shell.user_ns["_sqltrace"].n_plus_one == []  # 40 is not above 40
    with trace() as t:
        for _ in range(N_PLUS_ONE_THRESHOLD + 5):
            shell.user_ns["conn"].exec_driver_sql("SAVEPOINT sp1")
            shell.user_ns["conn"].exec_driver_sql("RELEASE SAVEPOINT sp1")
    assert t.count == 2 * (N_PLUS_ONE_THRESHOLD + 5) and t.repeated() == []


def test_statement_shapes() -> None:
    assert statement_shape("SELECT *\n  FROM t WHERE id IN (?, ?, ?) AND k = 'it''s' LIMIT 50") == (
        "SELECT * FROM t WHERE id IN (?, ...) AND k = ? LIMIT ?"
    )
    assert statement_shape("SELECT a::text FROM t1 WHERE b = %(b_1)s AND c IN (%(c_1_1)s, %(c_1_2)s)") == (
        "SELECT a::text FROM t1 WHERE b = ? AND c IN (?, ...)"
    )
    assert (
        statement_shape("SELECT x FROM t WHERE y = $1 AND z = :name")
        == "SELECT x FROM t WHERE y = ? AND z = ?"
    )


def test_tracer_displays_its_shapes(seeded_engine: Engine) -> None:
    with seeded_engine.connect() as conn, trace() as t:
        for n in range(3):
            conn.execute(text("SELECT id FROM work_items WHERE id = :id"), {"id": n + 1}).all()
    (shape,) = [st for st in t.by_shape() if not st.transaction_control]  # SQLite also sends BEGIN
    assert shape.count == 3 and 0 < shape.share <= 1
    assert sum(st.share for st in t.by_shape()) == pytest.approx(1.0)
    html = t._repr_html_()
    assert (
        f"{t.count} statements, {len(t.by_shape())} shapes" in html
        and "SELECT id FROM work_items WHERE id = ?" in html
    )
    assert "<script" not in html and "http" not in html
