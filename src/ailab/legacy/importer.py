"""``import_legacy``: a legacy database into the relational schema, all or nothing.

1. Read the legacy file read-only and detect its generation (``ailab.legacy.source``).
2. In one write transaction on the target: load what is already there, map every source row
   (``ailab.legacy.planner``), write what is new or changed (``ailab.legacy.writer``), resolve
   references that now have their target, bump ``data_revision`` once if anything changed.
   Any error rolls the whole transaction back and names the table, row and field.
3. ``dry_run`` maps and compares the same way but only reads the target (a SQLite target that
   does not exist yet is not even created).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ailab.clock import Clock, SystemClock
from ailab.db.engine import get_engine
from ailab.db.revision import bump_revision
from ailab.db.session import connect
from ailab.errors import LegacyImportError, LegacyOverlapError
from ailab.legacy.plan import Plan
from ailab.legacy.planner import build_plan
from ailab.legacy.report import ImportReport
from ailab.legacy.source import read_legacy
from ailab.legacy.target import TargetState, load_target_state, missing_tables
from ailab.legacy.writer import PlanWriter, StageHook, overwritten_from_other_source, stage
from ailab.settings import get_settings


def _sqlite_file_missing(engine: Engine) -> bool:
    url = engine.url
    return url.get_backend_name() == "sqlite" and bool(url.database) and not Path(url.database or "").exists()


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Mapping 100k rows builds millions of small objects that all stay alive until the end:
    # cyclic GC passes over them find nothing and cost about a quarter of the time.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_legacy(
    path: Path | str,
    engine: Engine | None = None,
    *,
    dry_run: bool = False,
    replace: bool = False,
    clock: Clock | None = None,
    on_stage: StageHook | None = None,
) -> ImportReport:
    """Import the legacy database at ``path`` into ``engine``'s database; return the report.

    Rows that an import of a different legacy file wrote are reported as anomalies and, unless
    ``replace``, the import is refused (``LegacyOverlapError``, nothing written).
    ``on_stage`` is called after each write stage with its name (tests inject failures there).
    """
    engine = engine or get_engine()
    refuse_source_as_target(Path(path), engine)
    with _gc_paused():
        return _import(Path(path), engine, dry_run, replace, clock, on_stage)


def refuse_source_as_target(path: Path, engine: Engine) -> None:
    """The legacy file is only read: importing it into itself would write it."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    target = Path(url.database or "")
    if path.exists() and target.exists() and path.resolve() == target.resolve():
        raise LegacyImportError(
            f"The target database is the legacy file itself ({path}): the legacy file is only ever "
            "read. Give another --database-url, e.g. sqlite:///ailab.db."
        )


def _check_overlap(plan: Plan, state: TargetState, report: ImportReport, replace: bool) -> None:
    overwritten = overwritten_from_other_source(plan, state)
    for table, key, earlier in overwritten:
        report.add_anomaly(
            table, key, "id", "overwritten_from_other_source", earlier,
            f"imported earlier from {earlier}; this file has different data under the same id",
            "replaced (--replace)" if replace else "refused: nothing written",
        )  # fmt: skip
    if overwritten and not replace and not report.dry_run:
        raise LegacyOverlapError(
            f"Not imported: {len(overwritten):,} rows were imported earlier from another legacy file "
            f"({overwritten[0][2]}) and this one has different data under the same ids (first: "
            f"{overwritten[0][0]} {overwritten[0][1]!r}; all are listed as anomalies). Rerun with "
            "--replace to overwrite them, or import into another database.",
            report,
        )


def _import(
    path: Path,
    engine: Engine,
    dry_run: bool,
    replace: bool,
    clock: Clock | None,
    on_stage: StageHook | None,
) -> ImportReport:
    started = time.perf_counter()
    now = datetime.fromtimestamp((clock or SystemClock()).time(), UTC).replace(tzinfo=None)
    read_started = time.perf_counter()
    # A writer holding the legacy file's lock is waited for as long as any SQLite writer waits.
    source = read_legacy(path, busy_timeout_s=get_settings().sqlite_busy_timeout_ms / 1000.0)
    report = ImportReport(
        source_path=str(path),
        source_sha256=source.sha256,
        generation=source.layout.generation,
        dry_run=dry_run,
        target_url=engine.url.render_as_string(hide_password=True),
    )
    report.notes += source.notes
    report.timings["read legacy file"] = time.perf_counter() - read_started
    if dry_run:
        state = TargetState()
        if not _sqlite_file_missing(engine):
            with connect(engine, readonly=True) as conn:
                state = load_target_state(conn)
        if not state.has_schema:
            report.notes.append("The target has no ailab schema yet: counts assume an empty database.")
        with stage(report, "map rows"):
            plan = build_plan(source, state, report, now)
        _check_overlap(plan, state, report, replace)
        PlanWriter.preview(plan, state)
    else:
        with connect(engine, readonly=False) as conn:
            missing = missing_tables(conn)
            if missing:
                raise LegacyImportError(
                    f"The target database has no ailab schema (missing {', '.join(sorted(missing))}). "
                    "Run `ailab db upgrade` first (the CLI's import-legacy does it for you)."
                )
            with stage(report, "load target state"):
                state = load_target_state(conn)
            with stage(report, "map rows"):
                plan = build_plan(source, state, report, now)
            _check_overlap(plan, state, report, replace)
            report.changed = PlanWriter(conn, plan, state, now, on_stage).run()
            if report.changed:
                bump_revision(conn)
            report.unresolved_refs = int(
                conn.execute(text("SELECT COUNT(*) FROM unresolved_refs")).scalar() or 0
            )
    report.seconds = time.perf_counter() - started
    return report
