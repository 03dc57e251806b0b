"""Progress for long commands: a spinner on a terminal, plain lines anywhere else.

A Jupyter kernel sets ``FORCE_COLOR=1`` for the processes it starts, and rich then treats a pipe
as a terminal: a spinner streams every frame (``\\x1b[2K`` ...) into the notebook cell. So
animations run only when the output really is a TTY; in a pipe, a notebook or CI each step is
one plain line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


def animated(console: Console) -> bool:
    """Whether ``console`` writes to a real interactive terminal (spinners and bars allowed)."""
    isatty = getattr(console.file, "isatty", None)
    try:
        return bool(console.is_interactive and isatty is not None and isatty())
    except ValueError:  # a closed file
        return False


@contextmanager
def steps(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """``with steps(console, "measuring...") as say: say("seeding")``: spinner or plain lines."""
    if animated(console):
        with console.status(first) as status:
            yield status.update
        return

    def say(message: str) -> None:
        console.print(f"... {message}", markup=False, highlight=False, soft_wrap=True)

    say(first)
    yield say
