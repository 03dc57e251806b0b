"""The ``ailab`` command line. Each concept registers its commands from its own module."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

import typer
from rich.console import Console
from rich.text import Text

from ailab.errors import EXIT_INTERRUPTED, AilabError

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


DEFAULT_INTERRUPT_NOTE = (
    "interrupted: every database write is one transaction, so what was committed before Ctrl-C is "
    "kept and the transaction in progress was rolled back; rerun the command to finish."
)
_interrupt_note = DEFAULT_INTERRUPT_NOTE


def on_interrupt(note: str) -> None:
    """Set the one line Ctrl-C prints: what the running command keeps and what it does not."""
    global _interrupt_note
    _interrupt_note = note


def debug_enabled() -> bool:
    """Whether to print tracebacks: the ``debug`` setting, or ``AILAB_DEBUG`` alone if settings are bad."""
    from ailab.settings import get_settings

    try:
        return get_settings().debug
    except AilabError:  # the error being reported may be a bad setting: read this one alone
        return os.environ.get("AILAB_DEBUG", "").lower() in ("1", "true", "yes", "on")


def print_error(message: str) -> None:
    """Print ``error: <message>`` to stderr as one unwrapped line."""
    # Text, not markup: a message may contain brackets. No wrapping: one error, one line.
    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)


def main() -> None:
    """Run the CLI; map every failure to an ``error:`` line and an exit code (README: Exit codes)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    on_interrupt(DEFAULT_INTERRUPT_NOTE)  # commands that keep something else say so themselves
    try:
        app()
    except SystemExit as done:
        if done.code == EXIT_INTERRUPTED and isinstance(done.__context__, KeyboardInterrupt | typer.Exit):
            err_console.print(_interrupt_note, soft_wrap=True, highlight=False, markup=False)
        raise
    except KeyboardInterrupt:
        err_console.print(_interrupt_note, soft_wrap=True, highlight=False, markup=False)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:
        from ailab.cli.failures import explain

        if debug_enabled():
            traceback.print_exc()
        explained = explain(err)
        print_error(str(explained))
        sys.exit(explained.exit_code)
