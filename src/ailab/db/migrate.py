"""Alembic migrations shipped inside the package: ``ailab db upgrade`` works from a wheel."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from ailab.db.engine import WRITE_OPTION, get_engine
from ailab.errors import SchemaError

SCRIPT_LOCATION = "ailab.db:migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic ``Config`` for the packaged migrations and ``engine``'s URL (``%`` escaped for
    configparser)."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def _run(engine: Engine, fn: str, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.execution_options(**{WRITE_OPTION: True}).connect() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, fn)(cfg, revision)
        conn.commit()


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest)."""
    _run(engine or get_engine(), "upgrade", revision)


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (default: ``base``, no ailab tables at all)."""
    _run(engine or get_engine(), "downgrade", revision)


def current_revision(engine: Engine | None = None) -> str | None:
    """The revision the database is at, or ``None`` when it has no ailab schema."""
    engine = engine or get_engine()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this version ships, read from the migration scripts."""
    return ScriptDirectory.from_config(alembic_config(get_engine("sqlite://"))).get_current_head()


def is_up_to_date(engine: Engine | None = None) -> bool:
    """Whether the database is at ``head_revision()``."""
    return current_revision(engine) == head_revision()


def tables_dropped_by_downgrade(engine: Engine, revision: str) -> dict[str, int]:
    """The tables a downgrade to ``revision`` would drop, with their row counts.

    The schema at ``revision`` is built on a scratch in-memory SQLite; what the live database has
    beyond it is what the downgrade drops.
    """
    from sqlalchemy import create_engine, inspect, text

    live = set(inspect(engine).get_table_names()) - {"alembic_version"}
    kept: set[str] = set()
    if revision != "base":
        scratch = create_engine("sqlite://")
        try:
            with scratch.connect() as conn:
                cfg = alembic_config(scratch)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                kept = set(inspect(conn).get_table_names())
        finally:
            scratch.dispose()
    dropped = sorted(live - kept)
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar() or 0) for t in dropped}


def known_revisions() -> list[str]:
    """Every revision this version ships, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(get_engine("sqlite://")))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def require_head(engine: Engine, current: str | None = None) -> None:
    """Raise ``SchemaError`` unless the schema is at head, with the fix that applies."""
    current = current if current is not None else current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaError(
            f"{where} has no ailab schema yet. Run `ailab db upgrade --database-url ...` "
            "(and `ailab db seed` for demo data) first."
        )
    if current not in known_revisions():
        raise SchemaError(
            f"{where} is at schema revision {current!r}, which this ailab does not know (its newest is "
            f"{head}): a newer ailab migrated it. Use that version; `ailab db upgrade` cannot help."
        )
    raise SchemaError(
        f"{where} is at schema revision {current}, older than this ailab's {head}. "
        "Run `ailab db upgrade` with the same --database-url."
    )
