"""The simulator over a real loopback socket (uvicorn in a thread), and its command line."""

from __future__ import annotations

import httpx
import pytest
import typer
from typer.testing import CliRunner

from ailab.sync.simulator import FaultKind, FaultRule
from ailab.testing.sync_harness import SimulatorServer


def test_served_over_http_with_transport_faults() -> None:
    with SimulatorServer(port=0) as server:
        assert server.port > 0
        with httpx.Client(base_url=server.url, timeout=5) as client:
            r = client.post("/repos/o/r/issues", json={"title": "over tcp"})
            assert r.status_code == 201 and r.headers["location"] == f"{server.url}/repos/o/r/issues/1"
            server.sim.add_fault(FaultRule(FaultKind.RESET, method="GET"))
            with pytest.raises(httpx.TransportError):
                client.get("/repos/o/r/issues")
            server.sim.add_fault(FaultRule(FaultKind.TIMEOUT_AFTER_WRITE, method="PATCH"))
            with pytest.raises(httpx.TransportError):
                client.patch("/repos/o/r/issues/1", json={"state": "closed"})
            assert (
                client.get("/repos/o/r/issues", params={"state": "closed"}).json()[0]["title"] == "over tcp"
            )
    assert server.sim.counters.faults == {"reset": 1, "timeout_after_write": 1}


def test_cli_command_is_registered_with_its_options() -> None:
    from ailab.cli.github_sim import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command, so typer keeps "github-sim" as a subcommand name
        pass

    result = CliRunner().invoke(app, ["github-sim", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--latency-ms", "--rest-limit", "--fault-reset", "--token-env"):
        assert option in result.output
