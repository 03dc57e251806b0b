"""The messes real legacy data has, injected into synthetic rows (``ailab.testing.legacy_synth``).

Each kind is a method ``_<kind>(row, keys, sync_rows)`` that changes one rendered row the way
the old system (or its users) did: statuses outside the vocabulary, ``'None'`` text, malformed
JSON, dangling references, mixed date formats, a whole record in ``notes``, issue numbers without
a repository, and so on. With ``n`` items, the first ``len(kinds)`` items get one kind each (so a
small database has every kind), then about ``MESSY_FRACTION`` of the rest get a random one.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime
from typing import Any

from ailab.legacy.schema import Layout

MESSY_FRACTION = 0.04
COMMON_KINDS = (
    "legacy_status", "unknown_status", "legacy_priority", "unknown_priority", "none_text", "empty_text",
    "malformed_json", "comma_text_tags", "non_string_elements", "duplicate_elements", "json_object_not_list",
    "dangling_dependency", "self_dependency", "missing_project", "github_no_repository", "mixed_dates",
    "unparseable_date", "number_as_text", "unparseable_number", "long_title", "missing_title",
    "criteria_objects", "unknown_type", "duplicate_github_issue", "duplicate_github_issue",
)  # fmt: skip
GENERATION_KINDS = {
    1: ("data_conflict", "malformed_data"),
    2: ("record_in_notes", "missing_parent", "bool_as_text"),
}
DATE_SHAPES = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S+02:00", "%Y-%m-%d %H:%M:%S")


class Messer:
    """Injects the legacy data's known messes into generated rows, each kind at least once, and counts them."""

    def __init__(self, rng: random.Random, generation: int) -> None:
        self.rng = rng
        self.generation = generation
        self.kinds = COMMON_KINDS + GENERATION_KINDS[generation]
        self.injected: Counter[str] = Counter()
        self.tags_column = "labels" if generation == 2 else "tags"
        self.first_github: tuple[str, int] | None = None

    def note(self, kind: str, value: Any) -> Any:
        """Count one injected mess of ``kind``; returns ``value``."""
        self.injected[kind] += 1
        return value

    def mess_item(
        self, i: int, row: dict[str, Any], keys: list[str], sync_rows: list[dict[str, Any]]
    ) -> None:
        """Mess up work item ``i``: the first items get one kind each, later ones at random."""
        if i < len(self.kinds):
            kind = self.kinds[i]
        elif self.rng.random() < MESSY_FRACTION:
            kind = self.rng.choice(self.kinds)
        else:
            return
        if getattr(self, f"_{kind}")(row, keys, sync_rows) is not False:
            self.injected[kind] += 1

    def mess_idea(self, n: int, row: dict[str, Any]) -> None:
        """Mess up idea ``n`` (a GitHub id without repository, a dangling dependency, ...)."""
        if n == 0 and self.generation == 2:
            row["github_issue_id"] = self.note("idea_github_no_repository", 2)
        elif n == 1:
            self._edit_json(row, "dependencies" if self.generation == 2 else "data", "IDEA-999")
            self.injected["missing_idea_dependency"] += 1
        elif n == 2:
            row["tags"] = self.note("idea_malformed_tags", '["idee", "kaputt"')

    def _edit_json(self, row: dict[str, Any], column: str, dependency: str) -> None:
        value = json.loads(row[column])
        if column == "data":
            value["dependencies"] = [*value.get("dependencies", []), dependency]
        else:
            value.append(dependency)
        row[column] = json.dumps(value)

    def orphan_sync_rows(self) -> list[dict[str, Any]]:
        """A ``github_sync`` row whose owner does not exist."""
        self.injected["github_sync_orphan"] += 1
        return [{"local_id": "GONE-SYNC", "local_type": "work_item", "github_issue_id": 99,
                 "github_url": "https://github.com/legacy-lab/gone/issues/99", "sync_direction": "to_github"}]  # fmt: skip

    def placeless_rows(self, layout: Layout) -> dict[str, list[dict[str, Any]]]:
        """Rows of tables the new schema has no place for (sessions, ...), kept whole in the report."""
        rows: dict[str, list[dict[str, Any]]] = {
            "sessions": [{"id": f"SESSION-{n}", "date": "2025-11-13", "title": f"Session {n}",
                          "content": "Arbeitssitzung", "data": json.dumps({"minutes": 45})} for n in (1, 2)],
        }  # fmt: skip
        if layout.generation == 2:
            created = "2025-11-13 10:00:00.000000"
            rows["custom_fields"] = [{"id": "CF-1", "name": "Sprint", "field_type": "text", "options": "[]",
                                      "required": 0, "created_date": created, "updated_date": created}]  # fmt: skip
            rows["automation_rules"] = [{"id": "AR-1", "name": "Close done", "trigger_type": "status",
                                         "trigger_conditions": json.dumps({"status": "done"}), "actions": "[]",
                                         "enabled": 1, "created_date": created, "updated_date": created}]  # fmt: skip
        for table, table_rows in rows.items():
            self.injected[f"rows_in_{table}"] += len(table_rows)
        return rows

    # --- one method per kind ----------------------------------------------------------------

    def _legacy_status(self, row: dict[str, Any], *_: Any) -> None:
        row["status"] = self.rng.choice(("open", "completed", "closed", "wip", "Done", "in progress"))

    def _unknown_status(self, row: dict[str, Any], *_: Any) -> None:
        row["status"] = "someday"

    def _legacy_priority(self, row: dict[str, Any], *_: Any) -> None:
        row["priority"] = self.rng.choice(("urgent", "normal", "P1", "minor"))

    def _unknown_priority(self, row: dict[str, Any], *_: Any) -> None:
        row["priority"] = "asap"

    def _none_text(self, row: dict[str, Any], *_: Any) -> None:
        row[self.rng.choice(("assignee", "description", self.tags_column, "due_date", "estimated_hours"))] = (
            "None"
        )

    def _empty_text(self, row: dict[str, Any], *_: Any) -> None:
        row["assignee"] = ""
        row["due_date"] = ""

    def _malformed_json(self, row: dict[str, Any], *_: Any) -> None:
        row[self.tags_column] = '["alpha", "beta"'

    def _comma_text_tags(self, row: dict[str, Any], *_: Any) -> None:
        row[self.tags_column] = "alpha, beta"

    def _non_string_elements(self, row: dict[str, Any], *_: Any) -> None:
        row[self.tags_column] = json.dumps(["ok-tag", 7, None, {"name": "x"}])

    def _duplicate_elements(self, row: dict[str, Any], *_: Any) -> None:
        row[self.tags_column] = json.dumps(["dup-tag", "dup-tag", "other-tag"])

    def _json_object_not_list(self, row: dict[str, Any], *_: Any) -> None:
        row["dependencies"] = json.dumps({"depends": "nothing"})

    def _dangling_dependency(self, row: dict[str, Any], *_: Any) -> None:
        row["dependencies"] = json.dumps([*json.loads(row["dependencies"]), "GONE-000001"])

    def _self_dependency(self, row: dict[str, Any], *_: Any) -> None:
        row["dependencies"] = json.dumps([*json.loads(row["dependencies"]), row["id"]])

    def _missing_project(self, row: dict[str, Any], *_: Any) -> None:
        row["project_id"] = "PRJ-404"

    def _github_no_repository(
        self, row: dict[str, Any], keys: list[str], sync_rows: list[dict[str, Any]]
    ) -> None:
        if self.generation == 2:
            row.update(project_id=None, github_issue_id=1, github_repo_url=None, repository_url=None)
        else:
            _replace_sync_row(
                sync_rows, {"local_id": row["id"], "local_type": "work_item", "github_issue_id": 1}
            )

    def _duplicate_github_issue(
        self, row: dict[str, Any], keys: list[str], sync_rows: list[dict[str, Any]]
    ) -> bool:
        repo, number = "https://github.com/legacy-lab/shared-repo", 4242
        if self.generation == 2:
            row.update(github_issue_id=number, github_repo_url=repo)
        else:
            _replace_sync_row(sync_rows, {"local_id": row["id"], "local_type": "work_item",
                                          "github_issue_id": number, "github_url": f"{repo}/issues/{number}"})  # fmt: skip
        first, self.first_github = self.first_github is None, (repo, number)
        return not first  # only the second and later claims are a mess

    def _mixed_dates(self, row: dict[str, Any], *_: Any) -> None:
        when = datetime.fromisoformat(row["created_date"].replace("Z", "+00:00")).replace(tzinfo=None)
        row["created_date"] = when.strftime(self.rng.choice(DATE_SHAPES))

    def _unparseable_date(self, row: dict[str, Any], *_: Any) -> None:
        row["due_date"] = "next sprint"

    def _number_as_text(self, row: dict[str, Any], *_: Any) -> None:
        row["estimated_hours"] = "4,5"  # a German decimal comma: stays text in a REAL column

    def _unparseable_number(self, row: dict[str, Any], *_: Any) -> None:
        row["actual_hours"] = "4h"

    def _long_title(self, row: dict[str, Any], *_: Any) -> None:
        row["title"] = "Sehr langer Titel " * 40

    def _missing_title(self, row: dict[str, Any], *_: Any) -> None:
        row["title"] = ""

    def _criteria_objects(self, row: dict[str, Any], *_: Any) -> None:
        criteria = [{"text": "Objekt-Kriterium", "done": True}, {"weird": 1}, 42, "Text-Kriterium"]
        if self.generation == 2:
            row["acceptance_criteria"] = json.dumps(criteria)
        else:
            data = json.loads(row["data"])
            data["acceptance_criteria"] = criteria
            row["data"] = json.dumps(data)

    def _unknown_type(self, row: dict[str, Any], *_: Any) -> None:
        row["type"] = "spike-research"

    def _record_in_notes(self, row: dict[str, Any], *_: Any) -> None:
        record = {key: row[key] for key in ("id", "title", "status", "priority", "assignee")}
        record.update(acceptance_criteria=["Aus dem Notizfeld"], subtasks=[{"id": f"{row['id']}-1", "title": "Sub"}],
                      tags=json.loads(row["labels"]) if row["labels"].startswith("[") else [],
                      created_at=row["created_date"], definition_of_done=["Fertig"])  # fmt: skip
        row.update(notes=json.dumps(record), acceptance_criteria=None)

    def _missing_parent(self, row: dict[str, Any], *_: Any) -> None:
        row["parent_issue_id"] = "GONE-PARENT"

    def _bool_as_text(self, row: dict[str, Any], *_: Any) -> None:
        row["is_draft"] = "yes"

    def _data_conflict(self, row: dict[str, Any], *_: Any) -> None:
        data = json.loads(row["data"])
        data["status"] = "in_progress" if row["status"] != "in_progress" else "todo"
        data["title"] = f"{row['title']} (alte Fassung)"
        row["data"] = json.dumps(data)

    def _malformed_data(self, row: dict[str, Any], *_: Any) -> None:
        row["data"] = '{"id": "' + row["id"] + '", "acceptance_criteria": ["kaputt"'


def _replace_sync_row(sync_rows: list[dict[str, Any]], new: dict[str, Any]) -> None:
    # github_sync is UNIQUE(local_id, local_type): an item's own row was appended just before.
    if sync_rows and sync_rows[-1]["local_id"] == new["local_id"]:
        sync_rows.pop()
    sync_rows.append(new)
