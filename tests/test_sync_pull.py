"""Pulled changes take the dashboard's write path (``ailab.queries.writes``)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ailab import queries
from ailab.db import connect
from ailab.queries._tables import tags
from ailab.sync.store import ItemChange, SyncStore

ROUNDS = 6


def test_a_pull_and_a_dashboard_write_create_the_same_new_tag_at_once(engine: Engine) -> None:
    with connect(engine, readonly=False) as conn:
        pulled = queries.create_work_item(conn, {"title": "pulled", "tags": ["old"]})
        edited = queries.create_work_item(conn, {"title": "edited"})
    store = SyncStore(engine)
    errors: list[BaseException] = []
    for n in range(ROUNDS):
        name = f"brand-new-{n}"
        start = threading.Barrier(2)

        def pull(name: str = name, start: threading.Barrier = start) -> None:
            start.wait()
            rejected = store.apply_item_changes([("pulled", ItemChange(pulled["id"], tags=("old", name)))])
            assert not rejected, rejected

        def dashboard(name: str = name, start: threading.Barrier = start) -> None:
            start.wait()
            with connect(engine, readonly=False) as conn:
                queries.update_work_item(conn, edited["id"], {"tags": [name]})

        def guarded(target: Any) -> Any:
            def run() -> None:
                try:
                    target()
                except BaseException as err:  # collected and asserted on in the main thread
                    errors.append(err)

            return run

        threads = [threading.Thread(target=guarded(pull)), threading.Thread(target=guarded(dashboard))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with connect(engine) as conn:
            assert conn.execute(select(func.count()).where(tags.c.name == name)).scalar() == 1
            assert name in queries.get_work_item(conn, pulled["id"])["tags"]
            assert queries.get_work_item(conn, edited["id"])["tags"] == [name]


def test_a_pulled_change_the_validation_refuses_is_reported_and_the_rest_applied(engine: Engine) -> None:
    with connect(engine, readonly=False) as conn:
        good = queries.create_work_item(conn, {"title": "good"})
        bad = queries.create_work_item(conn, {"title": "bad"})
    store = SyncStore(engine)
    rejected = store.apply_item_changes(
        [
            ("good", ItemChange(good["id"], title="renamed on GitHub", tags=("from-github",))),
            ("bad", ItemChange(bad["id"], title="x" * 501, tags=("half-written",))),
        ]
    )
    assert list(rejected) == ["bad"] and "title" in rejected["bad"] and "500" in rejected["bad"]
    with connect(engine) as conn:
        assert queries.get_work_item(conn, good["id"])["title"] == "renamed on GitHub"
        untouched = queries.get_work_item(conn, bad["id"])
        assert untouched["title"] == "bad" and untouched["tags"] == []
        assert conn.execute(select(func.count()).where(tags.c.name == "half-written")).scalar() == 0
