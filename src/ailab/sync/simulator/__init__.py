"""A GitHub simulator (REST + GraphQL) that follows GitHub's documented behaviour.

Built to ``shared/github`` (OpenAPI subset, GraphQL schema excerpt, quoted docs) so the sync can
be built and measured without reaching GitHub. Public API:

* ``create_app(config=None, clock=None) -> Starlette`` with ``app.state.sim``; drive it
  in-process with ``httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=...)``.
* ``GitHubSimulator(config=None, clock=None)``: ``.world`` (remote state), ``.counters``
  (``SimCounters``), ``.limits``, ``.faults``; seed/inspect with ``create_repo``, ``seed_issue``,
  ``edit_issue``, ``issues``, ``issue``, ``labels``; ``add_fault(FaultRule(...))``,
  ``clear_faults()``, ``reset_counters()``, ``rate_limit("core"|"graphql")``; change the remote
  under a sync with ``delete_issue`` (410), ``transfer_issue`` (301), ``delete_label`` and
  ``reset`` (also over HTTP under ``/_simulator``, see ``admin``).
* ``SimulatorConfig`` / ``FaultConfig`` / ``FaultRule`` / ``FaultKind``: frozen settings.
* ``SimulatedConnectionReset`` (``httpx.ReadError``) and ``SimulatedTimeout``
  (``httpx.ReadTimeout``): what in-process clients see for transport faults.
* ``serve(host, port, config)`` runs it under uvicorn (in a thread for tests:
  ``ailab.testing.sync_harness.SimulatorServer``); ``python -m ailab.sync.simulator`` / ``ailab github-sim`` from a shell.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # real imports for type checkers; at run time they load on first use (quick CLI start)
    from ailab.sync.simulator.app import create_app
    from ailab.sync.simulator.config import FaultConfig, FaultKind, FaultRule, SimulatorConfig
    from ailab.sync.simulator.counters import SimCounters
    from ailab.sync.simulator.faults import SimulatedConnectionReset, SimulatedTimeout
    from ailab.sync.simulator.model import SimError
    from ailab.sync.simulator.server import serve
    from ailab.sync.simulator.simulator import GitHubSimulator

_HOMES = {
    "create_app": "app",
    "FaultConfig": "config",
    "FaultKind": "config",
    "FaultRule": "config",
    "SimulatorConfig": "config",
    "SimCounters": "counters",
    "SimulatedConnectionReset": "faults",
    "SimulatedTimeout": "faults",
    "serve": "server",
    "GitHubSimulator": "simulator",
    "SimError": "model",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "FaultConfig",
    "FaultKind",
    "FaultRule",
    "GitHubSimulator",
    "SimCounters",
    "SimError",
    "SimulatedConnectionReset",
    "SimulatedTimeout",
    "SimulatorConfig",
    "create_app",
    "serve",
]
