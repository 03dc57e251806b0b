"""Notebook-friendly progress: plain periodic lines, and commands run with their output cleaned.

A Jupyter kernel sets ``FORCE_COLOR=1`` for its children, so a rich spinner in a subprocess
believes it writes to a terminal and streams every frame (``\\x1b[2K`` ...) into the cell. Here
long steps print one plain line per step (at most one every few seconds), and ``run_command``
starts a command with colour and terminal detection off, strips any escape sequence that still
comes, and keeps what it printed as text.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

# CSI sequences (colours, cursor moves, line clears), OSC sequences (titles, links), lone escapes.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# Environment that tells rich, click and most tools: no colours, not a terminal, no animation.
PLAIN_ENV = {"NO_COLOR": "1", "TTY_COMPATIBLE": "0", "TTY_INTERACTIVE": "0", "TERM": "dumb"}
COLOR_FORCING = ("FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences, and each ``\\r``-overwritten line as its last state."""
    clean = ANSI_ESCAPE.sub("", text)
    return "\n".join(line.rsplit("\r", 1)[-1] for line in clean.split("\n"))


class Progress:
    """``say = Progress("report"); say("seeding")`` prints ``[report   3.1 s] seeding``.

    Steps closer together than ``every`` seconds are not printed (the first one is), so a run
    of a few hundred steps stays a few lines; ``done()`` prints the total time.
    """

    def __init__(
        self,
        label: str = "",
        *,
        every: float = 5.0,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.every = every
        self.out = out
        self.clock = clock
        self.started = clock()
        self._last_printed: float | None = None
        self.steps = 0

    def _line(self, message: str) -> None:
        elapsed = self.clock() - self.started
        prefix = f"[{self.label} {elapsed:6.1f} s]" if self.label else f"[{elapsed:6.1f} s]"
        print(f"{prefix} {strip_ansi(message)}", file=self.out or sys.stdout, flush=True)

    def __call__(self, message: str) -> None:
        self.steps += 1
        now = self.clock()
        if self._last_printed is None or now - self._last_printed >= self.every:
            self._last_printed = now
            self._line(message)

    def done(self, message: str = "done") -> None:
        """Always print ``message`` (with the step count, if any steps ran) and the elapsed time."""
        self._line(f"{message} ({self.steps} steps)" if self.steps else message)


@dataclass(frozen=True)
class CommandResult:
    """A finished command: its exit code and its output without escape sequences."""

    args: list[str]
    returncode: int
    output: str

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the output."""
        return "\n".join(self.output.rstrip("\n").splitlines()[-lines:])


def plain_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with colours and terminal detection off."""
    env = {k: v for k, v in (base if base is not None else os.environ).items() if k not in COLOR_FORCING}
    return {**env, **PLAIN_ENV}


def run_command(
    args: Sequence[str], *, timeout: float, echo: bool = True, out: TextIO | None = None
) -> CommandResult:
    """Run ``args`` with colours and animations off; echo each cleaned line as it comes.

    stderr is merged into stdout so the order of what the command said is kept. A command still
    running after ``timeout`` seconds is stopped (by its PID) and ``TimeoutExpired`` raised.
    """
    from ailab.testing.servers import stop_process

    lines: list[str] = []
    sink = out or sys.stdout
    proc = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=plain_env(),
    )

    def read() -> None:
        # Bytes, split on "\n" only: text mode would turn each "\r" of a redrawn line into a line.
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = strip_ansi(raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r"))
            lines.append(line)
            if echo and line.strip():
                print(line, file=sink, flush=True)

    reader = threading.Thread(target=read, name="run_command-output", daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise
    finally:
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    return CommandResult(list(args), code, "\n".join(lines) + ("\n" if lines else ""))
