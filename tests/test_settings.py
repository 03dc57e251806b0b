from __future__ import annotations

from pathlib import Path

import pytest

from ailab.errors import ConfigError
from ailab.settings import SETTINGS_TABLE, Secret, Settings, parse_database_url


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


def test_minimums_hold_however_settings_are_made() -> None:
    with pytest.raises(ConfigError, match="AILAB_POOL_SIZE=0 is below the minimum 1"):
        Settings(pool_size=0)
    with pytest.raises(ConfigError, match="AILAB_POOL_SIZE"):
        Settings.from_env({"AILAB_POOL_SIZE": "0"})
    with pytest.raises(ConfigError, match="AILAB_GITHUB_BATCH_SIZE"):
        Settings().with_(github_batch_size=0)
    with pytest.raises(ConfigError, match="AILAB_SLOW_REQUEST_MS"):
        Settings(slow_request_ms=-1.0)
    with pytest.raises(ConfigError, match="must be int"):
        Settings(pool_size="5")  # type: ignore[arg-type]


def test_every_setting_reads_its_variable() -> None:
    samples = {int: "7", float: "7.5", bool: "yes", str: "sqlite:///x.db", Secret: "s3cret", tuple: "a, b"}
    for spec in SETTINGS_TABLE:
        for var in spec.env:
            sample = ("no" if spec.default else "yes") if spec.kind is bool else samples[spec.kind]
            value = getattr(Settings.from_env({var: sample}), spec.name)
            assert value != spec.default, (spec.name, var)


def _readme_configuration_rows() -> dict[str, str]:
    """``{variable: default cell}`` from README.md's configuration table."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = [n.strip().strip("`") for n in cells[0].split("/")]
        defaults = [d.strip() for d in cells[1].split(" / ")]
        for i, name in enumerate(names):
            rows[name] = defaults[i] if len(defaults) == len(names) else cells[1]
    return rows


def _readme_says(cell: str, default: object) -> bool:
    first = cell.split()[0].strip("`") if cell else ""
    if default is None or default == ():
        return first in ("unset", "none")
    if isinstance(default, bool):
        return first.lower() in (("1", "true", "on", "yes") if default else ("0", "false", "off", "no"))
    if isinstance(default, int | float):
        try:
            return float(first) == float(default)
        except ValueError:
            return False
    return first == str(default)


def test_readme_configuration_table_matches_the_settings() -> None:
    rows = _readme_configuration_rows()
    table_vars = {var for spec in SETTINGS_TABLE for var in spec.env}
    for spec in SETTINGS_TABLE:
        for var in spec.env:
            assert var in rows, f"README.md's configuration table has no row for {var} (Settings.{spec.name})"
            assert _readme_says(rows[var], spec.default), (
                f"README.md says {var} defaults to {rows[var]!r}; Settings.{spec.name} defaults to {spec.default!r}"
            )
    unknown = sorted(set(rows) - table_vars)
    assert not unknown, f"README.md's configuration table names variables Settings does not read: {unknown}"
