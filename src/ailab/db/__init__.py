"""The pooled data layer: one engine per URL, sessions, a tracer, the schema and migrations."""

from ailab.db.engine import get_engine
from ailab.db.session import connect, session
from ailab.db.trace import Tracer, trace

__all__ = ["Tracer", "connect", "get_engine", "session", "trace"]
