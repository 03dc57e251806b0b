"""Servers for tests and benchmarks: child processes (a free loopback port, waiting for /healthz, a clean
stop) and an ASGI app under uvicorn in a thread (``UvicornThread``)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn

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


class UvicornThread:
    """An ASGI app served by uvicorn in a background thread (tests, notebooks, benchmarks).

    >>> with UvicornThread(uvicorn.Config(app, host="127.0.0.1", port=0)) as server:  # port 0: a free one
    ...     httpx.get(f"{server.url}/healthz")
    """

    def __init__(
        self, config: uvicorn.Config, *, startup_timeout: float = 10.0, name: str = "uvicorn"
    ) -> None:
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)
        self._startup_timeout = startup_timeout

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when configured with port 0)."""
        for server in getattr(self._server, "servers", None) or []:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self._server.config.port)

    @property
    def url(self) -> str:
        """The base URL, ``http://host:port``."""
        return f"http://{self._server.config.host}:{self.port}"

    def start(self) -> Self:
        """Start serving and wait until the server listens; returns self."""
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                config = self._server.config
                raise ServerStartError(
                    f"The server did not start on {config.host}:{config.port} (port in use?); pick another port."
                )
            time.sleep(0.01)  # uvicorn starting in its thread: nothing to wait on but its flag
        return self

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
