"""The import report: where every source value went, what was mapped, and every anomaly.

Each field of each source row is accounted for with an outcome and a destination:

- ``imported``: stored as it was (after reading its format) in the named column or child table;
- ``mapped``: stored after a documented mapping (old vocabulary, ``'None'`` text -> NULL, ...);
  the mapping, with the original value and the rows, is in ``mapped``;
- ``unpacked``: a JSON object holding the whole original record; its keys are accounted one by
  one as ``<field>.<key>``;
- ``extra``: stored in the row's ``extra`` JSON under the named key;
- ``unresolved``: a reference to a row that does not exist, kept in ``unresolved_refs``;
- ``duplicate``: the same value as another field that was imported (e.g. ``data.title``);
- ``empty``: NULL or empty, nothing to store;
- ``reported``: not stored; the value and the reason are in ``anomalies``.

Anomalies are listed one by one (table, legacy id, field, value, reason, what was done).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from rich.table import Table

from ailab.legacy.vocabulary import mapping_table_markdown

OUTCOMES: dict[str, str] = {
    "imported": "stored as it was in the named column or child table",
    "mapped": "stored after a documented mapping (see Mapped values)",
    "unpacked": "a JSON record whose keys are accounted one by one as <field>.<key>",
    "extra": "stored in the row's extra JSON under the named key",
    "unresolved": "reference to a missing row, kept in unresolved_refs",
    "duplicate": "same value as another imported field",
    "empty": "NULL or empty: nothing to store",
    "reported": "not stored: value and reason listed under Anomalies",
}
MARKDOWN_ANOMALY_LIMIT = 2000
MAPPED_IDS_IN_MARKDOWN = 12


@dataclass(slots=True)
class Anomaly:
    """A source value the import could not store as is: where it was, what it was, why, and what was done with
    it.
    """

    table: str
    legacy_id: str
    field: str
    kind: str
    value: Any
    reason: str
    action: str


@dataclass(slots=True)
class MappedValue:
    """An old value translated to a documented one (e.g. status 'erledigt' -> done), counted, with the rows it
    came from.
    """

    table: str
    field: str
    source: str
    target: str
    count: int = 0
    legacy_ids: list[str] = dc_field(default_factory=list)


@dataclass(slots=True)
class TableCounts:
    """Rows inserted, updated, left unchanged and deleted in one target table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


@dataclass
class ImportReport:
    """Everything one import (or dry run) did and found, written as JSON and Markdown next to the import.

    It accounts for every source field of every row (``accounting``), so a test can prove nothing was dropped
    silently.
    """

    source_path: str
    source_sha256: str = ""
    generation: int = 0
    dry_run: bool = False
    target_url: str = ""
    seconds: float = 0.0
    changed: bool = False
    source_rows: dict[str, int] = dc_field(default_factory=dict)
    target: dict[str, TableCounts] = dc_field(default_factory=dict)
    mapped: dict[tuple[str, str, str, str], MappedValue] = dc_field(default_factory=dict)
    anomalies: list[Anomaly] = dc_field(default_factory=list)
    # source table -> (field, "outcome -> destination") -> values
    accounting: dict[str, dict[tuple[str, str], int]] = dc_field(default_factory=dict)
    date_formats: dict[str, Counter[str]] = dc_field(default_factory=dict)
    resolved_refs: int = 0
    unresolved_refs: int = 0
    not_in_source: dict[str, int] = dc_field(default_factory=dict)
    notes: list[str] = dc_field(default_factory=list)
    timings: dict[str, float] = dc_field(default_factory=dict)  # stage -> seconds

    # --- recording -------------------------------------------------------------------------

    def fields_of(self, table: str) -> dict[tuple[str, str], int]:
        """The ``(field, outcome) -> count`` map of ``table`` (callers keep it for their hot loop)."""
        return self.accounting.setdefault(table, {})

    def outcomes(self, table: str) -> dict[str, dict[str, int]]:
        """``field -> {outcome: count}`` for one source table."""
        by_field: dict[str, dict[str, int]] = {}
        for (name, outcome), n in sorted(self.accounting.get(table, {}).items()):
            by_field.setdefault(name, {})[outcome] = n
        return by_field

    def map_value(self, table: str, field_name: str, source: str, target: str, legacy_id: str) -> None:
        """Count one translated value (``source`` -> ``target``) of ``table.field_name`` for row ``legacy_id``."""
        key = (table, field_name, source, target)
        entry = self.mapped.get(key)
        if entry is None:
            entry = self.mapped[key] = MappedValue(table, field_name, source, target)
        entry.count += 1
        entry.legacy_ids.append(legacy_id)

    def add_anomaly(
        self, table: str, legacy_id: str, field_name: str, kind: str, value: Any, reason: str, action: str
    ) -> None:
        """Record one value that could not be stored as is, and what was done with it."""
        self.anomalies.append(Anomaly(table, legacy_id, field_name, kind, _jsonable(value), reason, action))

    def counts(self, table: str) -> TableCounts:
        """The row counts of one target table (created on first use)."""
        return self.target.setdefault(table, TableCounts())

    def anomaly_kinds(self) -> Counter[str]:
        """How many anomalies of each kind."""
        return Counter(a.kind for a in self.anomalies)

    def mapped_total(self) -> int:
        """How many values were translated in all."""
        return sum(m.count for m in self.mapped.values())

    # --- output -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data (the ``--report FILE.json``)."""
        return {
            "source_path": self.source_path,
            "source_sha256": self.source_sha256,
            "generation": self.generation,
            "dry_run": self.dry_run,
            "target_url": self.target_url,
            "seconds": round(self.seconds, 3),
            "changed": self.changed,
            "source_rows": self.source_rows,
            "target": {t: asdict(c) for t, c in self.target.items()},
            "mapped": [asdict(m) for m in self.mapped.values()],
            "anomaly_kinds": dict(self.anomaly_kinds()),
            "anomalies": [asdict(a) for a in self.anomalies],
            "accounting": {t: self.outcomes(t) for t in sorted(self.accounting)},
            "outcomes": OUTCOMES,
            "date_formats": {k: dict(c) for k, c in self.date_formats.items()},
            "resolved_refs": self.resolved_refs,
            "unresolved_refs": self.unresolved_refs,
            "not_in_source": self.not_in_source,
            "notes": self.notes,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def to_json(self) -> str:
        """The report as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str)

    def to_markdown(self) -> str:
        """The report for people (the ``--report FILE.md``): the verdict, counts, mappings and every anomaly."""
        mode = "dry run (nothing written)" if self.dry_run else "import"
        out = [
            "# Legacy import report",
            "",
            f"- source: `{self.source_path}` (sha256 `{self.source_sha256}`), schema generation {self.generation}",
            f"- target: `{self.target_url}` ({mode}), {self.seconds:.2f} s "
            f"({', '.join(f'{k} {v:.2f} s' for k, v in self.timings.items())})",
            f"- result: {self._verdict()}",
            "",
            "## Rows per target table",
            "",
            "| table | inserted | updated | unchanged | deleted |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, c in sorted(self.target.items()):
            out.append(f"| {name} | {c.inserted} | {c.updated} | {c.unchanged} | {c.deleted} |")
        out += ["", "## Source rows", "", "| source table | rows |", "| --- | ---: |"]
        out += [f"| {t} | {n} |" for t, n in sorted(self.source_rows.items())]
        out += ["", "## Where every source field went", ""]
        out += [f"- `{name}`: {meaning}" for name, meaning in OUTCOMES.items()]
        out += ["", "| source field | outcomes |", "| --- | --- |"]
        for table in sorted(self.accounting):
            for name, outcomes in self.outcomes(table).items():
                text = ", ".join(f"{o}: {n}" for o, n in sorted(outcomes.items()))
                out.append(f"| {table}.{name} | {_cell(text, 400)} |")
        out += ["", "## Mapped values", "", "| field | old value | new value | rows | legacy ids |"]
        out.append("| --- | --- | --- | ---: | --- |")
        for m in sorted(self.mapped.values(), key=lambda m: (m.table, m.field, -m.count)):
            ids = ", ".join(m.legacy_ids[:MAPPED_IDS_IN_MARKDOWN])
            if len(m.legacy_ids) > MAPPED_IDS_IN_MARKDOWN:
                ids += f", ... (+{len(m.legacy_ids) - MAPPED_IDS_IN_MARKDOWN}, all in the JSON report)"
            out.append(f"| {m.table}.{m.field} | {_cell(m.source)} | {_cell(m.target)} | {m.count} | {ids} |")
        out += ["", "### Vocabulary map", "", mapping_table_markdown(), "", "## Date formats seen", ""]
        out += ["| field | format | values |", "| --- | --- | ---: |"]
        for name, shapes in sorted(self.date_formats.items()):
            out += [f"| {name} | `{shape}` | {n} |" for shape, n in shapes.most_common()]
        out += self._anomalies_markdown()
        out += ["", "## References", ""]
        out.append(f"- unresolved references now kept in `unresolved_refs`: {self.unresolved_refs}")
        out.append(f"- references from earlier imports resolved by this run: {self.resolved_refs}")
        for table, n in sorted(self.not_in_source.items()):
            out.append(f"- {n} {table} rows imported earlier are no longer in the source (left as they are)")
        if self.notes:
            out += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        return "\n".join(out) + "\n"

    def _anomalies_markdown(self) -> list[str]:
        out = ["", f"## Anomalies ({len(self.anomalies)})", "", "| kind | count |", "| --- | ---: |"]
        out += [f"| {kind} | {n} |" for kind, n in self.anomaly_kinds().most_common()]
        out += ["", "| table | legacy id | field | kind | value | reason | action |"]
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for a in self.anomalies[:MARKDOWN_ANOMALY_LIMIT]:
            value = _cell(json.dumps(a.value, ensure_ascii=False, default=str), 200)
            out.append(
                f"| {a.table} | {_cell(a.legacy_id)} | {a.field} | {a.kind} | {value} | "
                f"{_cell(a.reason)} | {_cell(a.action)} |"
            )
        if len(self.anomalies) > MARKDOWN_ANOMALY_LIMIT:
            rest = len(self.anomalies) - MARKDOWN_ANOMALY_LIMIT
            out.append(f"\n{rest} more anomalies are listed in the JSON report.")
        return out

    def _verdict(self) -> str:
        if self.dry_run:
            return "dry run: the counts say what an import would do; nothing was written"
        return (
            "changes written" if self.changed else "nothing changed (the target already matches the source)"
        )

    def write(self, path: Path) -> tuple[Path, Path]:
        """Write the report as JSON and Markdown: ``path`` with suffixes ``.json`` and ``.md``."""
        base = path.with_suffix("") if path.suffix in (".json", ".md") else path
        json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(self.to_json(), encoding="utf-8")
        md_path.write_text(self.to_markdown(), encoding="utf-8")
        return json_path, md_path

    def summary_tables(self) -> list[Table]:
        """The CLI's summary: rows per target table, and the counts of mapped values and anomalies."""
        rows = Table(title="Legacy import: rows per target table")
        for column in ("table", "inserted", "updated", "unchanged", "deleted"):
            rows.add_column(column, justify="left" if column == "table" else "right")
        for name, c in sorted(self.target.items()):
            rows.add_row(name, str(c.inserted), str(c.updated), str(c.unchanged), str(c.deleted))
        facts = Table(title="Mapped values and anomalies")
        facts.add_column("what")
        facts.add_column("count", justify="right")
        facts.add_row("source rows", str(sum(self.source_rows.values())))
        facts.add_row("mapped values", str(self.mapped_total()))
        by_target: Counter[tuple[str, str]] = Counter()
        for m in self.mapped.values():
            by_target[(m.field, m.target)] += m.count
        for (name, target), total in sorted(by_target.items()):
            facts.add_row(f"  {name} -> {target}", str(total))
        facts.add_row("anomalies", str(len(self.anomalies)))
        for kind, n in self.anomaly_kinds().most_common():
            facts.add_row(f"  {kind}", str(n))
        facts.add_row("unresolved references kept", str(self.unresolved_refs))
        facts.add_row("earlier references resolved", str(self.resolved_refs))
        return [rows, facts]


def _cell(text: str, limit: int = 160) -> str:
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text.replace("|", "\\|").replace("\n", " ")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes_hex": value.hex()}
    return value
