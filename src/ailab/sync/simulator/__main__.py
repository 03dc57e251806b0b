"""``python -m ailab.sync.simulator [--port N ...]``: the same options as ``ailab github-sim``."""

from __future__ import annotations

import logging
import sys

import typer

from ailab.errors import AilabError
from ailab.sync.simulator.command import github_sim


def main() -> None:
    """``python -m ailab.sync.simulator``: the same as ``ailab github-sim``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(github_sim)
    try:
        app()
    except AilabError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
