"""Direct, cheap measurements of review claims that no other report row covers.

* ``concurrent_writers``: ``check_same_thread=False`` with a pool (a connection per thread) and
  8 writer threads, then ``PRAGMA integrity_check`` and a row count; and, for contrast, one
  connection shared by all threads at once (what the flag permits), run in a child process.
* ``json_vs_relational``: the same items, tags and dependencies stored in JSON columns and in
  relational tables: database file size, and the memory of loading everything into Python.
* ``json_expression_index``: SQLite can index a JSON expression; the plan and the timing.
* ``loopback_hop``: the cost of one extra HTTP hop on loopback (what a "database service" adds)
  against the same call in-process.

Children are started with ``sys.executable -m ailab.perf.bench.probes ...`` and print one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from ailab.errors import DatabaseError
from ailab.perf.harness.timing import Timing, compare
from ailab.testing.servers import free_port, stop_process, wait_until_healthy

CHILD_TIMEOUT = 120.0


def _child(*args: str) -> dict[str, Any]:
    """Run ``python -m ailab.perf.bench.probes ARGS`` and parse its one-line JSON answer."""
    proc = subprocess.run(
        [sys.executable, "-m", "ailab.perf.bench.probes", *args],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        return {"crashed": True, "returncode": proc.returncode, "stderr": proc.stderr[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- check_same_thread=False ------------------------------------------------------------------

WRITER_DDL = "CREATE TABLE t (id INTEGER PRIMARY KEY, thread INTEGER NOT NULL, n INTEGER NOT NULL)"


@dataclass
class WriterResult:
    """One concurrent-writers run: rows expected and found, errors, ``PRAGMA integrity_check``'s
    answer, seconds, and the first three errors."""

    mode: str
    threads: int
    expected: int
    found: int
    errors: int
    integrity: str
    seconds: float
    first_errors: list[str]

    @property
    def missing(self) -> int:
        """Rows expected but not in the table (failed or lost)."""
        return self.expected - self.found


def _fresh_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # persistent: every later connection is in WAL mode
    conn.execute(WRITER_DDL)
    conn.commit()
    conn.close()


def _check(path: Path) -> tuple[str, int]:
    conn = sqlite3.connect(path)
    try:
        integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        found = int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])
    finally:
        conn.close()
    return integrity, found


def _run_writers(
    threads: int, rows: int, insert: Callable[[int, int], None], counted: type[Exception]
) -> tuple[list[str], float]:
    """Each of ``threads`` threads calls ``insert(thread, i)`` for ``rows`` rows, all at once.

    A ``counted`` error fails that one row and the thread goes on; any other error ends the
    thread. Returns every error (row errors first) and the seconds the run took.
    """
    row_errors: list[str] = []
    thread_errors: list[str] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        try:
            for i in range(rows):
                try:
                    insert(k, i)
                except counted as err:
                    with lock:
                        row_errors.append(repr(err))
        except Exception as err:  # collected and reported with the result
            with lock:
                thread_errors.append(repr(err))

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return row_errors + thread_errors, time.perf_counter() - started


def _writer_result(
    mode: str, path: Path, threads: int, rows: int, errors: list[str], seconds: float
) -> WriterResult:
    """Check the file once the writers' connections are closed, and sum up the run."""
    integrity, found = _check(path)
    return WriterResult(mode, threads, threads * rows, found, len(errors), integrity, seconds, errors[:3])


def pooled_writers(path: Path, threads: int = 8, rows: int = 500) -> WriterResult:
    """``check_same_thread=False`` + a pool: each thread checks out its own connection."""
    _fresh_db(path)
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=threads,
        max_overflow=0,
    )

    @event.listens_for(engine, "connect")
    def _sync(dbapi_conn: Any, record: Any) -> None:
        # This probe is about thread safety, not durability: skip an fsync per commit.
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    def insert(k: int, i: int) -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (thread, n) VALUES (:k, :i)"), {"k": k, "i": i})

    # Any error is counted: here it would be a failed (not lost) row.
    errors, seconds = _run_writers(threads, rows, insert, Exception)
    engine.dispose()
    return _writer_result("pool, a connection per thread", path, threads, rows, errors, seconds)


def shared_connection_writers(path: Path, threads: int = 8, rows: int = 500) -> WriterResult:
    """One ``sqlite3`` connection used by all threads at once (run this in a child process)."""
    _fresh_db(path)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA synchronous=NORMAL")

    def insert(k: int, i: int) -> None:
        conn.execute("INSERT INTO t (thread, n) VALUES (?, ?)", (k, i))
        conn.commit()

    # sqlite3 errors are counted: these are the races the flag allows.
    errors, seconds = _run_writers(threads, rows, insert, sqlite3.Error)
    conn.close()
    return _writer_result(
        "one connection shared by all threads at once", path, threads, rows, errors, seconds
    )


def concurrent_writers(workdir: Path, threads: int = 8, rows: int = 500) -> list[WriterResult]:
    """Both writer probes: the pooled one here, the shared connection in a child process (a crash
    there is reported as a result, not raised)."""
    pooled = pooled_writers(workdir / "pooled.db", threads, rows)
    raw = _child("shared-writers", str(workdir / "shared.db"), str(threads), str(rows))
    if raw.get("crashed"):
        shared = WriterResult(
            "one connection shared by all threads at once",
            threads,
            threads * rows,
            0,
            1,
            "process crashed",
            0.0,
            [str(raw.get("stderr", ""))[-300:]],
        )
    else:
        shared = WriterResult(**raw)
    return [pooled, shared]


# --- JSON columns vs relational tables --------------------------------------------------------

JSON_DDL = """CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT UNIQUE, title TEXT, status TEXT,
    priority TEXT, created_at TEXT, tags JSON, dependencies JSON)"""
RELATIONAL_DDL = """
CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT UNIQUE, title TEXT, status TEXT, priority TEXT,
    created_at TEXT);
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT UNIQUE);
CREATE TABLE item_tags (item_id INTEGER, tag_id INTEGER, PRIMARY KEY (item_id, tag_id)) WITHOUT ROWID;
CREATE INDEX ix_item_tags_tag ON item_tags (tag_id, item_id);
CREATE TABLE deps (item_id INTEGER, depends_on_id INTEGER, PRIMARY KEY (item_id, depends_on_id)) WITHOUT ROWID;
CREATE INDEX ix_deps_on ON deps (depends_on_id, item_id);
"""


@dataclass
class LayoutResult:
    """The same items in both layouts: file sizes in bytes, and what loading everything cost
    (``load_all``'s answer, or the child's crash)."""

    items: int
    json_bytes: int
    relational_bytes: int
    json_load: dict[str, Any]
    relational_load: dict[str, Any]


def _read_source(engine: Engine) -> tuple[list[tuple[Any, ...]], dict[int, list[str]], dict[int, list[int]]]:
    with engine.connect() as conn:
        items = [
            tuple(r)
            for r in conn.execute(
                text("SELECT id, key, title, status, priority, created_at FROM work_items ORDER BY id")
            )
        ]
        tags: dict[int, list[str]] = {}
        for item_id, name in conn.execute(
            text("SELECT wit.work_item_id, t.name FROM work_item_tags wit JOIN tags t ON t.id = wit.tag_id")
        ):
            tags.setdefault(int(item_id), []).append(str(name))
        deps: dict[int, list[int]] = {}
        for item_id, dep in conn.execute(
            text("SELECT work_item_id, depends_on_id FROM work_item_dependencies")
        ):
            deps.setdefault(int(item_id), []).append(int(dep))
    return items, tags, deps


def build_layouts(engine: Engine, workdir: Path) -> tuple[Path, Path, int]:
    """Write the seeded items in both layouts (JSON columns; relational) into two SQLite files."""
    items, tags, deps = _read_source(engine)
    keys = {row[0]: row[1] for row in items}
    json_path, rel_path = workdir / "json_layout.db", workdir / "relational_layout.db"
    for path in (json_path, rel_path):
        path.unlink(missing_ok=True)
    out = sqlite3.connect(json_path)
    out.execute(JSON_DDL)
    out.executemany(
        "INSERT INTO items VALUES (?,?,?,?,?,?,?,?)",
        (
            (
                *r[:5],
                str(r[5]),
                json.dumps(tags.get(r[0], [])),
                json.dumps([keys[d] for d in deps.get(r[0], [])]),
            )
            for r in items
        ),
    )
    out.commit()
    out.execute("VACUUM")
    out.close()
    rel = sqlite3.connect(rel_path)
    rel.executescript(RELATIONAL_DDL)
    rel.executemany("INSERT INTO items VALUES (?,?,?,?,?,?)", ((*r[:5], str(r[5])) for r in items))
    names = sorted({n for names in tags.values() for n in names})
    tag_ids = {name: i + 1 for i, name in enumerate(names)}
    rel.executemany("INSERT INTO tags VALUES (?, ?)", ((i, n) for n, i in tag_ids.items()))
    rel.executemany(
        "INSERT INTO item_tags VALUES (?, ?)", ((item, tag_ids[n]) for item, ns in tags.items() for n in ns)
    )
    rel.executemany("INSERT INTO deps VALUES (?, ?)", ((item, d) for item, ds in deps.items() for d in ds))
    rel.commit()
    rel.execute("VACUUM")
    rel.close()
    return json_path, rel_path, len(items)


def load_all(layout: str, path: Path) -> dict[str, Any]:
    """Load every item with its tags and dependencies into dicts; report RSS growth (child process)."""
    import psutil

    proc = psutil.Process()
    before = proc.memory_info().rss
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    if layout == "json":
        data = {
            r[0]: {
                "key": r[1],
                "title": r[2],
                "status": r[3],
                "priority": r[4],
                "created_at": r[5],
                "tags": json.loads(r[6]),
                "dependencies": json.loads(r[7]),
            }
            for r in conn.execute("SELECT * FROM items")
        }
    else:
        data = {
            r[0]: {
                "key": r[1],
                "title": r[2],
                "status": r[3],
                "priority": r[4],
                "created_at": r[5],
                "tags": [],
                "dependencies": [],
            }
            for r in conn.execute("SELECT * FROM items")
        }
        for item_id, name in conn.execute(
            "SELECT it.item_id, t.name FROM item_tags it JOIN tags t ON t.id = it.tag_id"
        ):
            data[item_id]["tags"].append(name)
        for item_id, dep_key in conn.execute(
            "SELECT d.item_id, i.key FROM deps d JOIN items i ON i.id = d.depends_on_id"
        ):
            data[item_id]["dependencies"].append(dep_key)
    seconds = time.perf_counter() - started
    after = proc.memory_info().rss
    conn.close()
    return {"items": len(data), "rss_growth_mib": (after - before) / 2**20, "seconds": seconds}


def json_vs_relational(engine: Engine, workdir: Path) -> LayoutResult:
    """Write ``engine``'s items in both layouts and measure their file sizes and, each in a child
    process, the load of everything."""
    json_path, rel_path, n = build_layouts(engine, workdir)
    return LayoutResult(
        items=n,
        json_bytes=json_path.stat().st_size,
        relational_bytes=rel_path.stat().st_size,
        json_load=_child("load", "json", str(json_path)),
        relational_load=_child("load", "relational", str(rel_path)),
    )


@dataclass
class IndexResult:
    """Query plans and timings of a first-tag lookup with and without the JSON expression index."""

    plan_indexed: str
    plan_scan: str
    indexed: Timing
    scan: Timing


def json_expression_index(json_path: Path, rounds: int = 2) -> IndexResult:
    """Index ``json_extract(tags, '$[0]')`` (the first label) and compare with a scan of it."""
    conn = sqlite3.connect(json_path)
    try:
        conn.execute("CREATE INDEX IF NOT EXISTS ix_items_first_tag ON items (json_extract(tags, '$[0]'))")
        conn.execute("ANALYZE")
        labels = [
            str(r[0])
            for r in conn.execute(
                "SELECT DISTINCT json_extract(tags, '$[0]') FROM items WHERE json_array_length(tags) > 0 LIMIT 200"
            )
        ]
        if not labels:
            raise DatabaseError("No item has a tag; seed the database with tags before this probe.")
        sql = "SELECT id, key, title FROM items {} WHERE json_extract(tags, '$[0]') = ? LIMIT 50"
        plans = [
            " / ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql.format(h), (labels[0],)))
            for h in ("", "NOT INDEXED")
        ]
        i = iter(range(10**9))

        def query(hint: str) -> Any:
            return conn.execute(sql.format(hint), (labels[next(i) % len(labels)],)).fetchall()

        t = compare({"indexed": lambda: query(""), "scan": lambda: query("NOT INDEXED")}, rounds=rounds)
    finally:
        conn.close()
    return IndexResult(plans[0], plans[1], t["indexed"], t["scan"])


# --- one extra loopback HTTP hop ---------------------------------------------------------------


@dataclass
class HopResult:
    """Timings of one item fetch in-process and through the loopback HTTP service."""

    in_process: Timing
    via_http: Timing

    @property
    def hop_ms(self) -> float:
        """What the hop adds: the difference of the p50s, in ms."""
        return self.via_http.p50 - self.in_process.p50


def loopback_hop(database_url: str, keys: list[str], rounds: int = 2) -> HopResult:
    """Fetch one item in-process vs through a tiny HTTP service on loopback (same query, same JSON)."""
    import httpx
    import orjson

    from ailab.db import connect, get_engine
    from ailab.queries import get_work_item

    port = free_port()
    env = {**os.environ, "AILAB_DATABASE_URL": database_url}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "ailab.perf.baselines.hop_service:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    engine = get_engine(database_url)
    counter = iter(range(10**9))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_until_healthy(f"http://127.0.0.1:{port}", server, timeout=20, error=DatabaseError)

            def in_process() -> Any:
                with connect(engine) as conn:
                    body = orjson.dumps(get_work_item(conn, keys[next(counter) % len(keys)]))
                return orjson.loads(body)

            def via_http() -> Any:
                resp = client.get(f"/items/{keys[next(counter) % len(keys)]}")
                resp.raise_for_status()
                return resp.json()

            t = compare({"in_process": in_process, "via_http": via_http}, rounds=rounds)
    finally:
        stop_process(server)
    return HopResult(t["in_process"], t["via_http"])


def main(argv: list[str]) -> None:
    """Child-process entry points (one JSON line on stdout)."""
    command = argv[0]
    if command == "shared-writers":
        result = shared_connection_writers(Path(argv[1]), int(argv[2]), int(argv[3]))
        print(json.dumps(result.__dict__))
    elif command == "load":
        print(json.dumps(load_all(argv[1], Path(argv[2]))))
    else:
        raise SystemExit(f"unknown probe {command!r}")


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: a probe just ends (its parent reports the
    # interruption in one line) instead of printing a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main(sys.argv[1:])


__all__ = [
    "HopResult",
    "IndexResult",
    "LayoutResult",
    "WriterResult",
    "concurrent_writers",
    "json_expression_index",
    "json_vs_relational",
    "loopback_hop",
]
