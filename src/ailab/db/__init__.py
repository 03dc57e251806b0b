"""The pooled data layer: one engine per URL, sessions, a tracer, the schema and migrations."""

from ailab.db.engine import dispose_all, get_engine
from ailab.db.session import connect, session, session_dependency
from ailab.db.trace import Tracer, trace

__all__ = ["Tracer", "connect", "dispose_all", "get_engine", "session", "session_dependency", "trace"]
