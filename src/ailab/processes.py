"""Child processes of benchmarks and load tests: a free loopback port, waiting for one, a clean stop."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from ailab.errors import AilabError, ServerStartError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate ``proc``, and kill it if it has not exited after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until_healthy(
    base_url: str,
    proc: subprocess.Popen[Any],
    *,
    timeout: float = 30.0,
    log: Path | None = None,
    error: type[AilabError] = ServerStartError,
) -> None:
    """Poll ``base_url/healthz`` until it answers 200 (the process started by ``proc`` is up).

    Raises ``error`` with the end of the process's output (from ``log``, else its stderr pipe) when
    the process exits first or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if proc.poll() is not None:
                raise error(
                    f"The server started for {base_url} exited with code {proc.returncode} before answering "
                    f"/healthz; its output ends with:\n{_output_tail(proc, log)}"
                )
            try:
                if client.get(f"{base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                where = f"; see {log}" if log else ""
                raise error(
                    f"The server at {base_url} did not answer /healthz within {timeout:.0f} s{where}."
                )
            time.sleep(0.05)  # a child process starting: nothing to wait on but its port


def _output_tail(proc: subprocess.Popen[Any], log: Path | None) -> str:
    if log is not None:
        return log.read_text(errors="replace")[-1500:] if log.exists() else ""
    if proc.stderr is not None:
        raw = proc.stderr.read()
        return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[-1500:]
    return ""
