"""Map a whole legacy database onto the new schema, in memory: the ``Plan`` an import writes.

Order matters only where the old data is ambiguous: GitHub issues go to the first row (in source
order, work items before ideas) that claims them. Every source table is either mapped
(projects, milestones, work items, ideas, github_sync), or its rows are listed in the report.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from ailab.errors import LegacyImportError
from ailab.legacy.entities import map_idea, map_milestone, map_project, report_placeless
from ailab.legacy.github import read_sync_rows, report_orphan
from ailab.legacy.plan import EntityPlan, MapContext, Plan
from ailab.legacy.report import ImportReport
from ailab.legacy.source import LegacySource, SourceTable
from ailab.legacy.target import TargetState
from ailab.legacy.work_items import map_work_item

MAPPED_TABLES = ("projects", "milestones", "work_items", "ideas")


def _source_keys(table: SourceTable) -> set[str]:
    if "id" not in table.columns:
        return set()
    at = table.columns.index("id")
    return {str(row[at]) for row in table.rows if row[at] is not None}


def _check_unique(table: str, plans: list[EntityPlan]) -> None:
    seen: dict[str, int] = {}
    for position, plan in enumerate(plans, start=1):
        first = seen.setdefault(plan.key, position)
        if first != position:
            raise LegacyImportError(
                f"{table} rows {first} and {position} (1-based), field id: both have the id {plan.key!r}, "
                "so neither could be matched on a later run. Make the ids unique in the legacy database."
            )


def build_plan(source: LegacySource, state: TargetState, report: ImportReport, now: datetime) -> Plan:
    """Map every source row to what the target should hold (``Plan``); pure, reads only ``source`` and ``state``."""
    layout = source.layout
    ctx = MapContext(report=report, state=state, generation=layout.generation, now=now)
    ctx.github_claims = dict(state.github_owner)
    ctx.source_keys = {name: _source_keys(source.table(name)) for name in MAPPED_TABLES}
    projects = source.table("projects")
    if "repository_url" in projects.columns:
        at, id_at = projects.columns.index("repository_url"), projects.columns.index("id")
        ctx.source_project_repos = {str(r[id_at]): r[at] for r in projects.rows}
    report.source_rows = {name: len(t.rows) for name, t in source.tables.items()}
    syncs = read_sync_rows(source.tables["github_sync"], report) if "github_sync" in source.tables else {}

    entities: dict[str, list[EntityPlan]] = {name: [] for name in MAPPED_TABLES}
    for position, values in enumerate(projects.dicts(), start=1):
        entities["projects"].append(map_project(values, position, ctx))
    for position, values in enumerate(source.table("milestones").dicts(), start=1):
        entities["milestones"].append(map_milestone(values, position, ctx))
    items = source.table("work_items")
    for position, raw in enumerate(items.rows, start=1):
        values = dict(zip(items.columns, raw, strict=True))
        owner_syncs = syncs.pop(("work_items", str(values.get("id"))), [])
        entities["work_items"].append(map_work_item(values, position, ctx, owner_syncs, raw))
    ideas = source.table("ideas")
    for position, raw in enumerate(ideas.rows, start=1):
        values = dict(zip(ideas.columns, raw, strict=True))
        owner_syncs = syncs.pop(("ideas", str(values.get("id"))), [])
        entities["ideas"].append(map_idea(values, position, ctx, owner_syncs, raw))
    for (owner_table, owner_key), rows in syncs.items():
        for sync in rows:
            report_orphan(sync, f"names {owner_table} {owner_key!r}, which is not in the legacy database")
    for name, plans in entities.items():
        _check_unique(name, plans)
    types = Counter(str(p.values["type"]) for p in entities["work_items"])
    if types:
        seen = ", ".join(f"{t} ({n})" for t, n in types.most_common())
        report.notes.append(
            f"Work item types are free text in the new schema; imported as they were: {seen}."
        )
    _report_other_tables(source, ctx)
    return Plan(entities=entities, report=report)


def _report_other_tables(source: LegacySource, ctx: MapContext) -> None:
    layout = source.layout
    known = set(layout.columns)
    for name, table in source.tables.items():
        if name in MAPPED_TABLES or name == "github_sync":
            extra_columns = sorted(set(table.columns) - set(layout.columns.get(name, table.columns)))
            for column in extra_columns:
                ctx.report.notes.append(
                    f"{name}.{column} is not in the generation {layout.generation} layout; "
                    f"its values are kept in {name}.extra.{column}."
                )
            continue
        if name not in known:
            ctx.report.notes.append(f"{name} is not a table of the old system's layout; its rows are listed.")
            report_placeless(table, ctx, "unknown_table", f"{name} is not a table of the old system's layout")
        else:
            report_placeless(
                table, ctx, "no_place_in_new_schema", f"the new schema has no place for {name} rows"
            )
