"""Reads and writes of work items over the relational schema, in SQLAlchemy Core.

Functions take a ``Connection`` (``with ailab.db.connect() as conn``; writes need
``connect(readonly=False)`` or a ``session()``) and return plain dicts. Each has a statement
budget that the tests assert on SQLite and Postgres:

=========================  ==========================================================
``list_work_items``        1 (the page, with tags and dependency ids aggregated per row)
``get_work_item``          4 (item+project+GitHub link, tags, neighbours, checklists)
``summary``                2 (the kept counts, the kept tag counts: ailab.db.derived)
``transitive_blockers``    2 (resolve the item, one recursive CTE)
``current_revision``       1 (primary-key lookup; the dashboard's change check)
=========================  ==========================================================
"""

from ailab.db.revision import read_revision as current_revision
from ailab.queries._tables import MAX_ID, resolve_item_id
from ailab.queries.cursor import decode_cursor, encode_cursor
from ailab.queries.explain import explain
from ailab.queries.graph import DEFAULT_MAX_DEPTH, BlockerChain, blocker_chain, reaches, transitive_blockers
from ailab.queries.items import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, get_work_item, list_work_items
from ailab.queries.summary import summary
from ailab.queries.writes import CREATABLE_FIELDS, UPDATABLE_FIELDS, create_work_item, update_work_item

__all__ = [
    "CREATABLE_FIELDS",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_PAGE_SIZE",
    "MAX_ID",
    "MAX_PAGE_SIZE",
    "UPDATABLE_FIELDS",
    "BlockerChain",
    "Page",
    "blocker_chain",
    "create_work_item",
    "current_revision",
    "decode_cursor",
    "encode_cursor",
    "explain",
    "get_work_item",
    "list_work_items",
    "reaches",
    "resolve_item_id",
    "summary",
    "transitive_blockers",
    "update_work_item",
]
