"""Projects, milestones and ideas -> ``EntityPlan``; tables with no place -> the report.

Lists the new schema has no table for (a project's team, objectives, risks; an idea's open
questions, next steps, benefits, prerequisites, its dependencies on other ideas and its
acceptance criteria; a milestone's dependencies) are stored parsed in ``extra`` under their own
names. Rows of tables the new schema has no place for (custom fields, project views, automation
rules, sessions, unknown tables) are listed in the report with all their values.
"""

from __future__ import annotations

from typing import Any

from ailab.db.models import Idea, Milestone, Project
from ailab.legacy.fields import Candidate, candidates, choose, fit_lengths, read_date, read_number, read_text
from ailab.legacy.github import SyncRow, github_link
from ailab.legacy.lists import TAG_NAME_MAX
from ailab.legacy.plan import EntityPlan, MapContext, row_hash
from ailab.legacy.rows import EmbeddedRecord, RowContext, is_blank, jsonable
from ailab.legacy.source import SourceTable
from ailab.legacy.values import parse_json
from ailab.legacy.work_items import (
    legacy_key,
    reference,
    timestamps,
    union_strings,
    unpack_record,
)

PROJECT_TEXT = ("category", "visibility", "owner", "repository_url", "vision", "notes", "health_status")
PROJECT_EXTRA = ("team", "tags", "objectives", "deliverables", "technologies", "acceptance_criteria", "risks")
IDEA_TEXT = ("category", "estimated_effort", "author", "target_audience", "notes")
IDEA_EXTRA = (
    "dependencies", "acceptance_criteria", "open_questions", "next_steps", "benefits", "prerequisites",
)  # fmt: skip


def _text(row: RowContext, emb: EmbeddedRecord | None, name: str, dest: str | None = None) -> str | None:
    dest = dest or f"{row.target}.{name}"
    return read_text(row, choose(row, candidates(row, emb, name, name), dest), dest)


def _number(row: RowContext, emb: EmbeddedRecord | None, name: str) -> Any:
    dest = f"{row.target}.{name}"
    return read_number(row, choose(row, candidates(row, emb, name, name), dest), dest, whole=True)


def _date(row: RowContext, emb: EmbeddedRecord | None, name: str, dest: str) -> Any:
    return read_date(row, choose(row, candidates(row, emb, name, name), dest), dest)


def _required_text(
    row: RowContext, emb: EmbeddedRecord | None, name: str, placeholder: str, missing: str
) -> str:
    """A text the new schema requires: a missing one is stored as ``placeholder`` and reported."""
    value = _text(row, emb, name)
    if value is None:
        value = placeholder
        row.anomaly(name, f"missing_{name}", None, missing, f"stored as {value!r}")
    return value


def _descriptive_text(
    row: RowContext, emb: EmbeddedRecord | None, default_status: str, text_fields: tuple[str, ...]
) -> dict[str, Any]:
    """Description, status, priority and the plain text fields (projects and ideas read them alike)."""
    out: dict[str, Any] = {
        "description": _text(row, emb, "description") or "",
        "status": _text(row, emb, "status") or default_status,
        "priority": _text(row, emb, "priority"),
    }
    for field in text_fields:
        out[field] = _text(row, emb, field)
    return out


def json_to_extra(row: RowContext, emb: EmbeddedRecord | None, name: str) -> Any:
    """A JSON field with no table of its own: parsed and kept in ``extra[name]``."""
    chosen: Candidate | None = choose(row, candidates(row, emb, name, name), f"{row.target}.extra.{name}")
    if chosen is None:
        return None
    field, raw = chosen
    if field in row.values:
        parsed, ok = row.json_value(field)
        if not ok or parsed is None:
            return None
    else:
        parsed = raw
    if is_blank(parsed):
        row.out(field, "empty")
        return None
    row.keep_extra(field, parsed, name)
    return parsed


def map_project(values: dict[str, Any], position: int, ctx: MapContext) -> EntityPlan:
    """Plan one source ``projects`` row."""
    key = legacy_key("projects", position, values.get("id"))
    row = RowContext("projects", "projects", key, values, ctx.report)
    row.out("id", "imported -> projects.key")
    out: dict[str, Any] = {"key": key}
    out["name"] = _required_text(row, None, "name", f"(unnamed {key})", "the project has no name")
    out.update(_descriptive_text(row, None, "active", PROJECT_TEXT))
    out["github_repo_id"] = _number(row, None, "github_repo_id")
    out["progress_percentage"] = _number(row, None, "progress_percentage")
    out["start_date"] = _date(row, None, "start_date", "projects.start_date")
    out["target_date"] = _date(row, None, "target_date", "projects.target_date")
    out["created_at"], out["updated_at"] = timestamps(row, None, ctx)
    for field in PROJECT_EXTRA:
        json_to_extra(row, None, field)
    source_idea = _text(row, None, "source_idea", "projects.extra.source_idea")
    if source_idea is not None:
        row.extra["source_idea"] = source_idea
        if not ctx.exists("ideas", source_idea):
            row.anomaly(
                "source_idea", "missing_idea", source_idea, "no idea has this id", "kept in extra.source_idea"
            )
    fit_lengths(row, out, Project.__table__)
    out["extra"] = row.finish()
    return EntityPlan("projects", key, "projects", row_hash(tuple(values.values())), out)


def map_milestone(values: dict[str, Any], position: int, ctx: MapContext) -> EntityPlan:
    """Plan one source ``milestones`` row."""
    key = legacy_key("milestones", position, values.get("id"))
    row = RowContext("milestones", "milestones", key, values, ctx.report)
    row.out("id", "imported -> milestones.key")
    out: dict[str, Any] = {"key": key}
    out["title"] = _text(row, None, "title") or f"(untitled {key})"
    out["description"] = _text(row, None, "description")
    out["status"] = _text(row, None, "status")
    out["due_date"] = _date(row, None, "due_date", "milestones.due_date")
    out["completed_at"] = _date(row, None, "completed_date", "milestones.completed_at")
    out["progress_percentage"] = _number(row, None, "progress_percentage")
    out["created_at"], out["updated_at"] = timestamps(row, None, ctx)
    json_to_extra(row, None, "dependencies")
    plan = EntityPlan("milestones", key, "milestones", row_hash(tuple(values.values())), out)
    reference(row, ctx, plan, choose(row, candidates(row, None, "project_id"), "milestones.project_id"),
              "project_id", "projects")  # fmt: skip
    fit_lengths(row, out, Milestone.__table__)
    out["extra"] = row.finish()
    return plan


def map_idea(
    values: dict[str, Any], position: int, ctx: MapContext, syncs: list[SyncRow], raw: tuple[Any, ...]
) -> EntityPlan:
    """Plan one source ``ideas`` row, with its embedded record (generation 1) and GitHub sync rows."""
    key = legacy_key("ideas", position, values.get("id"))
    row = RowContext("ideas", "ideas", key, values, ctx.report)
    row.out("id", "imported -> ideas.key")
    emb = unpack_record(row, "data") if "data" in values else None
    out: dict[str, Any] = {"key": key}
    out["title"] = _required_text(row, emb, "title", f"(untitled {key})", "the idea has no title")
    out.update(_descriptive_text(row, emb, "backlog", IDEA_TEXT))
    out["created_at"], out["updated_at"] = timestamps(row, emb, ctx)
    tags = candidates(row, emb, "tags", "tags", "labels")
    plan = EntityPlan("ideas", key, "ideas", "", out)
    plan.tags = [t for _, t in union_strings(row, tags, "idea_tags", TAG_NAME_MAX)]
    for field in IDEA_EXTRA:
        parsed = json_to_extra(row, emb, field)
        if field == "dependencies" and isinstance(parsed, list):
            for other in parsed:
                if isinstance(other, str) and not ctx.exists("ideas", other):
                    row.anomaly(field, "missing_idea", other, f"depends on {other!r}, which is not an idea",
                                "kept in extra.dependencies")  # fmt: skip
    plan.github = github_link(row, ctx, own_urls=[], project_key=None, syncs=syncs)
    if emb is not None:
        emb.finish()
    fit_lengths(row, out, Idea.__table__)
    out["extra"] = row.finish()
    plan.row_hash = row_hash(raw, [s.raw for s in syncs])
    return plan


def report_placeless(table: SourceTable, ctx: MapContext, kind: str, reason: str) -> None:
    """Every row of a table the new schema has no place for, listed with all its values."""
    for position, raw in enumerate(table.rows, start=1):
        values = dict(zip(table.columns, raw, strict=True))
        legacy_id = values.get("id")
        key = str(legacy_id) if not is_blank(legacy_id) else f"row {position}"
        row = RowContext(table.name, "-", key, values, ctx.report)
        for name, value in values.items():
            row.out(name, "empty" if is_blank(value) else "reported")
        shown = {k: jsonable(_parsed(v)) for k, v in values.items()}
        row.anomaly("*", kind, shown, reason, "reported only: listed here with all its values")


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        parsed, problem = parse_json(value)
        return value if problem else parsed
    return value
