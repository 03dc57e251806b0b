"""Shared fixtures: every data-layer test runs on SQLite and on Postgres.

Postgres comes from AILAB_TEST_POSTGRES_URL (default: the local server); where none answers, an
embedded one is started from the ``pgserver`` package. With AILAB_REQUIRE_POSTGRES=1 (CI) a
missing Postgres fails the run instead of skipping. Each test session works in its own schema,
dropped at the end, so nothing is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.testing.scratch import (
    DEFAULT_TEST_POSTGRES_URL,
    EmbeddedPostgres,
    forget_engine,
    postgres_reachable,
    scratch_schema,
)
from cli_support import Cli, Run, run_cli

SHARED = Path(__file__).resolve().parents[2] / "shared"
REQUIRE_POSTGRES = os.environ.get("AILAB_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"reference folder {SHARED} is absent (tests that read ../shared skip without it)")
    return SHARED


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A reachable Postgres server URL (the configured one, else an embedded one)."""
    url = os.environ.get("AILAB_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    if postgres_reachable(url):
        yield url
        return
    try:
        embedded = EmbeddedPostgres()
    except Exception as err:  # pgserver failing to start is reported below, not hidden
        message = f"no Postgres at {url} and the embedded pgserver failed to start: {err}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield embedded.url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A migrated schema for this test session (per xdist worker), dropped at the end."""
    with scratch_schema(postgres_server_url, prefix="ailab_test") as url:
        upgrade(get_engine(url))
        yield url


TABLES_TO_CLEAR = (
    "work_item_tags", "idea_tags", "work_item_dependencies", "acceptance_criteria", "blockers",
    "github_links", "github_pages", "github_labels", "github_sync_state", "unresolved_refs", "legacy_rows",
    "github_webhook_deliveries", "github_watch_locks", "github_sync_status",
    "work_items", "ideas", "milestones", "projects", "tags",
)  # fmt: skip


def _clear(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES_TO_CLEAR)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES_TO_CLEAR:
                conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE data_revision SET revision = 0 WHERE id = 1"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database URL: a fresh SQLite file, or the session's Postgres schema cleared."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        upgrade(get_engine(url))
        yield url
        forget_engine(url)
    else:
        url = request.getfixturevalue("postgres_url")
        _clear(get_engine(url))
        yield url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return get_engine(db_url)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'sqlite.db'}"
    eng = get_engine(url)
    upgrade(eng)
    yield eng
    forget_engine(url)


@pytest.fixture
def seeded_engine(engine: Engine) -> Engine:
    """``engine`` with 300 deterministic demo items."""
    from ailab.db.seed import seed_database

    seed_database(engine, items=300, seed=7)
    return engine


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli("db", "current", AILAB_DEBUG="1")``: run ailab in-process through its real entry point."""

    def run(*args: str, **env: str) -> Run:
        return run_cli(capsys, monkeypatch, *args, **env)

    return run
