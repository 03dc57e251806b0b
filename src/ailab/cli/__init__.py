"""The ``ailab`` command line. Each concept registers its commands from its own module."""

from __future__ import annotations

import importlib
import logging
import sys

import typer
from rich.console import Console
from rich.markup import escape

from ailab.errors import AilabError

app = typer.Typer(
    name="ailab",
    help="A fast, measured work-item tracker core and the toolkit that measures it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def _register_all() -> None:
    # Imported here so `ailab --help` stays quick and each module owns its commands.
    for name in (
        "db",
        "report",
        "github_sim",
        "sync",
        "serve",
        "legacy",
        "compare",
        "loadtest",
        "fuzz",
        "history",
        "ab",
    ):
        try:
            module = importlib.import_module(f"ailab.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"ailab.cli.{name}":
                raise
            continue
        module.register(app)


_register_all()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except AilabError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        sys.exit(2)
