"""Alembic migrations shipped inside the package: ``ailab db upgrade`` works from a wheel."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from ailab.db.engine import WRITE_OPTION, get_engine

SCRIPT_LOCATION = "ailab.db:migrations"


def alembic_config(engine: Engine) -> Config:
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
    _run(engine or get_engine(), "downgrade", revision)


def current_revision(engine: Engine | None = None) -> str | None:
    engine = engine or get_engine()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config(get_engine("sqlite://"))).get_current_head()


def is_up_to_date(engine: Engine | None = None) -> bool:
    return current_revision(engine) == head_revision()
