"""``ailab github-sim``: serve the GitHub simulator over HTTP (see ``ailab.sync.simulator``)."""

from __future__ import annotations

import typer

from ailab.sync.simulator.command import github_sim


def register(app: typer.Typer) -> None:
    """Add ``ailab github-sim`` to ``app``."""
    app.command("github-sim")(github_sim)
