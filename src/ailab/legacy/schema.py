"""The old system's database layouts, in one place: the exact DDL of both generations.

Generation 2 is copied statement for statement from a real database of the old system
(``shared/legacy/ai_lab.db``, ``sqlite_master`` in creation order, auto-indexes left out because
SQLite creates them itself). Generation 1 is the layout older installations still run: raw
``sqlite3`` DDL with a ``tags`` JSON column instead of ``labels``, a ``component`` column, no
acceptance-criteria or blockers columns, a ``data`` column that holds the whole original record
as JSON, ``created_at``/``updated_at`` beside ``created_date``/``updated_date`` and no
``projects`` table. Its ``sessions`` and ``github_sync`` tables are the same statements that
survive in generation 2 files.

The synthetic generator (``ailab.testing.legacy_synth``) builds files from these statements and the
importer detects a file's generation against them (``detect_layout``), so the model of the old
schema cannot drift between the two.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from ailab.errors import LegacyImportError

# Tables created with raw sqlite3 by the oldest code; generation 2 files still carry them.
SESSIONS_DDL = (
    "CREATE TABLE sessions (\n"
    "                    id TEXT PRIMARY KEY,\n"
    "                    date TEXT,\n"
    "                    title TEXT,\n"
    "                    content TEXT,\n"
    "                    type TEXT DEFAULT 'development',\n"
    "                    status TEXT DEFAULT 'completed',\n"
    "                    data JSON,  -- Full original data\n"
    "                    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,\n"
    "                    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP\n"
    "                )"
)
GITHUB_SYNC_DDL = (
    "CREATE TABLE github_sync (\n"
    "                    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "                    local_id TEXT,\n"
    "                    local_type TEXT,  -- 'work_item' or 'idea'\n"
    "                    github_issue_id INTEGER,\n"
    "                    github_url TEXT,\n"
    "                    sync_direction TEXT,  -- 'to_github', 'from_github', 'conflict'\n"
    "                    sync_status TEXT DEFAULT 'synced',\n"
    "                    last_sync_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,\n"
    "                    sync_data JSON,  -- Sync metadata\n"
    "                    UNIQUE(local_id, local_type)\n"
    "                )"
)

GENERATION_1_DDL: tuple[str, ...] = (
    """CREATE TABLE work_items (
                    id TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    description TEXT,
                    status TEXT DEFAULT 'todo',
                    priority TEXT DEFAULT 'medium',
                    type TEXT DEFAULT 'task',
                    component TEXT,
                    project_id TEXT,
                    assignee TEXT,
                    tags JSON,  -- List of tag names
                    dependencies JSON,  -- List of work item ids
                    estimated_hours REAL,
                    actual_hours REAL,
                    due_date TEXT,
                    created_date TEXT,
                    updated_date TEXT,
                    data JSON,  -- Full original data
                    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
                )""",
    """CREATE TABLE ideas (
                    id TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    description TEXT,
                    status TEXT DEFAULT 'backlog',
                    priority TEXT DEFAULT 'medium',
                    category TEXT,
                    tags JSON,  -- List of tag names
                    created_date TEXT,
                    updated_date TEXT,
                    data JSON,  -- Full original data
                    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
                )""",
    SESSIONS_DDL,
    GITHUB_SYNC_DDL,
    "CREATE INDEX idx_work_items_status ON work_items(status)",
    "CREATE INDEX idx_work_items_priority ON work_items(priority)",
)

# Copied from shared/legacy/ai_lab.db (sqlite_master.sql, in rowid order).
GENERATION_2_DDL: tuple[str, ...] = (
    (
        "CREATE TABLE ideas (\n"
        "\tid VARCHAR NOT NULL, \n"
        "\ttitle VARCHAR NOT NULL, \n"
        "\tdescription TEXT NOT NULL, \n"
        "\tstatus VARCHAR NOT NULL, \n"
        "\tpriority VARCHAR NOT NULL, \n"
        "\tcategory VARCHAR NOT NULL, \n"
        "\ttags JSON, \n"
        "\tcreated_date DATETIME NOT NULL, \n"
        "\tupdated_date DATETIME NOT NULL, \n"
        "\testimated_effort VARCHAR, \n"
        "\tdependencies JSON, \n"
        "\tacceptance_criteria JSON, \n"
        "\tnotes TEXT, \n"
        "\tauthor VARCHAR, \n"
        "\topen_questions JSON, \n"
        "\tnext_steps JSON, \n"
        "\ttarget_audience VARCHAR, \n"
        "\tbenefits JSON, \n"
        "\tprerequisites JSON, \n"
        "\tgithub_issue_id INTEGER, \n"
        "\tgithub_synced_at DATETIME, \n"
        "\tPRIMARY KEY (id)\n"
        ")"
    ),
    "CREATE INDEX ix_ideas_id ON ideas (id)",
    "CREATE INDEX ix_ideas_title ON ideas (title)",
    (
        "CREATE TABLE projects (\n"
        "\tid VARCHAR NOT NULL, \n"
        "\tname VARCHAR NOT NULL, \n"
        "\tdescription TEXT NOT NULL, \n"
        "\tstatus VARCHAR NOT NULL, \n"
        "\tpriority VARCHAR NOT NULL, \n"
        "\tcategory VARCHAR NOT NULL, \n"
        "\tvisibility VARCHAR, \n"
        "\towner VARCHAR NOT NULL, \n"
        "\tteam JSON, \n"
        "\ttags JSON, \n"
        "\tcreated_date DATETIME NOT NULL, \n"
        "\tupdated_date DATETIME NOT NULL, \n"
        "\tstart_date DATETIME, \n"
        "\ttarget_date DATETIME, \n"
        "\tsource_idea VARCHAR, \n"
        "\tvision TEXT, \n"
        "\tobjectives JSON, \n"
        "\tdeliverables JSON, \n"
        "\ttechnologies JSON, \n"
        "\tacceptance_criteria JSON, \n"
        "\trisks JSON, \n"
        "\tprogress_percentage INTEGER, \n"
        "\thealth_status VARCHAR, \n"
        "\trepository_url VARCHAR, \n"
        "\tnotes TEXT, github_repo_id INTEGER, \n"
        "\tPRIMARY KEY (id)\n"
        ")"
    ),
    "CREATE INDEX ix_projects_name ON projects (name)",
    "CREATE INDEX ix_projects_id ON projects (id)",
    (
        "CREATE TABLE milestones (\n"
        "\tid VARCHAR NOT NULL, \n"
        "\ttitle VARCHAR NOT NULL, \n"
        "\tdescription TEXT, \n"
        "\tproject_id VARCHAR, \n"
        "\tstatus VARCHAR, \n"
        "\tdue_date DATETIME, \n"
        "\tcompleted_date DATETIME, \n"
        "\tprogress_percentage INTEGER, \n"
        "\tdependencies JSON, \n"
        "\tcreated_date DATETIME NOT NULL, \n"
        "\tupdated_date DATETIME NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(project_id) REFERENCES projects (id)\n"
        ")"
    ),
    "CREATE INDEX ix_milestones_id ON milestones (id)",
    (
        "CREATE TABLE custom_fields (\n"
        "\tid VARCHAR NOT NULL, \n"
        "\tname VARCHAR NOT NULL, \n"
        "\tfield_type VARCHAR NOT NULL, \n"
        "\tproject_id VARCHAR, \n"
        "\toptions JSON, \n"
        "\trequired BOOLEAN, \n"
        "\tcreated_date DATETIME NOT NULL, \n"
        "\tupdated_date DATETIME NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(project_id) REFERENCES projects (id)\n"
        ")"
    ),
    "CREATE INDEX ix_custom_fields_id ON custom_fields (id)",
    (
        "CREATE TABLE project_views (\n"
        "\tid VARCHAR NOT NULL, \n"
        "\tname VARCHAR NOT NULL, \n"
        "\tproject_id VARCHAR, \n"
        "\tlayout VARCHAR, \n"
        "\tfilters JSON, \n"
        "\tsort_config JSON, \n"
        "\tgroup_config JSON, \n"
        "\tis_default BOOLEAN, \n"
        "\tcreated_by VARCHAR, \n"
        "\tcreated_date DATETIME NOT NULL, \n"
        "\tupdated_date DATETIME NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(project_id) REFERENCES projects (id)\n"
        ")"
    ),
    "CREATE INDEX ix_project_views_id ON project_views (id)",
    (
        "CREATE TABLE automation_rules (\n"
        "\tid VARCHAR NOT NULL, \n"
        "\tname VARCHAR NOT NULL, \n"
        "\tproject_id VARCHAR, \n"
        "\ttrigger_type VARCHAR NOT NULL, \n"
        "\ttrigger_conditions JSON, \n"
        "\tactions JSON, \n"
        "\tenabled BOOLEAN, \n"
        "\tcreated_date DATETIME NOT NULL, \n"
        "\tupdated_date DATETIME NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(project_id) REFERENCES projects (id)\n"
        ")"
    ),
    "CREATE INDEX ix_automation_rules_id ON automation_rules (id)",
    (
        "CREATE TABLE work_items (\n"
        "\tid VARCHAR NOT NULL, \n"
        "\ttitle VARCHAR NOT NULL, \n"
        "\tdescription TEXT NOT NULL, \n"
        "\tstatus VARCHAR NOT NULL, \n"
        "\tpriority VARCHAR NOT NULL, \n"
        "\ttype VARCHAR NOT NULL, \n"
        "\tissue_type VARCHAR, \n"
        "\tproject_id VARCHAR, \n"
        "\tassignee VARCHAR, \n"
        "\tauthor VARCHAR, \n"
        "\tlabels JSON, \n"
        "\tcreated_date DATETIME NOT NULL, \n"
        "\tupdated_date DATETIME NOT NULL, \n"
        "\tdue_date DATETIME, \n"
        "\testimated_hours FLOAT, \n"
        "\tactual_hours FLOAT, \n"
        "\tmilestone_id VARCHAR, \n"
        "\tparent_issue_id VARCHAR, \n"
        "\tdependencies JSON, \n"
        "\tacceptance_criteria JSON, \n"
        "\tblockers JSON, \n"
        "\tnotes TEXT, \n"
        "\tfile_path VARCHAR, \n"
        "\trepository_url VARCHAR, \n"
        "\tgithub_issue_id INTEGER, \n"
        "\tgithub_synced_at DATETIME, \n"
        "\tis_draft BOOLEAN, \n"
        "\tarchived BOOLEAN, github_repo_url TEXT, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(project_id) REFERENCES projects (id), \n"
        "\tFOREIGN KEY(milestone_id) REFERENCES milestones (id), \n"
        "\tFOREIGN KEY(parent_issue_id) REFERENCES work_items (id)\n"
        ")"
    ),
    "CREATE INDEX ix_work_items_id ON work_items (id)",
    "CREATE INDEX ix_work_items_title ON work_items (title)",
    (
        "CREATE TABLE custom_field_values (\n"
        "\tid VARCHAR NOT NULL, \n"
        "\tfield_id VARCHAR, \n"
        "\twork_item_id VARCHAR, \n"
        "\tvalue JSON, \n"
        "\tcreated_date DATETIME NOT NULL, \n"
        "\tupdated_date DATETIME NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(field_id) REFERENCES custom_fields (id), \n"
        "\tFOREIGN KEY(work_item_id) REFERENCES work_items (id)\n"
        ")"
    ),
    "CREATE INDEX ix_custom_field_values_id ON custom_field_values (id)",
    SESSIONS_DDL,
    GITHUB_SYNC_DDL,
    "CREATE INDEX idx_work_items_status ON work_items(status)",
    "CREATE INDEX idx_work_items_priority ON work_items(priority)",
)


@dataclass(frozen=True)
class Layout:
    """One generation of the old schema: its DDL and what identifies it."""

    generation: int
    description: str
    ddl: tuple[str, ...]
    required: Mapping[str, frozenset[str]]  # table -> columns a file must have
    absent: Mapping[str, frozenset[str]]  # table -> columns that mark a different generation

    @property
    def columns(self) -> dict[str, tuple[str, ...]]:
        """Every table of the layout and its columns, in DDL order."""
        return _columns_of(self.ddl)

    def describe_expected(self) -> str:
        """The tables and columns this layout requires, for the error when a file fits none."""
        parts = [f"{table}({', '.join(sorted(cols))})" for table, cols in sorted(self.required.items())]
        text = f"generation {self.generation} ({self.description}): " + "; ".join(parts)
        for table, cols in self.absent.items():
            text += f"; and no {table}.{'/'.join(sorted(cols))}"
        return text


GENERATION_1 = Layout(
    generation=1,
    description="work_items with tags JSON, component and a data column holding the original record",
    ddl=GENERATION_1_DDL,
    required={
        "work_items": frozenset(
            {"id", "title", "status", "tags", "component", "data", "created_at", "updated_at"}
        )
    },
    absent={"work_items": frozenset({"labels"})},
)

GENERATION_2 = Layout(
    generation=2,
    description="JSON columns for labels, dependencies, criteria and blockers; projects table",
    ddl=GENERATION_2_DDL,
    required={
        "work_items": frozenset(
            {
                "id",
                "title",
                "status",
                "priority",
                "type",
                "labels",
                "dependencies",
                "acceptance_criteria",
                "blockers",
                "created_date",
                "updated_date",
            }
        ),
        "projects": frozenset({"id", "name"}),
        "ideas": frozenset({"id", "title"}),
    },
    absent={},
)

LAYOUTS: tuple[Layout, ...] = (GENERATION_2, GENERATION_1)

# SQLite's own bookkeeping tables: never data of the old system.
INTERNAL_TABLES = frozenset({"sqlite_sequence", "sqlite_stat1", "sqlite_stat4"})


def table_ddl(layout: Layout, table: str) -> tuple[str, ...]:
    """The ``CREATE TABLE`` statement of ``table`` and the ``CREATE INDEX`` statements on it.

    For code that needs one old table on its own, e.g. the report's JSON-column baseline.
    """
    create = re.compile(rf"^CREATE TABLE {re.escape(table)} \(")
    index = re.compile(rf"^CREATE INDEX \w+ ON {re.escape(table)}\s*\(")
    return tuple(s for s in layout.ddl if create.match(s) or index.match(s))


@cache
def _columns_of(ddl: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    # Let SQLite itself parse the statements: no hand-written column lists to drift.
    conn = sqlite3.connect(":memory:")
    try:
        for statement in ddl:
            conn.execute(statement)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            t: tuple(r[1] for r in conn.execute(f'PRAGMA table_info("{t}")'))
            for t in tables
            if t not in INTERNAL_TABLES
        }
    finally:
        conn.close()


def _mismatch(layout: Layout, found: Mapping[str, Sequence[str]]) -> list[str]:
    problems: list[str] = []
    for table, cols in layout.required.items():
        if table not in found:
            problems.append(f"no table {table}")
            continue
        missing = sorted(cols - set(found[table]))
        if missing:
            problems.append(f"{table} lacks {', '.join(missing)}")
    for table, cols in layout.absent.items():
        present = sorted(cols & set(found.get(table, ())))
        if present:
            problems.append(f"{table} has {', '.join(present)}")
    return problems


def detect_layout(found: Mapping[str, Sequence[str]], source: str) -> Layout:
    """The generation whose tables and columns ``found`` has; a clear error if none fits."""
    if not found:
        raise LegacyImportError(
            f"{source} is an empty SQLite database (it has no tables). Expected a database of the "
            "old system: " + " | ".join(layout.describe_expected() for layout in LAYOUTS)
        )
    mismatches: list[str] = []
    for layout in LAYOUTS:
        problems = _mismatch(layout, found)
        if not problems:
            return layout
        mismatches.append(f"not generation {layout.generation}: {'; '.join(problems)}")
    found_text = "; ".join(f"{t}({', '.join(cols)})" for t, cols in sorted(found.items()))
    raise LegacyImportError(
        f"{source} has a layout the importer does not know. Expected "
        + " | or ".join(layout.describe_expected() for layout in LAYOUTS)
        + f". Found tables: {found_text}. ({' | '.join(mismatches)}.) "
        "Check that this is a database of the old ai_lab system; if it is a newer layout, "
        "add it to ailab.legacy.schema."
    )
