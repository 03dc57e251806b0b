"""``ailab db ...``: migrations and demo data.

``current`` and ``check`` (without ``--repair``) only read: they open the database through
``ailab.db.readonly``. ``downgrade`` and ``seed`` into existing data ask first (``--yes``,
``--append``).
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ailab.cli.steps import animated
from ailab.db.engine import get_engine
from ailab.db.readonly import readonly_engine
from ailab.errors import ConfirmationRequiredError

db_app = typer.Typer(help="Database schema and data.", no_args_is_help=True)
console = Console()

DatabaseUrlOption = typer.Option(None, "--database-url", help="Database URL (default: AILAB_DATABASE_URL).")


@db_app.command("upgrade")
def upgrade_cmd(
    revision: str = typer.Argument("head", help="Target revision."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from ailab.db.migrate import current_revision, upgrade

    engine = get_engine(database_url)
    upgrade(engine, revision)
    console.print(f"schema at revision {current_revision(engine)} ({engine.url.render_as_string()})")


@db_app.command("downgrade")
def downgrade_cmd(
    revision: str = typer.Argument(..., help="Target revision, e.g. base."),
    yes: bool = typer.Option(False, "--yes", help="Drop tables that hold rows without asking."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Revert migrations down to REVISION. Tables that would lose rows are listed; dropping them
    needs --yes (or a 'y' at the prompt on a terminal)."""
    from ailab.db.migrate import current_revision, downgrade, tables_dropped_by_downgrade

    engine = get_engine(database_url)
    dropped = tables_dropped_by_downgrade(engine, revision)
    rows = sum(dropped.values())
    if dropped:
        listing = ", ".join(f"{table} ({n:,} rows)" for table, n in dropped.items())
        console.print(f"downgrading to {revision} drops {len(dropped)} tables: {listing}", soft_wrap=True)
    if rows and not yes and not _confirmed(f"Drop {rows:,} rows in {len(dropped)} tables?"):
        raise ConfirmationRequiredError(
            f"Not downgraded: it would drop {rows:,} rows in {len(dropped)} tables (listed above). "
            "Back them up first, then rerun with --yes."
        )
    downgrade(engine, revision)
    now = current_revision(engine)
    console.print(f"schema at revision {now or 'base (no ailab tables)'}")


def _confirmed(question: str) -> bool:
    # Only a person at a terminal can say yes; scripts must pass the flag.
    return sys.stdin.isatty() and typer.confirm(question, default=False)


@db_app.command("current")
def current_cmd(database_url: str | None = DatabaseUrlOption) -> None:
    """Show the schema revision of the database (only reads: SQLite opens read-only)."""
    from ailab.db.migrate import current_revision, head_revision

    current = current_revision(readonly_engine(database_url))
    console.print(f"current: {current}  head: {head_revision()}")


@db_app.command("seed")
def seed_cmd(
    items: int = typer.Option(1000, "--items", min=1, help="How many work items to create."),
    seed: int = typer.Option(42, "--seed", help="Random seed (same seed, same data)."),
    append: bool = typer.Option(False, "--append", help="Add demo data to a database that has items."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Fill the database with deterministic, realistic demo data (into existing items: --append)."""
    from ailab.db.migrate import upgrade
    from ailab.db.seed import count_work_items, seed_database

    engine = get_engine(database_url)
    upgrade(engine)
    existing = count_work_items(engine)
    if existing and not append:
        raise ConfirmationRequiredError(
            f"Not seeded: {engine.url.render_as_string(hide_password=True)} already holds {existing:,} "
            "work items, and demo data would mix with them. Rerun with --append to add it anyway, "
            "or point --database-url at an empty database."
        )
    result = seed_database(engine, items=items, seed=seed, progress=animated(console))
    console.print(result.describe())


@db_app.command("check")
def check_cmd(
    repair: bool = typer.Option(False, "--repair", help="Recompute the derived data if any of it is off."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Check the derived data the triggers keep (dashboard counts, tag index) against the rows.

    Without --repair it only reads (SQLite opens read-only)."""
    from ailab.db import derived
    from ailab.db.migrate import require_head
    from ailab.db.revision import bump_revision
    from ailab.db.session import connect

    engine = get_engine(database_url) if repair else readonly_engine(database_url)
    require_head(engine)
    with connect(engine) as conn:
        off = derived.drift(conn)
    for what, n in off.items():
        differ = f"{n:,} value differs" if n == 1 else f"{n:,} values differ"
        console.print(f"{what}: {'exact' if n == 0 else differ + ' from the rows'}")
    if not any(off.values()):
        return
    if not repair:
        console.print("[red]Derived data is off[/red]; rerun with --repair to recompute it from the rows.")
        raise typer.Exit(1)
    with connect(engine, readonly=False) as conn:
        derived.rebuild(conn)
        bump_revision(conn)
    console.print("recomputed from the rows")


def register(app: typer.Typer) -> None:
    """Mount the ``ailab db`` command group on ``app``."""
    app.add_typer(db_app, name="db")
