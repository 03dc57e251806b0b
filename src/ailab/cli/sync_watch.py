"""``ailab sync --watch``: run the watcher until SIGINT/SIGTERM (see ``ailab.sync.watch``).

Exit codes: 0 after a clean stop; 5 when another watcher holds a repository (its holder is
named); 2 for configuration errors (as every ``ailab`` command).
"""

from __future__ import annotations

import asyncio
import signal

from rich.console import Console

from ailab.settings import Settings
from ailab.sync.config import SyncConfig
from ailab.sync.summary import SyncSummary
from ailab.sync.watch import Watcher, WatchLockedError, WatchOptions

EXIT_LOCKED = 5  # 0-4 are the exit codes of a single `ailab sync` run
console = Console()
err_console = Console(stderr=True)


def _print_run(kind: str, summary: SyncSummary) -> None:
    parts = [f"{kind}:", f"pushed {summary.updated + summary.created + summary.closed + summary.reopened}",
             f"pulled {summary.pulled}", f"requests {summary.requests} ({summary.not_modified} × 304)"]  # fmt: skip
    if summary.failed:
        parts.append(f"[red]failed {len(summary.failed)}[/]")
    console.print(" ".join(parts), highlight=False)


def run_watch(settings: Settings, *, poll_seconds: float | None, debounce: float | None) -> int:
    """Watch until a signal; returns the exit code."""
    from ailab.db import get_engine

    config = SyncConfig.from_settings(settings)
    engine = get_engine(settings.database_url, settings)
    options = WatchOptions(
        poll_seconds=poll_seconds if poll_seconds is not None else settings.github_poll_seconds,
        debounce=debounce if debounce is not None else settings.github_watch_debounce,
    )
    watcher = Watcher(engine, config, options, on_run=_print_run)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                err_console.print("stopping: finishing the sync run in flight (signal again to abandon it)")
                stop.set()
            elif current is not None:
                current.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        console.print(
            f"watching {', '.join(sorted(watcher.repositories)) or 'the configured repositories'}: "
            f"poll every {options.poll_seconds:g} s, push {options.debounce:g} s after a local change; "
            "Ctrl+C stops",
            highlight=False,
        )
        await watcher.run(stop)

    try:
        asyncio.run(main())
    except WatchLockedError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
        return EXIT_LOCKED
    except asyncio.CancelledError:
        err_console.print("stopped: the run in flight was abandoned; the next start resumes it")
        return 0
    report = watcher.report
    console.print(
        f"stopped after {report.runs} runs ({report.polls} polls, {report.pushes} with writes)",
        highlight=False,
    )
    return 0
