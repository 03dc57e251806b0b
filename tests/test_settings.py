from __future__ import annotations

import pytest

from ailab.errors import ConfigError
from ailab.settings import Secret, Settings, parse_database_url


def test_defaults_to_a_sqlite_file() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///./ailab.db"
    assert settings.url.get_backend_name() == "sqlite"
    assert (settings.pool_size, settings.max_overflow) == (5, 5)


def test_reads_prefixed_env_vars() -> None:
    env = {
        "AILAB_DATABASE_URL": "postgresql+psycopg://u@h:5432/db",
        "AILAB_POOL_SIZE": "7",
        "AILAB_POOL_MAX_OVERFLOW": "3",
        "AILAB_POOL_TIMEOUT": "0.5",
        "GITHUB_TOKEN": "ghp_secret_value",
        "AILAB_GITHUB_REPO": "octo/repo",
    }
    settings = Settings.from_env(env)
    assert (settings.pool_size, settings.max_overflow, settings.pool_timeout) == (7, 3, 0.5)
    assert settings.github_token is not None and settings.github_token.reveal() == "ghp_secret_value"
    assert settings.github_repo == "octo/repo"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not a url", "Could not parse"),
        ("mysql://u@h/db", "Unsupported database dialect 'mysql'"),
        ("postgresql+asyncpg://u@h/db", "use postgresql+psycopg://"),
        ("postgresql+psycopg://u@h", "names no database"),
    ],
)
def test_bad_database_url_says_what_was_given_and_what_is_accepted(raw: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_database_url(raw)
    assert fragment in str(err.value)
    assert "sqlite" in str(err.value) or "psycopg" in str(err.value) or "dbname" in str(err.value)


def test_bad_url_message_hides_password() -> None:
    with pytest.raises(ConfigError) as err:
        parse_database_url("mysql://user:hunter2@h/db")
    assert "hunter2" not in str(err.value)


def test_plain_postgresql_scheme_means_psycopg3() -> None:
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("name", ["AILAB_POOL_SIZE", "AILAB_POOL_TIMEOUT"])
def test_bad_numbers_are_rejected_with_the_variable_name(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: "lots"})


def test_secret_never_shows_itself() -> None:
    secret = Secret("ghp_topsecret")
    settings = Settings(github_token=secret, api_token=Secret("api-topsecret"))
    for text in (repr(secret), str(secret), repr(settings), f"{settings}"):
        assert "topsecret" not in text
    assert secret.reveal() == "ghp_topsecret"
