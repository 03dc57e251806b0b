"""Write a ``Plan`` into the target, inside the caller's transaction.

Rows whose source hash equals the one in ``legacy_rows`` are left alone; new rows are inserted
in bulk; changed rows are updated in place (same id) and their child rows (tags, dependencies,
criteria, blockers, unresolved references) replaced. A GitHub link is replaced only when the
source names a different issue, so sync state on an unchanged link survives. Finally every
``unresolved_refs`` row whose target now exists becomes a real link.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from ailab.db import derived
from ailab.errors import LegacyImportError
from ailab.legacy.plan import EntityPlan, Plan
from ailab.legacy.report import ImportReport
from ailab.legacy.target import DELETE_CHUNK, BulkWriter, TargetState

StageHook = Callable[[str], None]
ANALYZE_AFTER_ROWS = 1000
BULK_DERIVED_ROWS = 1000
FOREIGN_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "projects": (),
    "milestones": (("project_id", "projects"),),
    "work_items": (("project_id", "projects"), ("milestone_id", "milestones")),
    "ideas": (),
}
LINK_OWNER_COLUMN = {"work_items": "work_item_id", "ideas": "idea_id"}
# (from table, field, to table): references resolved by setting the foreign key column.
FK_REFERENCES = (
    ("work_items", "project_id", "projects"),
    ("work_items", "milestone_id", "milestones"),
    ("work_items", "parent_id", "work_items"),
    ("milestones", "project_id", "projects"),
)


@contextmanager
def stage(report: ImportReport, name: str, hook: StageHook | None = None) -> Iterator[None]:
    """Time a stage into ``report.timings``; turn a database error into a clear import error."""
    started = time.perf_counter()
    try:
        yield
    except sa_exc.DBAPIError as err:
        raise LegacyImportError(
            f"Import stage {name!r} failed, so nothing was written: {str(err.orig).strip()}. "
            "Check that the target is at the current schema (ailab db upgrade) and not changed by another writer."
        ) from None
    report.timings[name] = report.timings.get(name, 0.0) + time.perf_counter() - started
    if hook is not None:
        hook(name)


def source_identity(path: str | Path) -> str:
    """How ``legacy_rows.source_path`` names a legacy file: its absolute, resolved path."""
    return str(Path(path).resolve())


def overwritten_from_other_source(plan: Plan, state: TargetState) -> list[tuple[str, str, str]]:
    """(table, key, earlier source) of each existing row this import would change although an
    import of a *different* legacy file wrote it (rows of unknown source do not count)."""
    source = source_identity(plan.report.source_path)
    found = []
    for table, plans in plan.entities.items():
        for p in plans:
            where = (p.source_table, p.key)
            earlier = state.sources.get(where)
            if earlier is None or earlier == source or p.key not in state.ids[table]:
                continue
            if state.hashes.get(where) != p.row_hash:
                found.append((table, p.key, earlier))
    return found


def classify(
    plan: Plan, state: TargetState
) -> tuple[dict[str, list[EntityPlan]], dict[str, list[EntityPlan]]]:
    """Split each table's plans into new and changed rows; count the unchanged ones."""
    new: dict[str, list[EntityPlan]] = {}
    changed: dict[str, list[EntityPlan]] = {}
    report = plan.report
    for table, plans in plan.entities.items():
        new[table], changed[table] = [], []
        counts = report.counts(table)
        for p in plans:
            if p.key not in state.ids[table]:
                new[table].append(p)
            elif state.hashes.get((p.source_table, p.key)) == p.row_hash:
                counts.unchanged += 1
            else:
                changed[table].append(p)
                if (p.source_table, p.key) not in state.hashes:
                    report.notes.append(
                        f"{table} {p.key!r} existed in the target but not from an earlier import; "
                        "it is updated from the legacy row."
                    )
    keys = {t: {p.key for p in plans} for t, plans in plan.entities.items()}
    for source_table, key in state.hashes:
        if source_table in keys and key not in keys[source_table]:
            report.not_in_source[source_table] = report.not_in_source.get(source_table, 0) + 1
    return new, changed


class PlanWriter:
    """Writes one ``Plan`` into the target inside the caller's transaction, stage by stage (see the module
    docstring).
    """

    def __init__(
        self, conn: Connection, plan: Plan, state: TargetState, now: datetime, hook: StageHook | None
    ):
        self.w = BulkWriter(conn)
        self.conn = conn
        self.plan = plan
        self.state = state
        self.report: ImportReport = plan.report
        self.now = now
        self.hook = hook
        self.ids = {table: dict(keys) for table, keys in state.ids.items()}
        self.tag_ids = dict(state.tags)
        self.new: dict[str, list[EntityPlan]] = {}
        self.changed: dict[str, list[EntityPlan]] = {}

    def classify(self) -> None:
        """Split the plan's rows into new and changed ones (unchanged rows are left alone)."""
        self.new, self.changed = classify(self.plan, self.state)

    @staticmethod
    def preview(plan: Plan, state: TargetState) -> None:
        """Fill the report with what a real run would write, without touching the database."""
        report = plan.report
        new, changed = classify(plan, state)
        written = {t: new[t] + changed[t] for t in plan.entities}
        for table in plan.entities:
            report.counts(table).inserted += len(new[table])
            report.counts(table).updated += len(changed[table])
        items, ideas = written["work_items"], written["ideas"]
        tags = {t for p in items + ideas for t in p.tags} - set(state.tags)
        report.counts("tags").inserted += len(tags)
        for table, n in (
            ("work_item_tags", sum(len(p.tags) for p in items)),
            ("idea_tags", sum(len(p.tags) for p in ideas)),
            ("work_item_dependencies", sum(len(p.depends_on) for p in items)),
            ("acceptance_criteria", sum(len(p.criteria) for p in items)),
            ("blockers", sum(len(p.blockers) for p in items)),
            ("unresolved_refs", sum(len(p.unresolved) for ps in written.values() for p in ps)),
            ("legacy_rows", sum(len(ps) for ps in written.values())),
        ):
            report.counts(table).inserted += n
        report.counts("github_links").inserted += sum(
            1
            for table in LINK_OWNER_COLUMN
            for p in written[table]
            if p.github is not None
            and state.links.get((table, p.key)) != (p.github.repository, p.github.issue_number)
        )
        report.unresolved_refs = sum(len(p.unresolved) for ps in plan.entities.values() for p in ps)

    def written(self, table: str) -> list[EntityPlan]:
        """The rows of ``table`` this run writes: new ones, then changed ones."""
        return self.new.get(table, []) + self.changed.get(table, [])

    def run(self) -> bool:
        """Write every stage; True when anything in the target changed."""
        self.classify()
        if not any(self.written(t) for t in self.plan.entities):
            with stage(self.report, "unresolved references", self.hook):
                resolved = self.resolve_references()
            return resolved > 0
        with self._derived_data():
            with stage(self.report, "tags", self.hook):
                self.write_tags()
            for table in ("projects", "milestones", "work_items", "ideas"):
                with stage(self.report, table, self.hook):
                    self.write_entities(table)
            if self.w.postgres and len(self.new["work_items"]) + len(self.new["ideas"]) >= ANALYZE_AFTER_ROWS:
                # Freshly filled tables have no statistics: Postgres would plan every foreign-key
                # check of the child rows below as a scan of work_items (O(n^2); seen as 250 s stalls).
                with stage(self.report, "analyze", self.hook):
                    self.w.conn.exec_driver_sql("ANALYZE work_items, ideas, tags")
            with stage(self.report, "work item children", self.hook):
                self.write_children()
            with stage(self.report, "github_links", self.hook):
                self.write_links()
            with stage(self.report, "unresolved_refs", self.hook):
                self.write_unresolved()
            with stage(self.report, "legacy_rows", self.hook):
                self.write_hashes()
            with stage(self.report, "unresolved references", self.hook):
                self.resolve_references()
        return True

    def _derived_data(self) -> AbstractContextManager[None]:
        """A large import suspends the derived-data triggers and rebuilds once after (one
        transaction): ~4 trigger calls per item would add seconds; a small one keeps them."""
        items = len(self.written("work_items"))
        if items < BULK_DERIVED_ROWS:
            return nullcontext()
        return derived.triggers_suspended(self.conn)

    # --- entities ---------------------------------------------------------------------------

    def write_tags(self) -> None:
        """Insert the tags the written rows use that the target does not have yet."""
        names: dict[str, None] = {}
        for table in ("work_items", "ideas"):
            for p in self.written(table):
                names.update(dict.fromkeys(t for t in p.tags if t not in self.tag_ids))
        new_ids = self.w.new_ids("tags", len(names))
        self.tag_ids.update(zip(names, new_ids, strict=True))
        self.report.counts("tags").inserted += self.w.insert(
            "tags", ("id", "name"), list(zip(new_ids, names, strict=True))
        )

    def _fk_values(self, table: str, p: EntityPlan) -> list[int | None]:
        return [self.ids[to][p.refs[fk]] if fk in p.refs else None for fk, to in FOREIGN_KEYS[table]]

    def write_entities(self, table: str) -> None:
        """Insert the new rows of ``table`` in bulk and update the changed ones in place (ids kept)."""
        new, changed = self.new[table], self.changed[table]
        if not new and not changed:
            return
        value_columns = list((new or changed)[0].values)
        values_of = itemgetter(*value_columns)
        columns = [*value_columns, *(fk for fk, _ in FOREIGN_KEYS[table])]
        ids = self.w.new_ids(table, len(new))
        rows: list[tuple[Any, ...]] = []
        for p, new_id in zip(new, ids, strict=True):
            self.ids[table][p.key] = new_id
            rows.append((new_id, *values_of(p.values), *self._fk_values(table, p)))
        counts = self.report.counts(table)
        counts.inserted += self.w.insert(table, ["id", *columns], rows)
        updates = [
            (*values_of(p.values), *self._fk_values(table, p), self.ids[table][p.key]) for p in changed
        ]
        counts.updated += self.w.update(table, columns, updates)
        if table == "work_items":
            # After all items exist: a parent may come later in the source than its children.
            item_ids = self.ids["work_items"]
            parents: list[tuple[int | None, int]] = [
                (item_ids[p.refs["parent_id"]], item_ids[p.key]) for p in new if "parent_id" in p.refs
            ]
            parents += [(item_ids.get(p.refs.get("parent_id", "")), item_ids[p.key]) for p in changed]
            self.w.update("work_items", ["parent_id"], parents)

    # --- child rows -------------------------------------------------------------------------

    def _replace(self, table: str, owner_column: str, owner_table: str, rows: list[tuple[Any, ...]],
                 columns: tuple[str, ...]) -> None:  # fmt: skip
        changed_ids = [self.ids[owner_table][p.key] for p in self.changed[owner_table]]
        counts = self.report.counts(table)
        counts.deleted += self.w.delete_in(table, owner_column, changed_ids)
        counts.inserted += self.w.insert(table, columns, rows)

    def write_children(self) -> None:
        """Replace the written work items' tags, dependencies, criteria and blockers."""
        items = self.written("work_items")
        ids = self.ids["work_items"]
        # With the item's created_at (the page index's copy): no per-link fill afterwards.
        tag_links = [(ids[p.key], self.tag_ids[t], p.values.get("created_at")) for p in items for t in p.tags]
        self._replace("work_item_tags", "work_item_id", "work_items", tag_links,
                      ("work_item_id", "tag_id", "item_created_at"))  # fmt: skip
        deps = [(ids[p.key], ids[d]) for p in items for d in p.depends_on]
        self._replace("work_item_dependencies", "work_item_id", "work_items", deps,
                      ("work_item_id", "depends_on_id"))  # fmt: skip
        for table, attr, flag in (
            ("acceptance_criteria", "criteria", "done"),
            ("blockers", "blockers", "resolved"),
        ):
            rows = [
                (ids[p.key], position, text, done)
                for p in items
                for position, (text, done) in enumerate(getattr(p, attr), start=1)  # as the API numbers
            ]
            self._replace(
                table, "work_item_id", "work_items", rows, ("work_item_id", "position", "text", flag)
            )
        idea_ids = self.ids["ideas"]
        idea_tags = [(idea_ids[p.key], self.tag_ids[t]) for p in self.written("ideas") for t in p.tags]
        self._replace("idea_tags", "idea_id", "ideas", idea_tags, ("idea_id", "tag_id"))

    def write_links(self) -> None:
        """Write GitHub links, replacing one only when the source names a different issue (sync state survives)."""
        rows: list[tuple[Any, ...]] = []
        replaced: dict[str, list[int]] = {"work_items": [], "ideas": []}
        for owner_table in LINK_OWNER_COLUMN:
            for p in self.written(owner_table):
                if p.github is None:
                    continue  # keep whatever link the item has (e.g. one the sync made)
                wanted = (p.github.repository, p.github.issue_number)
                current = self.state.links.get((owner_table, p.key))
                if current == wanted:
                    continue
                owner_id = self.ids[owner_table][p.key]
                if current is not None:
                    replaced[owner_table].append(owner_id)
                owner = (owner_id, None) if owner_table == "work_items" else (None, owner_id)
                rows.append((*owner, *wanted, "linked", p.github.synced_at, self.now))
        counts = self.report.counts("github_links")
        for owner_table, owner_ids in replaced.items():
            counts.deleted += self.w.delete_in("github_links", LINK_OWNER_COLUMN[owner_table], owner_ids)
        columns = (
            "work_item_id",
            "idea_id",
            "repository",
            "issue_number",
            "state",
            "synced_at",
            "created_at",
        )
        counts.inserted += self.w.insert("github_links", columns, rows)

    def write_unresolved(self) -> None:
        """Replace the written rows' references to rows that do not exist (kept to resolve later)."""
        counts = self.report.counts("unresolved_refs")
        rows: list[tuple[Any, ...]] = []
        any_refs = self.conn.exec_driver_sql("SELECT 1 FROM unresolved_refs LIMIT 1").first() is not None
        for table in ("milestones", "work_items"):
            # New rows can have references left only if their row was deleted from the target.
            plans = self.written(table) if any_refs else self.changed[table]
            counts.deleted += self.w.delete_in(
                "unresolved_refs", "from_key", [p.key for p in plans], where=f"from_table = '{table}'"
            )
            rows += [
                (table, p.key, f, to_table, to_key, self.now)
                for p in self.written(table)
                for f, to_table, to_key in p.unresolved
            ]
        columns = ("from_table", "from_key", "field", "to_table", "to_key", "created_at")
        counts.inserted += self.w.insert("unresolved_refs", columns, rows)

    def write_hashes(self) -> None:
        """Record each written row's source hash in ``legacy_rows``, so an unchanged row is skipped next time."""
        counts = self.report.counts("legacy_rows")
        source = source_identity(self.report.source_path)
        rows: list[tuple[Any, ...]] = []
        for table in self.plan.entities:
            stale = [p.key for p in self.written(table) if (p.source_table, p.key) in self.state.hashes]
            counts.deleted += self.w.delete_in(
                "legacy_rows", "legacy_id", stale, where=f"source_table = '{table}'"
            )
            rows += [(p.source_table, p.key, p.row_hash, self.now, source) for p in self.written(table)]
        counts.inserted += self.w.insert(
            "legacy_rows", ("source_table", "legacy_id", "row_hash", "imported_at", "source_path"), rows
        )

    # --- resolving references ---------------------------------------------------------------

    def resolve_references(self) -> int:
        """Turn every unresolved reference whose target now exists into a real link.

        Driven by the (few) ``unresolved_refs`` rows and the key -> id maps already in memory,
        so it costs the same on any backend, whatever the planner thinks of fresh tables.
        """
        refs = self.conn.exec_driver_sql(
            "SELECT id, from_table, from_key, field, to_table, to_key FROM unresolved_refs"
        ).all()
        done: list[int] = []
        deps: set[tuple[int, int]] = set()
        updates: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for ref_id, from_table, from_key, field, to_table, to_key in refs:
            from_id = self.ids.get(from_table, {}).get(from_key)
            to_id = self.ids.get(to_table, {}).get(to_key)
            if from_id is None or to_id is None:
                continue
            if field == "dependencies":
                if from_id != to_id:
                    deps.add((from_id, to_id))
            elif (from_table, field, to_table) in FK_REFERENCES:
                updates.setdefault((from_table, field), []).append((to_id, from_id))
            else:
                continue
            done.append(ref_id)
        if deps:
            owners = sorted({d[0] for d in deps})
            existing: set[tuple[int, int]] = set()
            for start in range(0, len(owners), DELETE_CHUNK):
                chunk = owners[start : start + DELETE_CHUNK]
                marks = ", ".join(self.w.mark for _ in chunk)
                existing.update(
                    (int(a), int(b))
                    for a, b in self.conn.exec_driver_sql(
                        "SELECT work_item_id, depends_on_id FROM work_item_dependencies "
                        f"WHERE work_item_id IN ({marks})",
                        tuple(chunk),
                    )
                )
            self.report.counts("work_item_dependencies").inserted += self.w.insert(
                "work_item_dependencies", ("work_item_id", "depends_on_id"), sorted(deps - existing)
            )
        for (table, field), rows in updates.items():
            self.w.update(table, [field], rows)
        self.report.counts("unresolved_refs").deleted += self.w.delete_in("unresolved_refs", "id", done)
        self.report.resolved_refs += len(done)
        return len(done)
