"""Running ``ailab`` in-process through its real entry point (``ailab.cli.main``).

Going through ``main`` (not typer's ``CliRunner``) exercises the top-level error handler: the
exit code, the ``error:`` line and the absence of a traceback are what a user would see.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from ailab.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    @property
    def first_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[0] if lines else ""


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, **env: str
) -> Run:
    capsys.readouterr()  # drop what earlier steps printed
    with monkeypatch.context() as m:
        m.setattr(sys, "argv", ["ailab", *args])
        m.setenv("COLUMNS", "200")
        for name, value in env.items():
            m.setenv(name, value)
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def assert_no_traceback(run: Run) -> None:
    assert "Traceback" not in run.output, run.output
    assert run.err.count("error:") == 1, run.output


@contextmanager
def write_protected(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable even for root (``chattr +i``), or by mode bits for other users."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        path.chmod(0o644)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not permitted here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


class Cli(Protocol):
    def __call__(self, *args: str, **env: str) -> Run: ...
