"""GitHub webhooks in: signed deliveries from the simulator to the dashboard, applied after the ack.

Everything in-process (httpx.ASGITransport both ways, FakeClock): the simulator's webhook posts
to the dashboard app, whose applier writes through the same merge rules as ``sync --pull``.
"""

from __future__ import annotations

import itertools
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from ailab.clock import FakeClock
from ailab.db import connect, get_engine
from ailab.db.migrate import upgrade
from ailab.db.seed import seed_database
from ailab.db.tables import utcnow
from ailab.settings import Secret, Settings
from ailab.sync.simulator import SimulatorConfig
from ailab.sync.simulator.webhooks import WebhookConfig, WebhookFaults
from ailab.sync.store import SyncStore
from ailab.sync.webhooks import DELIVERIES, parse_delivery, record_delivery, sign
from ailab.testing.scratch import forget_engine
from ailab.testing.sync_harness import TEST_TOKEN, SimulatedGitHub, compare_remote
from ailab.web import create_app

pytestmark = pytest.mark.anyio
SECRET = "whsec-0f3c9b2e-never-logged"
HOOK_URL = "http://dashboard/api/github/webhook"
_copies = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def synced_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, SimulatedGitHub]]:
    """12 items pushed to a simulator once; each test copies the database and the remote."""
    path = tmp_path_factory.mktemp("webhooks") / "template.db"
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    upgrade(engine)
    seed_database(engine, items=12, seed=5)
    gh = github()
    summary = gh.run(engine)
    assert summary.created == 12 and not summary.failed
    forget_engine(url)
    yield path, gh


def github() -> SimulatedGitHub:
    return SimulatedGitHub.in_process(clock=FakeClock(), sim_config=SimulatorConfig(token=Secret(TEST_TOKEN)))


@dataclass
class World:
    engine: Engine
    gh: SimulatedGitHub
    app: FastAPI
    dash: httpx.AsyncClient
    links: dict[str, int]  # item key -> issue number

    @property
    def clock(self) -> FakeClock:
        assert isinstance(self.gh.clock, FakeClock)
        return self.gh.clock

    async def settle(self) -> None:
        sender = self.gh.sim.webhooks
        if sender is not None:
            await sender.flush()
        await self.app.state.webhooks.drain()

    async def edit_as(self, login: str, number: int, **body: Any) -> httpx.Response:
        """An edit on "GitHub" by another user (the simulator's admin endpoint)."""
        self.clock.advance(2)  # GitHub's updated_at has whole seconds: keep edits apart
        transport = httpx.ASGITransport(app=self.gh.app)
        headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=headers) as sim:
            path = f"/_simulator/as/{login}/repos/{self.gh.repository}/issues/{number}"
            response = await sim.patch(path, json=body)
        if self.gh.sim.webhooks is not None:  # its payload is the issue once the request is done
            await self.gh.sim.webhooks.flush()
        return response

    def item(self, key: str) -> dict[str, Any]:
        with connect(self.engine) as conn:
            row = conn.execute(
                text("SELECT id, title, status, priority FROM work_items WHERE key = :k"), {"k": key}
            ).one()
            tags = sorted(
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT t.name FROM work_item_tags x JOIN tags t ON t.id = x.tag_id"
                        " WHERE x.work_item_id = :i"
                    ),
                    {"i": row[0]},
                )
            )
        return {"title": row[1], "status": row[2], "priority": row[3], "tags": tags}

    def deliveries(self) -> list[dict[str, Any]]:
        with connect(self.engine) as conn:
            return [dict(r) for r in conn.execute(select(DELIVERIES).order_by(DELIVERIES.c.id)).mappings()]


def _copy_world(template: Path, tmp_path: Path) -> tuple[str, Engine]:
    target = tmp_path / f"copy{next(_copies)}.db"
    shutil.copy(template, target)
    url = f"sqlite:///{target}"
    return url, get_engine(url)


@asynccontextmanager
async def world(
    synced_template: tuple[Path, SimulatedGitHub],
    tmp_path: Path,
    *,
    faults: WebhookFaults | None = None,
    secret: str | None = SECRET,
    lifespan: bool = False,
) -> AsyncIterator[World]:
    template, seeded = synced_template
    url, engine = _copy_world(template, tmp_path)
    gh = github()
    assert isinstance(gh.clock, FakeClock)
    gh.clock.advance(seeded.clock.time() - gh.clock.time() + 10)  # the copied remote is newer than the links
    repo = gh.sim.create_repo(gh.repository)
    for label in seeded.sim.labels(seeded.repository):  # the same remote: same ids, so cached node ids hold
        gh.sim.world.create_label(repo, label["name"], label["color"])
    for issue in seeded.sim.issues(seeded.repository):
        labels = [label["name"] for label in issue["labels"]]
        gh.sim.seed_issue(
            gh.repository, issue["title"], issue["body"], labels, issue["state"], issue["state_reason"]
        )
    copied = gh.sim.repo(gh.repository).issues
    for number, issue in seeded.sim.repo(seeded.repository).issues.items():
        for blocker in issue.blocked_by.values():
            gh.sim.world.add_blocked_by(copied[number], copied[blocker.number])
    settings = Settings(database_url=url, github_webhook_secret=Secret(secret) if secret else None)
    app = create_app(settings, engine=engine, warm_up=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    gh.sim.enable_webhooks(WebhookConfig(HOOK_URL, Secret(SECRET), faults or WebhookFaults()), transport)
    store = SyncStore(engine)
    keys = {i.id: i.key for i in store.load_items(lambda _u, _k: gh.repository)}
    links = {keys[w]: int(link.issue_number or 0) for w, link in store.load_links().items()}
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as dash:
        if lifespan:
            async with app.router.lifespan_context(app):
                yield World(engine, gh, app, dash, links)
        else:
            yield World(engine, gh, app, dash, links)
    if gh.sim.webhooks is not None:
        await gh.sim.webhooks.close()
    await app.state.webhooks.stop()
    forget_engine(url)


def signed(
    body: bytes, *, event: str = "issues", guid: str = "guid-1", secret: str = SECRET
) -> dict[str, str]:
    return {
        "x-github-event": event,
        "x-github-delivery": guid,
        "x-hub-signature-256": sign(secret, body),
        "content-type": "application/json",
    }


async def test_signature_is_checked_over_the_raw_body_and_replays_are_acknowledged(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world(synced_template, tmp_path) as w:
        body = orjson.dumps({"action": "edited", "issue": {"number": 999}, "marker": "BODY-MARKER-1f2e"})
        missing = await w.dash.post("/api/github/webhook", content=body, headers={"x-github-event": "issues"})
        wrong = await w.dash.post("/api/github/webhook", content=body, headers=signed(body, secret="nope"))
        tampered = await w.dash.post("/api/github/webhook", content=body + b" ", headers=signed(body))
        assert [r.status_code for r in (missing, wrong, tampered)] == [401, 401, 401]
        assert w.deliveries() == []
        first = await w.dash.post("/api/github/webhook", content=body, headers=signed(body))
        again = await w.dash.post("/api/github/webhook", content=body, headers=signed(body))
        assert (first.status_code, first.json()["status"]) == (202, "accepted")
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
        ping = await w.dash.post(
            "/api/github/webhook",
            content=b'{"zen":"hi"}',
            headers=signed(b'{"zen":"hi"}', event="ping", guid="p"),
        )
        assert ping.status_code == 200 and ping.json()["status"] == "pong"
        no_guid = await w.dash.post(
            "/api/github/webhook", content=body, headers={**signed(body), "x-github-delivery": ""}
        )
        assert no_guid.status_code == 422
        await w.settle()
        rows = w.deliveries()
        assert len(rows) == 1 and rows[0]["status"] == "ignored"  # no repository in the payload
        metrics = (await w.dash.get("/metrics")).text
        assert 'ailab_github_webhook_deliveries_total{result="rejected"} 3.0' in metrics
        assert 'ailab_github_webhook_deliveries_total{result="replayed"} 1.0' in metrics
    assert "BODY-MARKER-1f2e" not in caplog.text and SECRET not in caplog.text


async def test_webhooks_are_off_without_the_secret(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path, secret=None) as w:
        body = b"{}"
        response = await w.dash.post("/api/github/webhook", content=body, headers=signed(body))
        assert response.status_code == 404 and "AILAB_GITHUB_WEBHOOK_SECRET" in response.text
        assert w.deliveries() == []


async def test_an_edit_on_github_reaches_the_item_through_the_same_merge_rules(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path) as w:
        key = next(
            k for k in sorted(w.links) if w.gh.sim.issue(w.gh.repository, w.links[k])["state"] == "open"
        )
        number = w.links[key]
        issue = w.gh.sim.issue(w.gh.repository, number)
        labels = [lb["name"] for lb in issue["labels"] if not lb["name"].startswith("priority:")]
        response = await w.edit_as(
            "octocat",
            number,
            title=f"[{key}] Renamed on GitHub",
            labels=[*labels, "priority:critical", "from-github"],
            state="closed",
            state_reason="not_planned",
        )
        assert response.status_code == 200
        await w.settle()
        item = w.item(key)
        assert item["title"] == "Renamed on GitHub"
        assert item["status"] == "cancelled" and item["priority"] == "critical"
        assert "from-github" in item["tags"]
        statuses = {d["action"]: d["status"] for d in w.deliveries()}
        assert set(statuses) >= {"edited", "labeled", "closed"} and set(statuses.values()) == {"applied"}
        payload = orjson.loads(w.deliveries()[0]["payload"])
        assert payload["sender"]["login"] == "octocat"
        # The link holds what was pulled: a sync pulls nothing again; it only writes the item's
        # new status label back (as after a --pull run), and then there is nothing left to do.
        summary = await w.gh.sync(w.engine, pull=True)
        assert summary.pulled == 0 and summary.updated == 1 and not summary.failed
        assert "status:cancelled" in {lb["name"] for lb in w.gh.sim.issue(w.gh.repository, number)["labels"]}
        again = await w.gh.sync(w.engine, pull=True)
        assert again.writes == 0 and again.pulled == 0
        assert compare_remote(w.engine, w.gh).ok


async def test_late_duplicated_and_reordered_deliveries_never_overwrite_newer_data(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path) as w:
        key = sorted(w.links)[1]
        number = w.links[key]
        sender = w.gh.sim.webhooks
        assert sender is not None
        await w.edit_as("octocat", number, title=f"[{key}] First")
        await w.edit_as("octocat", number, title=f"[{key}] Second")
        await w.settle()
        assert w.item(key)["title"] == "Second"
        sent = sorted(sender.deliveries.values(), key=lambda d: d.id)
        # Both arrive again, oldest last, under new GUIDs (as if GitHub had sent them late).
        for n, delivery in enumerate(reversed(sent)):
            body = delivery.body
            await w.dash.post("/api/github/webhook", content=body, headers=signed(body, guid=f"late-{n}"))
        # And a redelivery of the first one keeps its GUID: acknowledged, not applied again.
        resend = await w.dash.post(
            "/api/github/webhook", content=sent[0].body, headers=signed(sent[0].body, guid=sent[0].guid)
        )
        assert resend.json()["status"] == "duplicate"
        await w.settle()
        assert w.item(key)["title"] == "Second"
        late = {d["guid"]: d["status"] for d in w.deliveries() if d["guid"].startswith("late-")}
        assert late == {"late-0": "applied", "late-1": "stale"}


async def test_a_tie_on_updated_at_is_left_to_the_next_poll(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path) as w:
        key = sorted(w.links)[2]
        number = w.links[key]
        sender = w.gh.sim.webhooks
        assert sender is not None
        await w.edit_as("octocat", number, title=f"[{key}] One")
        w.clock.advance(-2)  # the second edit lands in the same second as the first
        await w.edit_as("octocat", number, title=f"[{key}] Two")
        await w.settle()
        statuses = [d["status"] for d in w.deliveries()]
        assert statuses == ["applied", "deferred"]
        # The watermark moved back, so the next incremental pull reads the issue and settles it.
        summary = await w.gh.sync(w.engine, pull=True)
        assert summary.pulled == 1 and w.item(key)["title"] == "Two"
        assert compare_remote(w.engine, w.gh).ok


async def test_a_delivery_acknowledged_before_a_crash_is_applied_on_start(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path) as w:
        key = sorted(w.links)[3]
        number = w.links[key]
        w.gh.sim.world.listener = None  # this edit's delivery is recorded by hand below
        w.clock.advance(2)
        w.gh.sim.edit_issue(w.gh.repository, number, title=f"[{key}] Acked then crashed")
        payload = {
            "action": "edited",
            "issue": w.gh.sim.issue(w.gh.repository, number),
            "repository": {"full_name": w.gh.repository},
        }
        delivery = parse_delivery("crash-1", "issues", orjson.dumps(payload))
        with connect(w.engine, readonly=False) as conn:  # what the receiver committed before answering
            assert record_delivery(conn, delivery, utcnow())
        assert w.item(key)["title"] != "Acked then crashed"
        restarted = create_app(
            Settings(database_url=str(w.engine.url), github_webhook_secret=Secret(SECRET)),
            engine=w.engine,
            warm_up=False,
        )
        async with restarted.router.lifespan_context(restarted):
            await restarted.state.webhooks.drain()
        assert w.item(key)["title"] == "Acked then crashed"
        assert [d["status"] for d in w.deliveries()] == ["applied"]


async def test_untracked_issues_transfers_and_deletions(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path) as w:
        stranger = w.gh.sim.seed_issue(w.gh.repository, "Someone else's issue")  # not an item's
        key = sorted(w.links)[4]
        number = w.links[key]
        moved = {
            "action": "transferred",
            "issue": w.gh.sim.issue(w.gh.repository, number),
            "changes": {
                "new_issue": {
                    "number": 77,
                    "id": 5077,
                    "node_id": "I_new",
                    "updated_at": "2030-01-01T00:00:00Z",
                },
                "new_repository": {"full_name": "octo-org/elsewhere"},
            },
            "repository": {"full_name": w.gh.repository},
        }
        other = sorted(w.links)[5]
        gone = {
            "action": "deleted",
            "issue": w.gh.sim.issue(w.gh.repository, w.links[other]),
            "repository": {"full_name": w.gh.repository},
        }
        foreign = {"action": "edited", "issue": {"number": 1}, "repository": {"full_name": "someone/else"}}
        for n, payload in enumerate((moved, gone, foreign)):
            body = orjson.dumps(payload)
            assert (
                await w.dash.post("/api/github/webhook", content=body, headers=signed(body, guid=f"g{n}"))
            ).status_code == 202
        await w.settle()
        rows = {d["guid"]: (d["status"], d["reason"]) for d in w.deliveries()}
        assert rows["g0"][0] == "applied" and "octo-org/elsewhere#77" in rows["g0"][1]
        assert rows["g1"][0] == "applied" and "recreates" in rows["g1"][1]
        assert rows["g2"] == ("ignored", "repository someone/else is not synced here")
        assert [d["status"] for d in w.deliveries() if d["issue_number"] == stranger["number"]] == ["ignored"]
        links = SyncStore(w.engine).load_links()
        moved_link = next(link for link in links.values() if link.issue_number == 77)
        assert moved_link.repository == "octo-org/elsewhere"
        status = (await w.dash.get("/api/sync/status")).json()
        repo = next(r for r in status["repositories"] if r["repository"] == w.gh.repository)
        assert repo["needs_full_sync"] is True
        assert status["deliveries"]["counts"]["applied"] == 2


async def test_simulator_faults_and_redelivery(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    faults = WebhookFaults(drop=0.25, duplicate=0.25, reorder=0.25, delay=0.2, delay_seconds=3, seed=4)
    async with world(synced_template, tmp_path, faults=faults) as w:
        keys = sorted(w.links)
        for n, key in enumerate(keys):
            await w.edit_as("octocat", w.links[key], title=f"[{key}] Edit {n}")
        await w.settle()
        sender = w.gh.sim.webhooks
        assert sender is not None
        dropped = [d for d in sender.deliveries.values() if d.status.startswith("dropped")]
        duplicated = {d.guid for d in sender.deliveries.values() if d.redelivery}
        assert dropped and duplicated
        rows = w.deliveries()
        assert {d.guid for d in dropped}.isdisjoint({r["guid"] for r in rows})
        assert len(rows) == len({r["guid"] for r in rows})  # one row per GUID, duplicates replayed
        # Redeliver the dropped ones through GitHub's endpoint: same GUID, now applied.
        headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
        transport = httpx.ASGITransport(app=w.gh.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=headers) as sim:
            hook = f"/repos/{w.gh.repository}/hooks/1/deliveries"
            listed = (await sim.get(hook, params={"per_page": 100})).json()
            assert {d["guid"] for d in listed} >= {d.guid for d in dropped}
            for d in dropped:
                assert (await sim.post(f"{hook}/{d.id}/attempts")).status_code == 202
            assert (await sim.post(f"{hook}/99999/attempts")).status_code == 404
        await w.settle()
        for n, key in enumerate(keys):
            assert w.item(key)["title"] == f"Edit {n}"
        assert compare_remote(w.engine, w.gh).ok


async def test_wrong_signatures_from_the_simulator_change_nothing(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path, faults=WebhookFaults(wrong_signature=1.0)) as w:
        key = sorted(w.links)[0]
        before = w.item(key)
        await w.edit_as("mallory", w.links[key], title=f"[{key}] Forged")
        await w.settle()
        sender = w.gh.sim.webhooks
        assert sender is not None
        assert {d.status_code for d in sender.deliveries.values()} == {401}
        assert w.deliveries() == [] and w.item(key) == before


async def test_pending_deliveries_apply_on_postgres_too(db_url: str) -> None:
    """The apply transaction (FOR UPDATE SKIP LOCKED on Postgres) on both databases."""
    engine = get_engine(db_url)
    seed_database(engine, items=4, seed=2)
    gh = github()
    await gh.sync(engine)
    store = SyncStore(engine)
    link = next(iter(store.load_links().values()))
    gh.clock.advance(5)  # type: ignore[attr-defined]
    gh.sim.edit_issue(gh.repository, int(link.issue_number or 0), state="closed", state_reason="completed")
    payload = {
        "action": "closed",
        "issue": gh.sim.issue(gh.repository, int(link.issue_number or 0)),
        "repository": {"full_name": gh.repository},
    }
    with connect(engine, readonly=False) as conn:
        assert record_delivery(conn, parse_delivery("pg-1", "issues", orjson.dumps(payload)), utcnow())
    app = create_app(
        Settings(database_url=db_url, github_webhook_secret=Secret(SECRET)), engine=engine, warm_up=False
    )
    results = await app.state.webhooks.drain()
    assert [r.status for r in results] == ["applied"] and results[0].changed
    with connect(engine) as conn:
        status = conn.execute(
            text("SELECT status FROM work_items WHERE id = :i"), {"i": link.work_item_id}
        ).scalar()
    assert status == "done"


async def test_webhook_faults_switch_at_run_time(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path) as w:
        transport = httpx.ASGITransport(app=w.gh.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as sim:
            assert (await sim.post("/_simulator/webhook/faults", json={"drop": 1.0})).status_code == 401
            sim.headers["Authorization"] = f"Bearer {TEST_TOKEN}"
            assert (await sim.post("/_simulator/webhook/faults", json={"drop": 1.0})).status_code == 200
            assert (await sim.post("/_simulator/webhook/faults", json={"drop": 2.0})).status_code == 422
            key = sorted(w.links)[6]
            await w.edit_as("octocat", w.links[key], title=f"[{key}] Never delivered")
            await w.settle()
            assert w.deliveries() == []
            assert (await sim.post("/_simulator/webhook/faults", json={})).status_code == 200
            await w.edit_as("octocat", w.links[key], title=f"[{key}] Delivered")
            await w.settle()
        assert w.item(key)["title"] == "Delivered"


async def test_issues_deleted_or_transferred_on_the_simulator_arrive_as_deliveries(
    synced_template: tuple[Path, SimulatedGitHub], tmp_path: Path
) -> None:
    async with world(synced_template, tmp_path) as w:
        keys = sorted(w.links)
        moved_key, gone_key = keys[7], keys[8]
        w.gh.sim.create_repo("octo-org/elsewhere")
        moved = w.gh.sim.transfer_issue(w.gh.repository, w.links[moved_key], "octo-org/elsewhere")
        w.gh.sim.delete_issue(w.gh.repository, w.links[gone_key])
        await w.settle()
        rows = {(d["action"], d["issue_number"]): d["status"] for d in w.deliveries()}
        assert rows[("transferred", w.links[moved_key])] == "applied"
        assert rows[("deleted", w.links[gone_key])] == "applied"
        links = SyncStore(w.engine).load_links().values()
        assert [v.issue_number for v in links if v.repository == "octo-org/elsewhere"] == [moved["number"]]
        status = (await w.dash.get("/api/sync/status")).json()
        repo = next(r for r in status["repositories"] if r["repository"] == w.gh.repository)
        assert repo["needs_full_sync"] is True
