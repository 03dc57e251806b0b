"""Synthetic legacy databases of either schema generation, of any size, clean or messy.

``generate(path, items=N, generation=2, seed=..., messes=...)`` builds a SQLite file from the
exact DDL in ``ailab.legacy.schema`` and fills it the way the old system did: JSON text columns
(``json.dumps`` with its default separators), text dates, projects with GitHub repositories
(generation 2), the whole record in ``data`` (generation 1). Tags follow the same Zipf long tail
over the same ~500 names as ``ailab.db.seed``; dependencies point at earlier items only.

``messes=False`` writes clean data: documented statuses and priorities, valid JSON, one date
format, no dangling references. That is the old JSON-column table the report uses as a baseline
("the old JSON-column table with its tag query"). ``messes=True`` injects every kind of mess
in ``ailab.testing.legacy_messes`` (each at least once when there are enough items, then at
random), and ``SynthSummary.messes`` counts what was injected.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ailab.db.seed import DEP_CLUSTER, PRIORITY_MIX, STATUS_MIX, TYPE_MIX, tag_names
from ailab.errors import LegacyImportError
from ailab.legacy.schema import GENERATION_1, GENERATION_2, Layout
from ailab.legacy.source import SQLITE_HEADER
from ailab.testing.legacy_messes import Messer

BASE_DATE = datetime(2025, 11, 14, 10, 0, 0)
SPAN = timedelta(days=365)
PREFIXES = ("FRM", "HS", "INF", "TEST", "DEPLOY", "DOCS", "ARCH", "DASH", "HYB", "OPS")
GITHUB_OWNER = "legacy-lab"
ASSIGNEES = ("AI Lab Framework Team", "ai-assistant", "jns", "AI Lab Team", "Infrastructure Team", "ai-agent",
             "DevOps Engineer", "AI Developer", "DevOps Team", "Backend Developer")  # fmt: skip
WORDS = ("Framework", "Homeserver", "Dashboard", "Pipeline", "Backup", "Monitoring", "Dokumentation", "Sync",
         "Agent", "Deployment", "Tests", "Cluster", "Archivierung", "API", "Datenbank", "Release")  # fmt: skip
VERBS = ("Implement", "Analyse", "Einrichten", "Refactor", "Document", "Migrate", "Validate", "Konsolidieren")
MESSY_FRACTION = 0.04
BATCH = 5000


@dataclass
class SynthSummary:
    """What ``generate`` wrote; counts are of well-formed values (what a clean import yields)."""

    path: Path
    generation: int
    seed: int
    items: int
    ideas: int = 0
    projects: int = 0
    milestones: int = 0
    tag_links: int = 0
    dependencies: int = 0
    criteria: int = 0
    blockers: int = 0
    github_links: int = 0
    messes: dict[str, int] = field(default_factory=dict)
    tag_counts: dict[str, int] = field(default_factory=dict)  # tag -> work items carrying it
    seconds: float = 0.0

    def tags_by_popularity(self) -> list[str]:
        """Tag names, most used first (ties by name)."""
        return sorted(self.tag_counts, key=lambda t: (-self.tag_counts[t], t))

    @property
    def popular_tag(self) -> str:
        """The most used tag (a benchmark's worst case)."""
        return self.tags_by_popularity()[0]

    @property
    def median_tag(self) -> str:
        """A tag of median use."""
        ranked = self.tags_by_popularity()
        return ranked[len(ranked) // 2]

    @property
    def rare_tag(self) -> str:
        """The least used tag."""
        return self.tags_by_popularity()[-1]


def _weighted(rng: random.Random, mix: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([n for n, _ in mix], [w for _, w in mix])[0]


def _ts(value: datetime) -> str:
    # The old SQLAlchemy models stored DATETIME as text with microseconds.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _prepare(path: Path) -> None:
    if path.exists():
        with path.open("rb") as fh:
            if fh.read(len(SQLITE_HEADER)) not in (SQLITE_HEADER, b""):
                raise LegacyImportError(f"{path} exists and is not a SQLite database; not overwriting it.")
        path.unlink()
    for suffix in ("-journal", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


class _Generator:
    def __init__(self, path: Path, items: int, generation: int, seed: int, messes: bool) -> None:
        self.rng = random.Random(seed)
        self.layout: Layout = GENERATION_2 if generation == 2 else GENERATION_1
        self.summary = SynthSummary(path=path, generation=generation, seed=seed, items=items)
        self.tags = tag_names()
        self.zipf = [1.0 / (rank + 1) for rank in range(len(self.tags))]
        self.messer = Messer(self.rng, generation) if messes else None
        self.projects: list[tuple[str, str | None]] = []  # (key, repository url)
        self.milestones: list[str] = []
        self.next_issue: dict[str, int] = {}

    def insert(self, conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` into ``table`` with the layout's columns; a key a row lacks is NULL."""
        if not rows:
            return
        columns = self.layout.columns[table]
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        conn.executemany(sql, [tuple(r.get(c) for c in columns) for r in rows])

    def run(self, conn: sqlite3.Connection) -> SynthSummary:
        """Create the layout's tables and fill them (messes if asked); return the summary."""
        for statement in self.layout.ddl:
            conn.execute(statement)
        if self.layout.generation == 2:
            self.insert(conn, "projects", self.make_projects())
            self.insert(conn, "milestones", self.make_milestones())
        ideas = self.make_ideas()
        self.insert(conn, "ideas", ideas)
        sync_rows: list[dict[str, Any]] = []
        keys: list[str] = []
        batch: list[dict[str, Any]] = []
        for i in range(self.summary.items):
            batch.append(self.make_item(i, keys, sync_rows))
            if len(batch) >= BATCH:
                self.insert(conn, "work_items", batch)
                batch = []
        self.insert(conn, "work_items", batch)
        if self.messer is not None:
            sync_rows += self.messer.orphan_sync_rows()
            for table, rows in self.messer.placeless_rows(self.layout).items():
                self.insert(conn, table, rows)
            self.summary.messes = dict(self.messer.injected)
        self.insert(conn, "github_sync", sync_rows)
        self.summary.ideas = len(ideas)
        return self.summary

    # --- projects, milestones, ideas --------------------------------------------------------

    def make_projects(self) -> list[dict[str, Any]]:
        """Project rows (3, plus one per 10,000 items), each with a GitHub repository URL.

        With messes the third project has none. Also fills ``projects`` for the items to pick from.
        """
        rows = []
        for n in range(3 + self.summary.items // 10_000):
            key = f"PROJ-{self.rng.getrandbits(32):08X}"
            slug = f"{self.rng.choice(WORDS).lower()}-{n + 1}"
            repo: str | None = f"https://github.com/{GITHUB_OWNER}/{slug}"
            if self.messer is not None and n == 2:
                repo = self.messer.note("project_without_repository", None)
            created = BASE_DATE - SPAN + timedelta(days=n)
            self.projects.append((key, repo))
            rows.append({
                "id": key, "name": f"{slug.title()} Project", "description": f"The {slug} project.",
                "status": self.rng.choice(("active", "planning")), "priority": "high", "category": "development",
                "visibility": "private", "owner": "AI Lab Team", "team": json.dumps(["DevOps Engineer", "AI Developer"]),
                "tags": json.dumps([slug, "project"]), "created_date": _ts(created), "updated_date": _ts(created),
                "start_date": _ts(created), "target_date": _ts(created + timedelta(days=90)),
                "objectives": json.dumps([f"Ship {slug}"]), "deliverables": json.dumps(["Release 1.0"]),
                "technologies": json.dumps(["Python", "Docker"]), "acceptance_criteria": json.dumps(["It works"]),
                "risks": json.dumps(["Scope creep"]), "progress_percentage": self.rng.randrange(0, 100),
                "health_status": "healthy", "repository_url": repo, "github_repo_id": 1_096_000_000 + n,
            })  # fmt: skip
        self.summary.projects = len(rows)
        return rows

    def make_milestones(self) -> list[dict[str, Any]]:
        """Two milestone rows per project; also fills ``milestones`` for the items to pick from."""
        rows = []
        for key, _repo in self.projects:
            for n in range(2):
                ms = f"{key}-MS-{n + 1}"
                self.milestones.append(ms)
                created = _ts(BASE_DATE - SPAN)
                rows.append({"id": ms, "title": f"Milestone {n + 1}", "project_id": key, "status": "open",
                             "due_date": _ts(BASE_DATE + timedelta(days=30 * (n + 1))),
                             "dependencies": json.dumps([]), "created_date": created, "updated_date": created})  # fmt: skip
        self.summary.milestones = len(rows)
        return rows

    def make_ideas(self) -> list[dict[str, Any]]:
        """Idea rows (one per 20 items, at least 3); messed up if asked."""
        rows = []
        count = max(3, self.summary.items // 20)
        for n in range(count):
            key = f"IDEA-{n + 1:03d}"
            created = BASE_DATE - SPAN + timedelta(hours=n * 7)
            deps = [f"IDEA-{d:03d}" for d in range(max(1, n - 2), n + 1) if self.rng.random() < 0.3]
            record = {
                "id": key, "title": f"{self.rng.choice(VERBS)} {self.rng.choice(WORDS)} idea {n + 1}",
                "description": "Eine Idee für das Framework.", "status": self.rng.choice(("backlog", "converted")),
                "priority": _weighted(self.rng, PRIORITY_MIX), "category": "development",
                "tags": self.rng.sample(self.tags[:40], 3), "dependencies": deps,
                "acceptance_criteria": ["Idea is refined"], "open_questions": ["Wie genau?"],
                "next_steps": ["Research"], "benefits": ["Faster work"], "prerequisites": ["Time"],
                "author": "jns", "target_audience": "Developers", "notes": None, "estimated_effort": "2 days",
            }  # fmt: skip
            row = {k: json.dumps(v) if isinstance(v, list) else v for k, v in record.items()}
            row["created_date"] = row["updated_date"] = _ts(created)
            if self.layout.generation == 1:
                data = {**record, "created_date": created.isoformat() + "Z"}
                row = {
                    k: row[k]
                    for k in ("id", "title", "description", "status", "priority", "category", "tags")
                }
                row.update(created_date=created.isoformat() + "Z", updated_date=created.isoformat() + "Z",
                           data=json.dumps(data), created_at=created.strftime("%Y-%m-%d %H:%M:%S"))  # fmt: skip
                row["updated_at"] = row["created_at"]
            if self.messer is not None:
                self.messer.mess_idea(n, row)
            rows.append(row)
        return rows

    # --- work items -------------------------------------------------------------------------

    def make_item(self, i: int, keys: list[str], sync_rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Work item ``i``'s row (messed up if asked); updates the summary's counts.

        Appends its key to ``keys`` and any ``github_sync`` row it needs to ``sync_rows``.
        """
        rng = self.rng
        key = f"{rng.choice(PREFIXES)}-{i + 1:06d}"
        keys.append(key)
        created = (
            BASE_DATE - SPAN + SPAN * (i / max(1, self.summary.items)) + timedelta(minutes=rng.random() * 60)
        )
        updated = created + timedelta(hours=rng.random() * 200)
        status = _weighted(rng, STATUS_MIX)
        tags = list(dict.fromkeys(rng.choices(self.tags, self.zipf, k=rng.randint(0, 6))))
        lo = max(0, i - i % DEP_CLUSTER)
        deps = sorted({keys[rng.randint(lo, i - 1)] for _ in range(rng.randint(0, 3))}) if i > lo else []
        criteria = [
            f"Kriterium {n + 1}: {rng.choice(WORDS)} funktioniert" for n in range(rng.choice((0, 2, 3, 5)))
        ]
        blockers = [f"Wartet auf {rng.choice(WORDS)}"] if status == "blocked" else []
        project, repo = rng.choice(self.projects) if self.projects and rng.random() < 0.35 else (None, None)
        if self.layout.generation == 1 and rng.random() < 0.15:
            # No projects table: the old github_sync rows name each issue by its URL.
            repo = f"https://github.com/{GITHUB_OWNER}/{rng.choice(WORDS).lower()}"
        number = None
        if repo is not None and rng.random() < 0.4:
            number = self.next_issue[repo] = self.next_issue.get(repo, 0) + 1
        item: dict[str, Any] = {
            "id": key, "title": f"{rng.choice(VERBS)} {rng.choice(WORDS)} {rng.choice(WORDS).lower()}",
            "description": f"Beschreibung von {key}.", "status": status, "priority": _weighted(rng, PRIORITY_MIX),
            "type": _weighted(rng, TYPE_MIX), "project_id": project, "assignee": rng.choice(ASSIGNEES),
            "estimated_hours": float(rng.choice((0, 2, 4, 6, 8, 12, 24))), "actual_hours": 0.0,
        }  # fmt: skip
        s = self.summary
        s.tag_links += len(tags)
        s.dependencies += len(deps)
        for t in tags:
            s.tag_counts[t] = s.tag_counts.get(t, 0) + 1
        if self.layout.generation == 2:
            row = self._gen2_item(item, created, updated, tags, deps, criteria, blockers, number, repo)
        else:
            row = self._gen1_item(item, created, updated, tags, deps, criteria, blockers)
            if number is not None:
                sync_rows.append({"local_id": key, "local_type": "work_item", "github_issue_id": number,
                                  "github_url": f"{repo}/issues/{number}", "sync_direction": "to_github",
                                  "sync_status": "synced", "last_sync_at": updated.strftime("%Y-%m-%d %H:%M:%S"),
                                  "sync_data": json.dumps({"etag": f"W/{i}"})})  # fmt: skip
        s.criteria += len(criteria)
        s.blockers += len(blockers)
        s.github_links += number is not None
        if self.messer is not None:
            self.messer.mess_item(i, row, keys, sync_rows)
        return row

    def _gen2_item(
        self, item: dict[str, Any], created: datetime, updated: datetime, tags: list[str], deps: list[str],
        criteria: list[str], blockers: list[str], number: int | None, repo: str | None,
    ) -> dict[str, Any]:  # fmt: skip
        rng = self.rng
        milestone = rng.choice(self.milestones) if self.milestones and rng.random() < 0.1 else None
        return {
            **item, "issue_type": rng.choice(("", "issue")), "author": rng.choice((None, "jns", "AI Lab Framework")),
            "labels": json.dumps(tags), "created_date": _ts(created), "updated_date": _ts(updated),
            "due_date": None, "milestone_id": milestone, "dependencies": json.dumps(deps),
            "acceptance_criteria": json.dumps(criteria), "blockers": json.dumps(blockers),
            "notes": rng.choice((None, "Analysis complete.", "Siehe Dokumentation.")),
            "github_issue_id": number, "github_synced_at": _ts(updated) if number else None,
            "github_repo_url": repo if number and rng.random() < 0.5 else None,
            "is_draft": rng.choice((None, 0)), "archived": rng.choice((None, 0)),
        }  # fmt: skip

    def _gen1_item(
        self, item: dict[str, Any], created: datetime, updated: datetime, tags: list[str], deps: list[str],
        criteria: list[str], blockers: list[str],
    ) -> dict[str, Any]:  # fmt: skip
        rng = self.rng
        component = rng.choice(("core", "dashboard", "sync", "infra"))
        subtasks = [{"id": f"{item['id']}-{n + 1}", "title": f"Teilaufgabe {n + 1}", "status": "todo"}
                    for n in range(rng.choice((0, 0, 2)))]  # fmt: skip
        record = {**item, "project_id": None, "component": component, "tags": tags, "dependencies": deps,
                  "created_date": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "acceptance_criteria": criteria,
                  "blockers": blockers, "notes": rng.choice(("Erledigt nach Plan.", "Needs review.")),
                  "subtasks": subtasks, "definition_of_done": ["Tests pass"]}  # fmt: skip
        return {
            **item, "project_id": None, "component": component, "tags": json.dumps(tags),
            "dependencies": json.dumps(deps), "created_date": record["created_date"],
            "updated_date": updated.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": json.dumps(record),
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"), "updated_at": updated.strftime("%Y-%m-%d %H:%M:%S"),
        }  # fmt: skip


def generate(
    path: Path | str, items: int = 1000, generation: int = 2, seed: int = 42, messes: bool = True
) -> SynthSummary:
    """Write a synthetic legacy database of ``generation`` (1 or 2) with ``items`` work items."""
    if generation not in (1, 2):
        raise LegacyImportError(f"There are two legacy schema generations, 1 and 2; got {generation}.")
    if items < 0:
        raise LegacyImportError(f"items must be 0 or more; got {items}.")
    started = time.perf_counter()
    path = Path(path)
    _prepare(path)
    conn = sqlite3.connect(path)
    try:
        with conn:
            summary = _Generator(path, items, generation, seed, messes).run(conn)
    finally:
        conn.close()
    summary.seconds = time.perf_counter() - started
    return summary
