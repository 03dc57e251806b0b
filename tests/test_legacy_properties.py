"""Property tests: for any synthetic legacy database (either generation, with every kind of mess),
what the import stored plus what it reported accounts for every source value."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from ailab.db.engine import get_engine
from ailab.db.migrate import upgrade
from ailab.legacy import import_legacy
from ailab.testing.legacy_messes import COMMON_KINDS, GENERATION_KINDS
from ailab.testing.legacy_synth import generate
from ailab.testing.scratch import forget_engine
from legacy_support import count, unaccounted

# What each injected mess must show in the report: an anomaly kind, or a mapped field.
EXPECTED_ANOMALY = {
    "unknown_status": "unknown_status",
    "unknown_priority": "unknown_priority",
    "malformed_json": "malformed_json",
    "comma_text_tags": "malformed_json",
    "non_string_elements": "bad_list_element",
    "json_object_not_list": "not_a_list",
    "dangling_dependency": "dangling_dependency",
    "self_dependency": "self_dependency",
    "missing_project": "missing_project",
    "github_no_repository": "github_number_without_repository",
    "unparseable_date": "unparseable_date",
    "unparseable_number": "not_a_number",
    "long_title": "too_long",
    "criteria_objects": "bad_list_element",
    "duplicate_github_issue": "github_issue_taken",
    "record_in_notes": "record_in_notes",
    "missing_parent": "missing_work_item",
    "data_conflict": "conflicting_copies",
    "malformed_data": "malformed_json",
    "github_sync_orphan": "github_sync_orphan",
    "rows_in_sessions": "no_place_in_new_schema",
    "idea_github_no_repository": "github_number_without_repository",
    "missing_idea_dependency": "missing_idea",
    "idea_malformed_tags": "malformed_json",
}
EXPECTED_MAPPED_FIELD = {
    "legacy_status": "status",
    "legacy_priority": "priority",
    "number_as_text": "estimated_hours",
}
ENOUGH_ITEMS = len(COMMON_KINDS) + max(len(k) for k in GENERATION_KINDS.values())


@contextmanager
def fresh_target() -> Iterator[tuple[Path, Engine]]:
    with tempfile.TemporaryDirectory(prefix="ailab-legacy-prop-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'target.db'}"
        engine = get_engine(url)
        upgrade(engine)
        try:
            yield Path(tmp), engine
        finally:
            forget_engine(url)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generation=st.sampled_from([1, 2]),
    items=st.integers(min_value=ENOUGH_ITEMS, max_value=ENOUGH_ITEMS + 40),
    seed=st.integers(min_value=0, max_value=2**20),
)
def test_messy_database_loses_nothing(generation: int, items: int, seed: int) -> None:
    with fresh_target() as (tmp, engine):
        source = tmp / "legacy.db"
        synth = generate(source, items=items, generation=generation, seed=seed, messes=True)
        report = import_legacy(source, engine)

        assert unaccounted(source, engine, report) == []
        assert count(engine, "work_items") == items
        assert count(engine, "ideas") == synth.ideas
        assert count(engine, "projects") == synth.projects
        kinds = report.anomaly_kinds()
        for mess in synth.messes:
            if mess in EXPECTED_ANOMALY:
                assert kinds[EXPECTED_ANOMALY[mess]] > 0, f"{mess} injected but no {EXPECTED_ANOMALY[mess]}"
            if mess in EXPECTED_MAPPED_FIELD:
                field = EXPECTED_MAPPED_FIELD[mess]
                assert any(m.field == field for m in report.mapped.values()), f"{mess}: no mapping of {field}"
        # Every kind of mess of this generation was injected at least once.
        assert set(COMMON_KINDS + GENERATION_KINDS[generation]) <= set(synth.messes)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generation=st.sampled_from([1, 2]),
    items=st.integers(min_value=1, max_value=120),
    seed=st.integers(min_value=0, max_value=2**20),
)
def test_clean_database_imports_exactly(generation: int, items: int, seed: int) -> None:
    with fresh_target() as (tmp, engine):
        source = tmp / "legacy.db"
        synth = generate(source, items=items, generation=generation, seed=seed, messes=False)
        report = import_legacy(source, engine)

        assert report.anomalies == []
        assert unaccounted(source, engine, report) == []
        assert count(engine, "work_items") == synth.items
        assert count(engine, "work_item_tags") == synth.tag_links
        assert count(engine, "work_item_dependencies") == synth.dependencies
        assert count(engine, "acceptance_criteria") == synth.criteria
        assert count(engine, "blockers") == synth.blockers
        assert count(engine, "github_links") == synth.github_links
        assert count(engine, "unresolved_refs") == 0


def test_the_checker_notices_a_lost_value() -> None:
    """The property above is only as good as ``unaccounted``: it must see a dropped criterion."""
    with fresh_target() as (tmp, engine):
        source = tmp / "legacy.db"
        generate(source, items=40, generation=2, seed=5, messes=False)
        report = import_legacy(source, engine)
        assert unaccounted(source, engine, report) == []
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "DELETE FROM acceptance_criteria WHERE id = (SELECT MIN(id) FROM acceptance_criteria)"
            )
        lost = unaccounted(source, engine, report)
        assert len(lost) == 1 and "acceptance_criteria" in lost[0]
