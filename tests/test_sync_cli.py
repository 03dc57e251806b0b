"""``ailab sync`` end to end over loopback, its error messages, and the token's secrecy."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ailab.cli import app
from ailab.clock import FakeClock
from ailab.db import get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.settings import Secret
from ailab.sync.simulator import FaultConfig, SimulatorConfig
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub, compare_remote, serve

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=4, seed=2)
    yield url
    forget_engine(url)


def env(
    url: str, api: str = "http://127.0.0.1:9", token: str | None = TEST_TOKEN, repo: str = "octo/cli"
) -> dict[str, str]:
    values = {
        "AILAB_DATABASE_URL": url,
        "AILAB_GITHUB_API_URL": api,
        "AILAB_GITHUB_REPO": repo,
        "AILAB_GITHUB_WRITE_INTERVAL": "0",
        "AILAB_GITHUB_CREATES_PER_MINUTE": "5000",
        "AILAB_GITHUB_CREATES_PER_HOUR": "5000",
        "GITHUB_TOKEN": "",
        "AILAB_GITHUB_TOKEN": "",
    }
    if token is not None:
        values["GITHUB_TOKEN"] = token
    return values


def test_missing_token_names_the_variable(db_url: str) -> None:
    result = runner.invoke(app, ["sync"], env=env(db_url, token=None))
    assert result.exit_code == 2
    assert "GITHUB_TOKEN" in result.output


def test_malformed_repository_names_the_variable(db_url: str) -> None:
    result = runner.invoke(app, ["sync"], env=env(db_url, repo="not-a-repo"))
    assert result.exit_code == 2
    assert "AILAB_GITHUB_REPO='not-a-repo'" in result.output and "owner/name" in result.output
    assert TEST_TOKEN not in result.output


def test_dry_run_then_sync_over_loopback_and_the_token_stays_hidden(db_url: str) -> None:
    sim_config = SimulatorConfig(token=Secret(TEST_TOKEN), content_per_minute=5000, content_per_hour=5000)
    with serve(sim_config=sim_config, repository="octo/cli") as gh:
        dry = runner.invoke(app, ["sync", "--dry-run"], env=env(db_url, gh.url))
        assert dry.exit_code == 0, dry.output
        assert "create 4" in dry.output and "dry run" in dry.output
        assert gh.sim.counters.writes == 0
        done = runner.invoke(app, ["sync"], env=env(db_url, gh.url))
        assert done.exit_code == 0, done.output
        assert "created" in done.output and "requests" in done.output
        assert len(gh.sim.issues("octo/cli")) == 4
        assert compare_remote(get_engine(db_url), gh).ok
        wrong = runner.invoke(
            app, ["sync"], env=env(db_url, gh.url, token="ghp_wrongWRONGwrong0000000000000000000")
        )
        assert wrong.exit_code == 2
        assert "401" in wrong.output and "GITHUB_TOKEN" in wrong.output
        for result in (dry, done, wrong):
            assert TEST_TOKEN not in result.output
            assert "ghp_wrongWRONGwrong" not in result.output


def test_token_never_in_logs_even_with_faults(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    faults = FaultConfig(seed=3, server_error_after_write_rate=0.2, reset_rate=0.1)
    gh = SimulatedGitHub.in_process(
        clock=FakeClock(), sim_config=SimulatorConfig(token=Secret(TEST_TOKEN), faults=faults)
    )
    caplog.set_level(logging.DEBUG)
    engine = get_engine(db_url)
    for _ in range(6):
        try:
            if gh.run(engine).ok:
                break
        except Exception as err:  # faults may outlast retries; the message must not hold the token
            assert TEST_TOKEN not in str(err) and TEST_TOKEN not in repr(err)
    assert caplog.records  # something was logged (retries, warnings, httpx requests)
    assert TEST_TOKEN not in caplog.text
    assert TEST_TOKEN not in repr(gh.config)
