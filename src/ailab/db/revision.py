"""The data revision: one counter every write path bumps in its own transaction.

A cache (the dashboard summary) tells whether anything changed with one primary-key lookup.
Both statements are plain SQL: the cheapest SQLAlchemy runs (and the tracer still sees them).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

BUMP_SQL = "UPDATE data_revision SET revision = revision + 1 WHERE id = 1"
READ_SQL = "SELECT revision FROM data_revision WHERE id = 1"


def bump_revision(conn: Connection) -> None:
    """Mark a change; on Postgres this also locks the row, so writers commit one at a time."""
    conn.exec_driver_sql(BUMP_SQL)


def read_revision(conn: Connection) -> int:
    return int(conn.exec_driver_sql(READ_SQL).scalar() or 0)
