"""``ailab sync --check``: 0 drift after a clean sync; each planted drift named; nothing written."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ailab.cli import app
from ailab.db import connect, get_engine, session
from ailab.db.migrate import upgrade
from ailab.db.models import GitHubLink, WorkItem
from ailab.db.seed import seed_database
from ailab.queries import create_work_item
from ailab.settings import Secret
from ailab.sync.simulator import SimulatorConfig
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, serve

runner = CliRunner()
REPO = "octo/check"


@pytest.fixture
def db_url(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[str]:
    template = tmp_path_factory.getbasetemp() / "check-template.db"
    if not template.exists():
        url = f"sqlite:///{template}"
        upgrade(get_engine(url))
        seed_database(get_engine(url), items=12, seed=9)
        forget_engine(url)
    target = tmp_path / "db.sqlite"
    shutil.copy(template, target)
    yield f"sqlite:///{target}"
    forget_engine(f"sqlite:///{target}")


def env(url: str, api: str) -> dict[str, str]:
    return {
        "AILAB_DATABASE_URL": url,
        "AILAB_GITHUB_API_URL": api,
        "AILAB_GITHUB_REPO": REPO,
        "AILAB_GITHUB_WRITE_INTERVAL": "0",
        "AILAB_GITHUB_CREATES_PER_MINUTE": "5000",
        "AILAB_GITHUB_CREATES_PER_HOUR": "5000",
        "GITHUB_TOKEN": TEST_TOKEN,
        "AILAB_GITHUB_TOKEN": "",
    }


def digest(url: str) -> str:
    path = Path(url.removeprefix("sqlite:///"))
    return "".join(
        hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.parent.glob(path.name + "*"))
    )


def numbers(url: str) -> dict[str, int]:
    with session(get_engine(url), readonly=True) as db:
        rows = db.execute(
            select(WorkItem.key, GitHubLink.issue_number).join(
                GitHubLink, GitHubLink.work_item_id == WorkItem.id
            )
        ).all()
    return {key: int(n) for key, n in rows}


def test_check_finds_no_drift_after_a_clean_sync_then_names_one_of_each_kind(db_url: str) -> None:
    sim_config = SimulatorConfig(token=Secret(TEST_TOKEN), content_per_minute=5000, content_per_hour=5000)
    with serve(sim_config=sim_config, repository=REPO) as gh:
        assert runner.invoke(app, ["sync"], env=env(db_url, gh.url)).exit_code == 0
        get_engine(db_url).dispose()
        before, writes = digest(db_url), gh.sim.counters.writes
        clean = runner.invoke(app, ["sync", "--check", "--json"], env=env(db_url, gh.url))
        assert clean.exit_code == 0, clean.output
        report = json.loads(clean.stdout)
        assert report["drift"] == [] and report["items"] == 12 and report["issues"] == 12
        # Plant one drift of each kind.
        n = numbers(db_url)
        sim = gh.sim
        sim.delete_issue(REPO, n["WI-000001"])  # missing
        sim.transfer_issue(REPO, n["WI-000002"], "octo/elsewhere")  # moved
        sim.seed_issue(REPO, "copy", sim.issue(REPO, n["WI-000003"])["body"])  # duplicate
        sim.seed_issue(REPO, "stranger", "<!-- ailab:item=NOBODY-1 -->")  # orphan
        item4 = sim.issue(REPO, n["WI-000004"])
        sim.edit_issue(
            REPO, n["WI-000004"], state="open" if item4["state"] == "closed" else "closed"
        )  # state
        sim.edit_issue(REPO, n["WI-000005"], title="[WI-000005] renamed on GitHub")  # title
        sim.edit_issue(REPO, n["WI-000006"], labels=["only-this"])  # labels
        sim.edit_issue(REPO, n["WI-000007"], body="rewritten on GitHub")  # body
        blocked = next(
            i for i in sim.repo(REPO).issues.values() if i.blocked_by and i.number not in (n["WI-000001"],)
        )
        sim.world.remove_blocked_by(blocked, next(iter(blocked.blocked_by)))  # edges
        with connect(get_engine(db_url), readonly=False) as conn:
            create_work_item(conn, {"title": "not synced yet", "key": "NEW-1"})  # unsynced
        get_engine(db_url).dispose()
        before, writes = digest(db_url), sim.counters.writes
        drifted = runner.invoke(app, ["sync", "--check", "--json"], env=env(db_url, gh.url))
        assert drifted.exit_code == 4, drifted.output
        found = {(d["item"], d["kind"]) for d in json.loads(drifted.stdout)["drift"]}
        blocked_key = next(k for k, v in n.items() if v == blocked.number)
        expected = {
            ("WI-000001", "missing"), ("WI-000002", "moved"), ("WI-000003", "duplicate"),
            (f"{REPO}#{sim.repo(REPO).next_number - 1}", "orphan"), ("WI-000004", "state"),
            ("WI-000005", "title"), ("WI-000006", "labels"), ("WI-000007", "body"),
            (blocked_key, "edges"), ("NEW-1", "unsynced"),
        }  # fmt: skip
        assert expected <= found, sorted(found - expected)
        # Items that depend on the deleted or moved issues see their dependency links change too.
        assert {kind for item, kind in found - expected} <= {"body", "edges"}, sorted(found - expected)
        assert digest(db_url) == before and sim.counters.writes == writes  # read-only, both sides
        table = runner.invoke(app, ["sync", "--check"], env=env(db_url, gh.url))
        assert table.exit_code == 4 and "missing" in table.output and "NOBODY-1" in table.output
        assert TEST_TOKEN not in drifted.output + table.output


def test_check_creates_no_database_and_refuses_write_flags(tmp_path: Path) -> None:
    absent = tmp_path / "absent.db"
    result = runner.invoke(app, ["sync", "--check"], env=env(f"sqlite:///{absent}", "http://127.0.0.1:9"))
    assert result.exit_code == 2 and "No database" in result.output and not absent.exists()
    mixed = runner.invoke(
        app, ["sync", "--check", "--pull"], env=env(f"sqlite:///{absent}", "http://127.0.0.1:9")
    )
    assert mixed.exit_code == 2 and "--check only reads" in mixed.output
