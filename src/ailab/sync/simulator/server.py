"""Running the simulator over HTTP: ``serve()`` (blocking; in a thread for tests:
``ailab.testing.sync_harness.SimulatorServer``).

It uses uvicorn on a loopback address. Injected transport faults end in an exception inside
the app by design; those log records are dropped so a fault-heavy run does not flood the log.
"""

from __future__ import annotations

import logging

import uvicorn

from ailab.sync.simulator.app import create_app
from ailab.sync.simulator.config import SimulatorConfig
from ailab.sync.simulator.faults import SIMULATED_TRANSPORT_FAULTS
from ailab.sync.simulator.simulator import GitHubSimulator

log = logging.getLogger(__name__)


class _DropSimulatedFaults(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        """Keep ``record`` unless it carries a simulated transport fault."""
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SIMULATED_TRANSPORT_FAULTS)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropSimulatedFaults) for f in logger.filters):
        logger.addFilter(_DropSimulatedFaults())


def uvicorn_config(sim: GitHubSimulator, host: str, port: int) -> uvicorn.Config:
    """uvicorn settings for serving ``sim`` (quiet, no lifespan; simulated faults not logged)."""
    _install_log_filter()
    return uvicorn.Config(
        create_app(simulator=sim), host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )


def serve(host: str = "127.0.0.1", port: int = 8765, config: SimulatorConfig | None = None) -> None:
    """Serve a new simulator until interrupted (Ctrl+C)."""
    sim = GitHubSimulator(config)
    log.info("GitHub simulator on http://%s:%d (GraphQL at /graphql)", host, port)
    uvicorn.Server(uvicorn_config(sim, host, port)).run()
