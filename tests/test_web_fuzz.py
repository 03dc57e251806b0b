"""Schemathesis against the app in-process, on SQLite and Postgres: every check, every phase.

A small, fixed-seed run (same cases every time) of what ``make fuzz`` runs long against a served
instance: examples, coverage and fuzzing per operation (``schema.parametrize``), then the
stateful phase, which chains calls along the schema's OpenAPI links (create, then read, change,
read the blockers of what was created). Writes are enabled with a token, so the write paths and
their 401/403 checks run too. A failure prints the request that reproduces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.types import Message, Receive, Scope, Send

from ailab.db import connect, get_engine
from ailab.db.migrate import upgrade
from ailab.db.revision import bump_revision
from ailab.db.seed import seed_database
from ailab.settings import Secret, Settings
from ailab.testing.scratch import forget_engine, scratch_schema
from ailab.web import create_app

TOKEN = "fuzz-token-in-process"
ITEMS = 20
SEED = 20261204
# Small on purpose (make test's time budget); `make fuzz` runs the same with 100+ per operation.
CONFIG: dict[str, Any] = {
    "seed": SEED,
    "headers": {"Authorization": f"Bearer {TOKEN}"},
    "checks": {"enabled": True},
    "generation": {"max-examples": 6, "database": "none"},
    "cache": {"enabled": False},  # no state left behind in the working tree
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": True},
    },
}


class Served:
    """The app, and every 5xx it answered (none is expected: a fuzzer must not find one)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.server_errors: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 500:
                self.server_errors.append(f"{scope['method']} {scope['path']} -> {message['status']}")
            await send(message)

        await self.app(scope, receive, watched)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app with writes enabled, on a small seeded database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
        yield _app_for(url)
        forget_engine(url)
    else:
        with scratch_schema(request.getfixturevalue("postgres_server_url"), prefix="ailab_fuzz") as url:
            yield _app_for(url)
            forget_engine(url)


def _app_for(url: str) -> Served:
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=ITEMS, seed=7)
    return Served(create_app(Settings(database_url=url, api_token=Secret(TOKEN)), engine=engine))


def _reseed(engine: Engine) -> None:
    """Back to the seeded items, so every stateful scenario starts from the same data (a key a
    scenario created is free again): Hypothesis replays scenarios and needs them to repeat."""
    with connect(engine, readonly=False) as conn:
        conn.execute(text("DELETE FROM work_items"))  # links, checklists, counts follow (cascade, triggers)
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('work_items', 'id'), 1, false)"))
        bump_revision(conn)
    seed_database(engine, items=ITEMS, seed=7)


# The schema is the app's own; which app answers (which database) is the fixture's choice. (Loaded
# here rather than with ``schemathesis.pytest.from_fixture``, which fails on pytest 9.)
_PUBLISHED = create_app(Settings(database_url="sqlite://"), warm_up=False).openapi()
STATEFUL = hypothesis.settings(
    max_examples=6,
    stateful_step_count=6,
    derandomize=True,  # the same scenarios every run
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
schema = schemathesis.openapi.from_dict(_PUBLISHED, config=SchemathesisConfig.from_dict(CONFIG))


@schema.parametrize()
def test_each_operation_keeps_the_contract(case: Any, fuzz_app: Served) -> None:
    """Examples, coverage and fuzzing phases of each operation."""
    case.operation.schema.app = fuzz_app  # as `from_asgi` sets it: checks that probe again use it too
    case.call_and_validate(app=fuzz_app)
    assert not fuzz_app.server_errors


def test_chained_calls_keep_the_contract(fuzz_app: Served) -> None:
    """The stateful phase: calls chained along the OpenAPI links, each scenario on fresh data."""
    loaded = schemathesis.openapi.from_asgi(
        "/openapi.json", fuzz_app, config=SchemathesisConfig.from_dict(CONFIG)
    )
    engine = fuzz_app.app.state.ctx.engine

    class Scenario(loaded.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            _reseed(engine)

    Scenario.run(settings=STATEFUL)
    assert not fuzz_app.server_errors
