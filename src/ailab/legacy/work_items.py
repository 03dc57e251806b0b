"""One legacy work item (either generation) -> an ``EntityPlan`` for ``work_items``.

Generation 1 keeps tags in ``tags`` and the whole original record in ``data``; generation 2 keeps
tags in ``labels``, and some of its rows hold the original record in ``notes``. Either record is
unpacked key by key: a key that repeats a column is a duplicate (or a reported conflict), one that
fills an empty column is imported, criteria and blockers become child rows, and the rest (sub-tasks,
definition of done, ...) goes to ``extra`` under its own name. Sub-tasks stay in ``extra.subtasks``
rather than becoming work items, so item counts match the source and nothing is invented.
"""

from __future__ import annotations

from typing import Any

from ailab.db.models import WorkItem
from ailab.errors import LegacyImportError
from ailab.legacy.fields import (
    Candidate,
    account_blank,
    candidates,
    choose,
    fit_lengths,
    read_date,
    read_number,
    read_text,
    vocabulary,
)
from ailab.legacy.github import SyncRow, github_link
from ailab.legacy.lists import TAG_NAME_MAX, checklist_items, read_list, string_items
from ailab.legacy.plan import EntityPlan, MapContext, row_hash
from ailab.legacy.rows import EmbeddedRecord, RowContext, is_blank
from ailab.legacy.values import parse_json
from ailab.legacy.vocabulary import DEFAULT_PRIORITY, DEFAULT_STATUS, map_priority, map_status

KEY_MAX = 64
TEXT_FIELDS = ("issue_type", "assignee", "author", "file_path")
HOURS_FIELDS = ("estimated_hours", "actual_hours")
REFERENCES = (  # (source column, embedded keys, target FK column, target table)
    ("project_id", ("project_id", "project"), "project_id", "projects"),
    ("milestone_id", ("milestone_id", "milestone"), "milestone_id", "milestones"),
    ("parent_issue_id", ("parent_issue_id", "parent_id", "parent"), "parent_id", "work_items"),
)


def legacy_key(table: str, position: int, value: Any) -> str:
    """The legacy id as the new key; a row without a usable id stops the import (names the row)."""
    where = f"{table} row {position} (1-based), field id"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise LegacyImportError(
            f"{where}: {value!r} is not a usable id, so the row could not be imported or matched on a "
            "later run. Give the row an id in the legacy database and import again."
        )
    if len(value) > KEY_MAX:
        raise LegacyImportError(
            f"{where}: {value[:80]!r}... is {len(value)} characters; keys hold at most {KEY_MAX}. "
            "Shorten the id in the legacy database and import again."
        )
    return value


def unpack_record(row: RowContext, column: str, *, only_if_record: bool = False) -> EmbeddedRecord | None:
    """The JSON object in ``column`` holding the original record, if there is one.

    ``only_if_record``: the column normally holds something else (``notes``); it is unpacked only
    when it parses as an object that carries this row's own id.
    """
    raw = row.values.get(column)
    if is_blank(raw) or not isinstance(raw, str | bytes):
        return None
    if only_if_record:
        if not (isinstance(raw, str) and raw.lstrip().startswith("{")):
            return None
        parsed, problem = parse_json(raw)
        if problem is not None or not isinstance(parsed, dict) or parsed.get("id") != row.key:
            return None
        row.anomaly(
            column,
            "record_in_notes",
            raw[:300],
            f"{column} holds the whole original record as JSON, not notes",
            f"unpacked: every key accounted as {column}.<key>",
        )
    else:
        parsed, ok = row.json_value(column)
        if not ok:
            return None
        if not isinstance(parsed, dict):
            row.keep_unreadable(column, parsed, "not_a_record", "JSON that is not an object")
            return None
    row.out(column, f"unpacked -> {column}.*")
    emb = EmbeddedRecord(row, column, parsed)
    if emb.has("id"):
        choose(row, [("id", row.key), (emb.field_name("id"), emb.take("id"))], f"{row.target}.key")
    return emb


def _list_items(row: RowContext, name: str, raw: Any) -> list[Any] | None:
    # Columns hold JSON text; an embedded record's values are already parsed.
    return read_list(row, name) if name in row.values else read_list(row, name, raw)


def union_strings(
    row: RowContext, found: list[Candidate], dest: str | None, max_len: int | None = None
) -> list[tuple[str, str]]:
    """``(field, text)`` for every text element of every candidate list, de-duplicated."""
    seen: set[str] = set()
    kept: list[tuple[str, str]] = []
    for name, raw in found:
        items = _list_items(row, name, raw)
        if items is not None:
            kept += [(name, t) for t in string_items(row, name, items, dest, max_len=max_len, seen=seen)]
    return kept


def checklist(row: RowContext, found: list[Candidate], dest: str, flag: str) -> list[tuple[str, bool]]:
    """Read the chosen candidate as a checklist (acceptance criteria or blockers) of (text, done) pairs."""
    chosen = choose(row, found, dest)
    if chosen is None:
        return []
    items = _list_items(row, *chosen)
    return checklist_items(row, chosen[0], items, dest, flag) if items else []


def reference(
    row: RowContext, ctx: MapContext, plan: EntityPlan, chosen: Candidate | None, fk: str, to_table: str
) -> None:
    """A reference to another row by legacy id: linked, or kept in ``unresolved_refs``."""
    if chosen is None:
        return
    name, raw = chosen
    if is_blank(raw):
        account_blank(row, name, raw)
        return
    target = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
    if target is None:
        row.keep_unreadable(name, raw, "bad_reference", f"a {type(raw).__name__}, not an id")
    elif target == row.key:
        row.out(name, "reported")
        row.anomaly(name, "self_reference", target, f"the row names itself as its {fk}", "not stored")
    elif ctx.exists(to_table, target):
        plan.refs[fk] = target
        row.out(name, f"imported -> {row.target}.{fk}")
    else:
        plan.unresolved.append((fk, to_table, target))
        row.out(name, "unresolved -> unresolved_refs")
        row.anomaly(
            name,
            f"missing_{to_table[:-1]}",
            target,
            f"{to_table} has no row {target!r}",
            "kept in unresolved_refs; linked automatically if that row is imported later",
        )


def dependencies(row: RowContext, ctx: MapContext, plan: EntityPlan, found: list[Candidate]) -> list[str]:
    """The keys of the items this one depends on; self-references and unknown keys are reported, not stored."""
    resolved: list[str] = []
    for name, target in union_strings(row, found, None):
        if target == row.key:
            row.out(name, "reported")
            row.anomaly(name, "self_dependency", target, "an item cannot depend on itself", "not stored")
        elif ctx.exists("work_items", target):
            resolved.append(target)
            row.out(name, "imported -> work_item_dependencies")
        else:
            plan.unresolved.append(("dependencies", "work_items", target))
            row.out(name, "unresolved -> unresolved_refs")
            row.anomaly(
                name,
                "dangling_dependency",
                target,
                f"depends on {target!r}, which is not a work item",
                "kept in unresolved_refs; linked automatically if that item is imported later",
            )
    return resolved


def timestamps(row: RowContext, emb: EmbeddedRecord | None, ctx: MapContext) -> tuple[Any, Any]:
    """``(created_at, updated_at)``: the record's own dates first, then the old row's insertion
    times (generation 1's ``created_at``/``updated_at``); never NULL."""
    dates = []
    for name in ("created", "updated"):
        found = candidates(row, emb, f"{name}_date", f"{name}_date", f"{name}_at")
        found += candidates(row, None, f"{name}_at")
        dest = f"{row.target}.{name}_at"
        dates.append(read_date(row, choose(row, found, dest), dest))
    created, updated = dates
    if created is None:
        created = updated or ctx.now
        row.anomaly(
            "created_date",
            "missing_date",
            None,
            "no readable creation date",
            "stored the updated date, or the import time when there is none",
        )
    return created, updated or created


def map_work_item(
    values: dict[str, Any], position: int, ctx: MapContext, syncs: list[SyncRow], raw: tuple[Any, ...]
) -> EntityPlan:
    """Plan one source ``work_items`` row, with its embedded record and GitHub sync rows."""
    key = legacy_key("work_items", position, values.get("id"))
    row = RowContext("work_items", "work_items", key, values, ctx.report)
    row.out("id", "imported -> work_items.key")
    emb = unpack_record(row, "data") if "data" in values else unpack_record(row, "notes", only_if_record=True)
    notes_column = None if emb is not None and emb.column == "notes" else "notes"
    out: dict[str, Any] = {"key": key}

    title = read_text(
        row, choose(row, candidates(row, emb, "title", "title"), "work_items.title"), "work_items.title"
    )
    if title is None:
        title = f"(untitled {key})"
        row.anomaly("title", "missing_title", None, "the row has no title", f"stored as {title!r}")
    out["title"] = title
    desc = choose(row, candidates(row, emb, "description", "description"), "work_items.description")
    out["description"] = read_text(row, desc, "work_items.description") or ""
    status = choose(row, candidates(row, emb, "status", "status"), "work_items.status")
    out["status"] = vocabulary(row, status, map_status, DEFAULT_STATUS, "status")
    priority = choose(row, candidates(row, emb, "priority", "priority"), "work_items.priority")
    out["priority"] = vocabulary(row, priority, map_priority, DEFAULT_PRIORITY, "priority")
    kind = choose(row, candidates(row, emb, "type", "type"), "work_items.type")
    out["type"] = read_text(row, kind, "work_items.type") or "task"
    for name in TEXT_FIELDS:
        dest = f"work_items.{name}"
        out[name] = read_text(row, choose(row, candidates(row, emb, name, name), dest), dest)
    notes = choose(row, candidates(row, emb, notes_column, "notes"), "work_items.notes")
    out["notes"] = read_text(row, notes, "work_items.notes")
    for name in HOURS_FIELDS:
        dest = f"work_items.{name}"
        out[name] = read_number(row, choose(row, candidates(row, emb, name, name), dest), dest)
    due = choose(row, candidates(row, emb, "due_date", "due_date"), "work_items.due_date")
    out["due_date"] = read_date(row, due, "work_items.due_date")
    out["created_at"], out["updated_at"] = timestamps(row, emb, ctx)
    out["is_draft"] = row.boolean("is_draft", default=False) if "is_draft" in values else False
    out["archived"] = row.boolean("archived", default=False) if "archived" in values else False
    repo = candidates(row, emb, "repository_url", "repository_url", "github_repo_url")
    repo += candidates(row, None, "github_repo_url")  # added later by ALTER TABLE; same meaning
    out["repository_url"] = read_text(
        row, choose(row, repo, "work_items.repository_url"), "work_items.repository_url"
    )
    # Anything else (generation 1's component, unknown columns) goes to extra in row.finish().

    plan = EntityPlan("work_items", key, "work_items", "", out)
    for column, keys, fk, to_table in REFERENCES:
        chosen = choose(row, candidates(row, emb, column, *keys), f"work_items.{fk}")
        reference(row, ctx, plan, chosen, fk, to_table)
    tags = candidates(row, emb, "labels", "labels", "tags") + candidates(row, None, "tags")
    plan.tags = [t for _, t in union_strings(row, tags, "work_item_tags", TAG_NAME_MAX)]
    plan.depends_on = dependencies(row, ctx, plan, candidates(row, emb, "dependencies", "dependencies"))
    criteria = candidates(row, emb, "acceptance_criteria", "acceptance_criteria")
    plan.criteria = checklist(row, criteria, "acceptance_criteria", "done")
    plan.blockers = checklist(row, candidates(row, emb, "blockers", "blockers"), "blockers", "resolved")
    own_urls = [raw for _, raw in repo]
    project = plan.refs.get("project_id")
    plan.github = github_link(row, ctx, own_urls=own_urls, project_key=project, syncs=syncs)
    if emb is not None:
        emb.finish()
    fit_lengths(row, out, WorkItem.__table__)
    out["extra"] = row.finish()
    plan.row_hash = row_hash(raw, [s.raw for s in syncs], ctx.project_repository(project))
    return plan
