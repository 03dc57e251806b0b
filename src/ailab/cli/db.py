"""``ailab db ...``: migrations and demo data."""

from __future__ import annotations

import typer
from rich.console import Console

from ailab.cli.steps import animated
from ailab.db.engine import get_engine

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
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Revert migrations down to REVISION."""
    from ailab.db.migrate import current_revision, downgrade

    engine = get_engine(database_url)
    downgrade(engine, revision)
    console.print(f"schema at revision {current_revision(engine)}")


@db_app.command("current")
def current_cmd(database_url: str | None = DatabaseUrlOption) -> None:
    """Show the schema revision of the database."""
    from ailab.db.migrate import current_revision, head_revision

    console.print(f"current: {current_revision(get_engine(database_url))}  head: {head_revision()}")


@db_app.command("seed")
def seed_cmd(
    items: int = typer.Option(1000, "--items", min=1, help="How many work items to create."),
    seed: int = typer.Option(42, "--seed", help="Random seed (same seed, same data)."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Fill the database with deterministic, realistic demo data."""
    from ailab.db.migrate import upgrade
    from ailab.db.seed import seed_database

    engine = get_engine(database_url)
    upgrade(engine)
    result = seed_database(engine, items=items, seed=seed, progress=animated(console))
    console.print(result.describe())


@db_app.command("check")
def check_cmd(
    repair: bool = typer.Option(False, "--repair", help="Recompute the derived data if any of it is off."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Check the derived data the triggers keep (dashboard counts, tag index) against the rows."""
    from ailab.db import derived
    from ailab.db.revision import bump_revision
    from ailab.db.session import connect

    engine = get_engine(database_url)
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
    app.add_typer(db_app, name="db")
