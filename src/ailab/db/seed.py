"""Deterministic, realistic demo data: ``ailab db seed --items N [--seed S]``.

The mixes follow the legacy database (``shared/legacy/ai_lab.db``): mostly ``todo`` and
``done``, mostly ``high`` priority, infrastructure and task types. Tags follow a Zipf-like long
tail over about 500 names (0-6 per item); dependencies point only at earlier items (0-3 each), so
they always form a DAG. Dates spread over the two years before a fixed day, so the same seed
gives the same database.

Bulk insert goes below the ORM: tuples through the driver's ``executemany`` on SQLite, and
``COPY`` through psycopg on Postgres, in one transaction.
"""

from __future__ import annotations

import functools
import itertools
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import AddConstraint, DropConstraint

from ailab.db import derived
from ailab.db.engine import WRITE_OPTION
from ailab.db.revision import bump_revision
from ailab.db.tables import metadata
from ailab.vocab import CLOSED_STATUSES

SEED_END = datetime(2026, 11, 1, 12, 0, 0)
SEED_SPAN = timedelta(days=730)
TAG_COUNT = 500
CHUNK = 10_000
DEP_CLUSTER = 50

STATUS_MIX = (("todo", 50), ("done", 34), ("in_progress", 8), ("blocked", 3), ("review", 3), ("cancelled", 2))
PRIORITY_MIX = (("high", 55), ("medium", 30), ("low", 10), ("critical", 5))
TYPE_MIX = (
    ("infrastructure", 30), ("task", 25), ("feature", 15), ("documentation", 9), ("bug", 8),
    ("framework", 6), ("research", 4), ("development", 2), ("planning", 1),
)  # fmt: skip

_VERBS = ("Add", "Fix", "Refactor", "Document", "Migrate", "Benchmark", "Design", "Review", "Automate",
          "Harden", "Profile", "Deploy", "Test", "Simplify", "Cache", "Index", "Monitor", "Validate")  # fmt: skip
_NOUNS = ("dashboard", "sync job", "API endpoint", "query planner", "tag filter", "login flow", "CI pipeline",
          "data model", "import script", "rate limiter", "search index", "report", "webhook", "backup",
          "config loader", "metrics exporter", "notebook", "load test", "schema migration", "cache layer")  # fmt: skip
_TOPICS = ("api", "backend", "frontend", "database", "performance", "security", "docs", "testing", "ci",
           "github", "sync", "dashboard", "infra", "monitoring", "ux", "mobile", "auth", "search", "cache",
           "analytics", "devops", "refactor", "bug", "research", "design", "data", "ml", "notebook",
           "postgres", "sqlite", "http", "async", "deploy", "release", "cleanup", "observability", "ai",
           "quality", "tooling", "import")  # fmt: skip
_WORDS = ("the", "a", "so", "that", "users", "can", "see", "faster", "results", "when", "they", "open", "page",
          "without", "waiting", "for", "each", "request", "to", "finish", "and", "errors", "are", "clear",
          "measured", "against", "target", "under", "load", "with", "real", "data", "from", "old", "system")  # fmt: skip


@dataclass
class SeedResult:
    """What ``seed_database`` added, how long it took, and the time per phase."""

    items: int
    tags: int
    tag_links: int
    dependencies: int
    criteria: int
    blockers: int
    projects: int
    seconds: float
    dialect: str
    per_phase: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows of every kind but projects."""
        return self.items + self.tags + self.tag_links + self.dependencies + self.criteria + self.blockers

    @property
    def items_per_second(self) -> float:
        """Work items seeded per second (NaN when no time was measured)."""
        return self.items / self.seconds if self.seconds else float("nan")

    def describe(self) -> str:
        """A one-line summary for ``ailab db seed``."""
        return (
            f"seeded {self.items:,} work items, {self.tag_links:,} tag links over {self.tags} tags, "
            f"{self.dependencies:,} dependencies, {self.criteria:,} criteria, {self.blockers:,} blockers "
            f"on {self.dialect} in {self.seconds:.2f} s ({self.items_per_second:,.0f} items/s)"
        )


def _weighted(rng: random.Random, mix: Sequence[tuple[str, int]], k: int) -> list[str]:
    names = [n for n, _ in mix]
    weights = [w for _, w in mix]
    return rng.choices(names, weights, k=k)


def tag_names(count: int = TAG_COUNT) -> list[str]:
    """``count`` distinct, readable tag names; the first ones are the most popular."""
    names = list(_TOPICS)
    suffixes = (
        "core",
        "v2",
        "ops",
        "client",
        "server",
        "edge",
        "tools",
        "infra",
        "ui",
        "perf",
        "flow",
        "lab",
    )
    i = 0
    while len(names) < count:
        topic, suffix = _TOPICS[i % len(_TOPICS)], suffixes[(i // len(_TOPICS)) % len(suffixes)]
        round_ = i // (len(_TOPICS) * len(suffixes))
        names.append(f"{topic}-{suffix}" + (f"-{round_}" if round_ else ""))
        i += 1
    return names[:count]


class _Writer:
    """Writes row tuples the fastest way the dialect offers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def ts(self, value: datetime) -> Any:
        """``value`` as the dialect takes it: SQLAlchemy's SQLite text format, or the datetime itself."""
        # SQLAlchemy's SQLite DateTime storage format, so ORM reads parse it back.
        return value.isoformat(" ", "microseconds") if self.dialect == "sqlite" else value

    def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` into ``table``: ``COPY`` on Postgres, ``executemany`` otherwise."""
        if not rows:
            return
        if self.dialect == "postgresql":
            cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.close()
        else:
            marks = ", ".join("?" for _ in columns)
            self.conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _scalar(conn: Connection, sql: str) -> int:
    return int(conn.execute(text(sql)).scalar() or 0)


def count_work_items(engine: Engine) -> int:
    """How many work items the database holds (``ailab db seed`` asks for --append when any)."""
    with engine.connect() as conn:
        return _scalar(conn, "SELECT COUNT(*) FROM work_items")


def seed_database(engine: Engine, items: int, seed: int = 42, progress: bool = False) -> SeedResult:
    """Add ``items`` work items (with tags, dependencies, criteria, blockers) in one transaction."""
    rng = random.Random(seed)
    started = time.perf_counter()
    phases: dict[str, float] = {}
    with engine.execution_options(**{WRITE_OPTION: True}).connect() as conn, conn.begin():
        w = _Writer(conn)
        now = datetime(2026, 11, 1)
        t0 = time.perf_counter()
        project_ids = _ensure_projects(conn, w, max(3, 3 + items // 20_000), now)
        tag_ids = _ensure_tags(conn, w)
        phases["projects+tags"] = time.perf_counter() - t0
        first_id = _scalar(conn, "SELECT COALESCE(MAX(id), 0) FROM work_items") + 1
        crit_id = _scalar(conn, "SELECT COALESCE(MAX(id), 0) FROM acceptance_criteria") + 1
        block_id = _scalar(conn, "SELECT COALESCE(MAX(id), 0) FROM blockers") + 1
        zipf = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(tag_ids))))
        # Statuses of the items a new one may depend on (earlier ones of its feature cluster):
        # the seed writes each item's open-dependency count itself, not a 50k-row UPDATE after.
        statuses: dict[int, str] = {
            int(i): str(s)
            for i, s in conn.execute(
                text("SELECT id, status FROM work_items WHERE id >= :lo"), {"lo": first_id - DEP_CLUSTER}
            )
        }
        children = _Rows()
        with (
            _progress(progress) as bar,
            _foreign_keys_checked_once(conn, SEEDED_TABLES),
            derived.triggers_suspended(conn),
        ):
            task = bar.add_task("seeding work items", total=items)
            for start in range(0, items, CHUNK):
                n = min(CHUNK, items - start)
                rows = _generate_chunk(
                    w,
                    rng,
                    first_id + start,
                    n,
                    project_ids,
                    tag_ids,
                    zipf,
                    crit_id,
                    block_id,
                    first_id,
                    items,
                    statuses,
                )
                crit_id += len(rows.crits)
                block_id += len(rows.blocks)
                w.write("work_items", WORK_ITEM_COLUMNS, rows.items)
                children.extend(rows)
                bar.advance(task, n)
            task = bar.add_task("seeding tags and dependencies", total=1)
            w.write("work_item_tags", ("work_item_id", "tag_id", "item_created_at"), children.links)
            w.write("work_item_dependencies", ("work_item_id", "depends_on_id"), children.deps)
            w.write("acceptance_criteria", ("id", "work_item_id", "position", "text", "done"), children.crits)
            w.write("blockers", ("id", "work_item_id", "position", "text", "resolved"), children.blocks)
            bar.advance(task, 1)
        counts = {
            "tag_links": len(children.links),
            "deps": len(children.deps),
            "criteria": len(children.crits),
            "blockers": len(children.blocks),
        }
        phases["rows"] = time.perf_counter() - t0 - phases["projects+tags"]
        if w.dialect == "postgresql":
            for table in ("work_items", "acceptance_criteria", "blockers", "projects", "tags"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
        bump_revision(conn)
    t1 = time.perf_counter()
    with engine.connect() as conn:
        # On Postgres, only the schema's own tables: a bare ANALYZE takes every table of the
        # database (other scratch schemas' too) and deadlocks with their concurrent DDL.
        tables = ", ".join(metadata.tables) if engine.dialect.name == "postgresql" else ""
        conn.exec_driver_sql(f"ANALYZE {tables}".strip())
        conn.commit()
    phases["analyze"] = time.perf_counter() - t1
    return SeedResult(
        items=items, tags=len(tag_ids), tag_links=counts["tag_links"], dependencies=counts["deps"],
        criteria=counts["criteria"], blockers=counts["blockers"], projects=len(project_ids),
        seconds=time.perf_counter() - started, dialect=engine.dialect.name, per_phase=phases,
    )  # fmt: skip


SEEDED_TABLES = ("work_items", "work_item_tags", "work_item_dependencies", "acceptance_criteria", "blockers")


@contextmanager
def _foreign_keys_checked_once(conn: Connection, tables: Sequence[str]) -> Iterator[None]:
    """On Postgres, check foreign keys once for the whole load instead of once per row.

    The bulk-load recipe from Postgres' "Populating a Database": drop the foreign-key
    constraints, load, add them back; adding them back validates every row in one join. It all
    happens inside the seed's transaction, so a failure leaves the constraints as they were.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    constraints = [fk for name in tables for fk in metadata.tables[name].foreign_key_constraints]
    for fk in constraints:
        conn.execute(DropConstraint(fk))
    yield
    for fk in constraints:
        conn.execute(AddConstraint(fk))


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(), disable=not enabled, transient=True,
    )  # fmt: skip


def _ensure_projects(conn: Connection, w: _Writer, count: int, now: datetime) -> list[int]:
    existing = [
        int(r[0]) for r in conn.execute(text("SELECT id FROM projects WHERE key LIKE 'DEMO-%' ORDER BY id"))
    ]
    if len(existing) >= count:
        return existing[:count]
    next_id = _scalar(conn, "SELECT COALESCE(MAX(id), 0) FROM projects") + 1
    rows = []
    for i in range(len(existing), count):
        pid = next_id
        next_id += 1
        rows.append((pid, f"DEMO-{i + 1}", f"Demo project {i + 1}", "A seeded demo project.", "active",
                     "high", "development", w.ts(now), w.ts(now)))  # fmt: skip
        existing.append(pid)
    cols = ("id", "key", "name", "description", "status", "priority", "category", "created_at", "updated_at")
    w.write("projects", cols, rows)
    return existing


def _ensure_tags(conn: Connection, w: _Writer) -> list[int]:
    wanted = tag_names()
    have = {str(n): int(i) for i, n in conn.execute(text("SELECT id, name FROM tags"))}
    next_id = max(have.values(), default=0) + 1
    rows = []
    for name in wanted:
        if name not in have:
            have[name] = next_id
            rows.append((next_id, name))
            next_id += 1
    w.write("tags", ("id", "name"), rows)
    return [have[name] for name in wanted]


@functools.cache
def _descriptions(count: int = 4096) -> tuple[str, ...]:
    """A fixed pool of ~150-character descriptions (drawing words per item is the slow part)."""
    rng = random.Random(0)
    return tuple(" ".join(rng.choices(_WORDS, k=28)).capitalize()[:149] + "." for _ in range(count))


WORK_ITEM_COLUMNS = (
    "id", "key", "title", "description", "status", "priority", "type", "project_id", "assignee", "author",
    "estimated_hours", "is_draft", "archived", "created_at", "updated_at", "open_dependencies",
)  # fmt: skip


@dataclass
class _Rows:
    items: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[tuple[Any, ...]] = field(default_factory=list)
    deps: list[tuple[Any, ...]] = field(default_factory=list)
    crits: list[tuple[Any, ...]] = field(default_factory=list)
    blocks: list[tuple[Any, ...]] = field(default_factory=list)

    def extend(self, other: _Rows) -> None:
        """Append ``other``'s child rows; not its ``items``, which are written per chunk."""
        self.links += other.links
        self.deps += other.deps
        self.crits += other.crits
        self.blocks += other.blocks


def _generate_chunk(
    w: _Writer,
    rng: random.Random,
    first: int,
    n: int,
    project_ids: list[int],
    tag_ids: list[int],
    zipf_cum: list[float],
    crit_id: int,
    block_id: int,
    first_of_run: int,
    total: int,
    statuses: dict[int, str],
) -> _Rows:
    """The rows of ``n`` items starting at id ``first`` (generation only, nothing written;
    ``statuses`` gains the new items' statuses)."""
    descriptions = _descriptions()
    statuses_of_chunk = _weighted(rng, STATUS_MIX, n)
    priorities = _weighted(rng, PRIORITY_MIX, n)
    types = _weighted(rng, TYPE_MIX, n)
    # Creation times increase with the id across the whole run: this chunk covers its own
    # slice [first, first + n) of the two years.
    per_item = SEED_SPAN.total_seconds() / total
    base = (first - first_of_run) * per_item
    offsets = sorted(base + rng.random() * n * per_item for _ in range(n))
    start_of_range = SEED_END - SEED_SPAN
    items: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    deps: list[tuple[Any, ...]] = []
    crits: list[tuple[Any, ...]] = []
    blocks: list[tuple[Any, ...]] = []
    for j in range(n):
        item_id = first + j
        created = start_of_range + timedelta(seconds=offsets[j])
        updated = created + timedelta(hours=rng.random() * 500)
        title = f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)} for {rng.choice(_TOPICS)}"
        desc = descriptions[rng.randrange(len(descriptions))]
        created_ts = w.ts(created)
        row = (
            item_id, f"WI-{item_id:06d}", title, desc, statuses_of_chunk[j], priorities[j], types[j],
            rng.choice(project_ids), f"dev{rng.randrange(12)}", "seed", float(rng.choice((1, 2, 4, 8, 16))),
            False, False, created_ts, w.ts(min(updated, SEED_END)),
        )  # fmt: skip
        for tag_id in set(rng.choices(tag_ids, cum_weights=zipf_cum, k=rng.randint(0, 6))):
            links.append((item_id, tag_id, created_ts))
        # Only on earlier items of the same feature (a block of DEP_CLUSTER ids): the graph is a
        # DAG, and chains stay as short as real follow-up work, not one 100k-deep web.
        lo = max(1, item_id - (item_id - 1) % DEP_CLUSTER)
        targets = {rng.randint(lo, item_id - 1) for _ in range(rng.randint(0, 3))} if item_id > lo else set()
        deps.extend((item_id, dep) for dep in targets)
        open_deps = sum(1 for dep in targets if statuses.get(dep) not in CLOSED_STATUSES)
        statuses[item_id] = statuses_of_chunk[j]
        items.append((*row, open_deps))
        for pos in range(1, 1 + rng.choice((0, 1, 2, 2, 3))):  # positions from 1, as the API writes
            crits.append(
                (
                    crit_id,
                    item_id,
                    pos,
                    f"Criterion {pos}: {rng.choice(_NOUNS)} works",
                    statuses_of_chunk[j] == "done",
                )
            )
            crit_id += 1
        if statuses_of_chunk[j] == "blocked":
            blocks.append((block_id, item_id, 1, f"Waiting on {rng.choice(_NOUNS)}", False))
            block_id += 1
    return _Rows(items, links, deps, crits, blocks)
