"""Running the simulator over HTTP: ``serve()`` (blocking) and ``SimulatorServer`` (a thread).

Both use uvicorn on a loopback address. Injected transport faults end in an exception inside
the app by design; those log records are dropped so a fault-heavy run does not flood the log.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

import uvicorn

from ailab.clock import Clock
from ailab.errors import ConfigError
from ailab.sync.simulator.app import create_app
from ailab.sync.simulator.config import SimulatorConfig
from ailab.sync.simulator.faults import SIMULATED_TRANSPORT_FAULTS
from ailab.sync.simulator.simulator import GitHubSimulator

log = logging.getLogger(__name__)


class _DropSimulatedFaults(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SIMULATED_TRANSPORT_FAULTS)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropSimulatedFaults) for f in logger.filters):
        logger.addFilter(_DropSimulatedFaults())


def _uvicorn_config(sim: GitHubSimulator, host: str, port: int) -> uvicorn.Config:
    _install_log_filter()
    return uvicorn.Config(
        create_app(simulator=sim), host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )


def serve(host: str = "127.0.0.1", port: int = 8765, config: SimulatorConfig | None = None) -> None:
    """Serve a new simulator until interrupted (Ctrl+C)."""
    sim = GitHubSimulator(config)
    log.info("GitHub simulator on http://%s:%d (GraphQL at /graphql)", host, port)
    uvicorn.Server(_uvicorn_config(sim, host, port)).run()


class SimulatorServer:
    """A simulator served by uvicorn in a background thread, for notebooks and load runs.

    >>> with SimulatorServer(port=0) as server:   # port 0: pick a free port
    ...     httpx.get(f"{server.url}/rate_limit")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SimulatorConfig | None = None,
        clock: Clock | None = None,
        *,
        startup_timeout: float = 10.0,
    ) -> None:
        self.sim = GitHubSimulator(config, clock)
        self._server = uvicorn.Server(_uvicorn_config(self.sim, host, port))
        self._thread = threading.Thread(target=self._server.run, name="github-sim", daemon=True)
        self._host = host
        self._startup_timeout = startup_timeout

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when started with port 0)."""
        servers = getattr(self._server, "servers", None) or []
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self._server.config.port)

    @property
    def url(self) -> str:
        """The base URL, ``http://host:port``."""
        return f"http://{self._host}:{self.port}"

    def start(self) -> SimulatorServer:
        """Start serving in a thread and wait until it listens; returns self."""
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(
                    f"The GitHub simulator did not start on {self._host}:{self._server.config.port} "
                    "(port in use?); pick another port."
                )
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
