"""Errors, not tracebacks: each failure a new user met ends in one ``error:`` line with the cause
and the fix, and the documented exit code; ``AILAB_DEBUG=1`` adds the traceback."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.errors import (
    EXIT_CONFIG,
    EXIT_NO_DATABASE,
    EXIT_PERMISSION,
    EXIT_SCHEMA,
    EXIT_UNAVAILABLE,
    ConfigError,
)
from ailab.settings import Settings
from ailab.testing.scratch import forget_engine, scratch_schema
from cli_support import Cli, assert_no_traceback, write_protected


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_postgres_unreachable(cli: Cli) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    run = cli("db", "upgrade", "--database-url", url)
    assert run.code == EXIT_UNAVAILABLE
    assert_no_traceback(run)
    assert run.err.startswith("error: Could not connect to postgresql+psycopg://postgres@127.0.0.1:")
    assert "server is running" in run.err


def test_postgres_database_missing(cli: Cli, postgres_server_url: str) -> None:
    url = postgres_server_url.rsplit("/", 1)[0] + "/ailab_no_such_database"
    run = cli("db", "current", "--database-url", url)
    assert run.code == EXIT_UNAVAILABLE
    assert_no_traceback(run)
    assert "ailab_no_such_database" in run.err and "createdb" in run.err


def test_sqlite_path_in_a_missing_directory(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "ailab.db"
    run = cli("db", "upgrade", "--database-url", f"sqlite:///{path}")
    assert run.code == EXIT_NO_DATABASE
    assert_no_traceback(run)
    assert f"the directory {path.parent} does not exist" in run.err and "mkdir -p" in run.err


def test_sqlite_path_in_a_read_only_directory(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    with write_protected(folder):
        run = cli("db", "upgrade", "--database-url", f"sqlite:///{folder / 'ailab.db'}")
    assert run.code == EXIT_PERMISSION
    assert_no_traceback(run)
    assert "ailab.db" in run.err and "permission" in run.err.lower()


def test_a_text_file_as_the_database(cli: Cli, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("these are my notes, not a database\n" * 20)
    for command in (["db", "upgrade"], ["db", "current"], ["db", "seed", "--items", "5"]):
        run = cli(*command, "--database-url", f"sqlite:///{notes}")
        assert run.code == EXIT_NO_DATABASE, (command, run.output)
        assert_no_traceback(run)
        assert "is not a SQLite database" in run.err
    assert notes.read_text().startswith("these are my notes")
    forget_engine(f"sqlite:///{notes}")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg2://postgres@127.0.0.1/test", "driver 'psycopg2'"),
        ("postgresql+psycopg://postgres@127.0.0.1:fivefourthreetwo/test", "is the port a number?"),
    ],
)
def test_bad_urls_name_the_supported_drivers(cli: Cli, url: str, expected: str) -> None:
    run = cli("db", "current", "--database-url", url)
    assert run.code == EXIT_CONFIG
    assert_no_traceback(run)
    assert expected in run.err
    if "driver" in expected:
        assert "sqlite://, sqlite+pysqlite://, postgresql:// and postgresql+psycopg://" in run.err


def test_nan_is_not_a_number_setting() -> None:
    with pytest.raises(ConfigError, match="not a finite number"):
        Settings.from_env({"AILAB_POOL_TIMEOUT": "nan"})
    with pytest.raises(ConfigError, match="not a finite number"):
        Settings.from_env({"AILAB_SUMMARY_CACHE_SECONDS": "inf"})


def test_sync_on_an_unmigrated_database(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    run = cli(
        "sync",
        "--database-url",
        f"sqlite:///{path}",
        GITHUB_TOKEN="ghp_testtoken",
        AILAB_GITHUB_REPO="octo/repo",
        AILAB_GITHUB_API_URL=f"http://127.0.0.1:{_closed_port()}",
    )
    forget_engine(f"sqlite:///{path}")
    assert run.code == EXIT_SCHEMA, run.output
    assert_no_traceback(run)
    assert "no ailab schema" in run.err and "ailab db upgrade" in run.err


@pytest.fixture(params=["sqlite", "postgres"])
def unknown_revision_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database stamped with a revision this version does not know."""

    def stamped(url: str) -> str:
        engine = get_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeed9999'")
        return url

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'newer.db'}"
        yield stamped(url)
        forget_engine(url)
    else:
        with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_i15") as url:
            yield stamped(url)


def test_unknown_revision(cli: Cli, unknown_revision_url: str) -> None:
    url = unknown_revision_url
    serve = cli("serve", "--database-url", url, "--port", str(_closed_port()))
    assert serve.code == EXIT_SCHEMA
    assert "f00dfeed9999" in serve.err and "does not know" in serve.err
    assert "cannot help" in serve.err  # no advice to run `db upgrade`, which cannot work
    up = cli("db", "upgrade", "--database-url", url)
    assert up.code == EXIT_SCHEMA and "f00dfeed9999" in up.err
    check = cli("db", "check", "--database-url", url)
    assert check.code == EXIT_SCHEMA and "exact" not in check.output
    for run in (serve, up, check):
        assert_no_traceback(run)


def test_ailab_debug_shows_the_traceback(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "no" / "dir" / "x.db"
    run = cli("db", "upgrade", "--database-url", f"sqlite:///{path}", AILAB_DEBUG="1")
    assert run.code == EXIT_NO_DATABASE
    assert "Traceback (most recent call last)" in run.err
    assert run.err.rstrip().splitlines()[-1].startswith("error: Cannot create")
