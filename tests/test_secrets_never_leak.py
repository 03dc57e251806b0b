"""Secrets never appear in any output: every command is run through a failure path with
distinctive secrets in its environment (GitHub token, API token, database password), and
everything it printed or logged is searched for them."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailab.errors import EXIT_CONFIG
from ailab.settings import Secret, Settings
from ailab.sync.config import SyncConfig
from ailab.sync.simulator import SimulatorConfig
from ailab.testing.sync_harness import serve
from cli_support import Cli, Run, assert_no_traceback

GITHUB_TOKEN = "ghp_i15DistinctiveGitHubToken0123456789ab"
API_TOKEN = "api-i15-DistinctiveDashboardToken-77"
DB_PASSWORD = "pw-i15-DistinctiveDatabasePassword"
SECRETS = (GITHUB_TOKEN, API_TOKEN, DB_PASSWORD, "DistinctiveGitHubToken", "DistinctiveDatabasePassword")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """A GitHub simulator that accepts another token: ours gets 401."""
    with serve(
        sim_config=SimulatorConfig(token=Secret("the-simulator-wants-this")), repository="octo/r"
    ) as gh:
        yield gh.url


def _failure_paths(tmp_path: Path, simulator_url: str) -> list[tuple[list[str], dict[str, str]]]:
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    pg_down = f"postgresql+psycopg://ailab:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/test"
    empty = tmp_path / "empty.db"
    empty.touch()
    sync_env = {"AILAB_GITHUB_REPO": "octo/r", "AILAB_GITHUB_API_URL": simulator_url}
    migrated = f"sqlite:///{tmp_path / 'migrated.db'}"
    return [
        (["db", "upgrade", "--database-url", pg_down], {}),
        (["db", "current", "--database-url", pg_down], {}),
        (["db", "current", "--database-url", missing], {}),
        (["db", "check", "--database-url", missing], {}),
        (["db", "seed", "--items", "3", "--database-url", pg_down], {}),
        (["db", "downgrade", "base", "--database-url", pg_down], {}),
        (["db", "import-legacy", str(tmp_path / "nope.db"), "--database-url", pg_down], {}),
        (["serve", "--database-url", f"sqlite:///{empty}", "--port", str(_closed_port())], {}),
        (["serve", "--database-url", pg_down], {}),
        (["sync", "--database-url", pg_down], sync_env),
        (["sync", "--database-url", f"sqlite:///{empty}"], sync_env),
        (["db", "seed", "--items", "3", "--database-url", migrated], {}),  # setup; then 401 from GitHub:
        (["sync", "--database-url", migrated], sync_env),
        (["sync", "--repo", "not a repo", "--database-url", migrated], sync_env),
        (["report", "--only", "bogus", "--database-url", pg_down, "--out", str(tmp_path / "r")], {}),
        (["compare", "--postgres-url", pg_down, "--items", "10"], {}),
    ]


def _leaks(run: Run, caplog: pytest.LogCaptureFixture) -> list[str]:
    seen = run.output + caplog.text
    return [s for s in SECRETS if s in seen]


def test_no_command_prints_a_secret_on_failure(
    cli: Cli, tmp_path: Path, simulator_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_env = {"GITHUB_TOKEN": GITHUB_TOKEN, "AILAB_API_TOKEN": API_TOKEN}
    failed = 0
    codes: list[tuple[int, str, str]] = []
    for args, env in _failure_paths(tmp_path, simulator_url):
        for debug in ("0", "1"):
            caplog.clear()
            run = cli(*args, **secrets_env, **env, AILAB_DEBUG=debug)
            assert not _leaks(run, caplog), (args, debug, run.output)
            failed += run.code != 0
            codes.append((run.code, " ".join(args[:2]), run.first_line[:100]))
    assert failed >= 28, codes  # the paths above do fail (the upgrade setup step succeeds)


@pytest.mark.parametrize(
    ("token", "what"),
    [(GITHUB_TOKEN + "\r", "a carriage return"), (GITHUB_TOKEN + "\n", "a newline"),
     ("ghp_i15 DistinctiveGitHubToken", "a space"), ("ghp_i15\tDistinctiveGitHubToken", "a tab")],
)  # fmt: skip
def test_a_token_with_whitespace_is_refused_without_echoing_it(
    cli: Cli, tmp_path: Path, token: str, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = cli(
        "sync",
        "--database-url",
        f"sqlite:///{tmp_path / 'x.db'}",
        GITHUB_TOKEN=token,
        AILAB_GITHUB_REPO="octo/r",
        AILAB_GITHUB_API_URL=f"http://127.0.0.1:{_closed_port()}",
    )
    assert run.code in (EXIT_CONFIG, 2), run.output  # sync reports configuration errors with its own 2
    assert_no_traceback(run)
    said = " ".join(run.err.split())  # sync's own console may wrap the line
    assert "GITHUB_TOKEN contains whitespace or a control character" in said and what in said
    assert not _leaks(run, caplog)
    assert not (tmp_path / "x.db").exists()


def test_masking_is_structural_not_text_substitution() -> None:
    from ailab.sync.client import GitHubClient

    settings = Settings(github_token=Secret("e"), github_repo="octo/r")
    client = GitHubClient(SyncConfig.from_settings(settings))
    # A one-letter token no longer garbles messages ("Bad cr**********d**********ntials" on main).
    assert client.scrub("Bad credentials") == "Bad credentials"
    assert client.scrub("token e was refused") == "token ********** was refused"
    real = GitHubClient(SyncConfig.from_settings(settings.with_(github_token=Secret(GITHUB_TOKEN))))
    shown = repr(real) + repr(real._http.headers) + repr(real._http.auth) + repr(real.config) + repr(settings)
    assert GITHUB_TOKEN not in shown and "authorization" not in str(real._http.headers).lower()
