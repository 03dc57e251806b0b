"""Query plans per dialect, so tests and notebooks can show which index a query uses.

SQLite: ``EXPLAIN QUERY PLAN`` (one line per step, indented by nesting). Postgres: ``EXPLAIN``.
The statement is compiled and executed once as usual while its final SQL text and bound
parameters are captured, then the same text is run with the dialect's EXPLAIN prefix, so
the plan is the plan of exactly what the query function sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable


def explain(conn: Connection, stmt: Executable, params: Mapping[str, Any] | None = None) -> str:
    """The plan of ``stmt`` (run with ``params``) as text, one line per plan step."""
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", capture)
    try:
        conn.execute(stmt, dict(params or {})).close()
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    sql, sent = captured[-1]
    return explain_sql(conn, sql, sent)


def explain_sql(conn: Connection, sql: str, params: Any) -> str:
    """The plan of SQL text exactly as sent to the driver (e.g. a statement the tracer saw)."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
        depth: dict[int, int] = {0: -1}
        lines = []
        for node_id, parent, _unused, detail in rows:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + str(detail))
        return "\n".join(lines)
    return "\n".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
