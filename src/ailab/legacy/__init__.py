"""Moving the old system's JSON-column SQLite databases into the relational schema, losing nothing.

- ``import_legacy(path, engine, dry_run=...)`` -> ``ImportReport`` (``ailab db import-legacy``);
- ``ailab.legacy.schema``: the exact DDL of both old schema generations and layout detection;
- ``ailab.testing.legacy_synth.generate(path, items=N, generation=2, seed=..., messes=...)``: synthetic
  legacy databases of either generation, with or without injected messes;
- ``ailab.legacy.vocabulary``: the documented map from old statuses/priorities to the new ones.
"""

from __future__ import annotations

from ailab.legacy.importer import import_legacy
from ailab.legacy.report import Anomaly, ImportReport, MappedValue, TableCounts

__all__ = ["Anomaly", "ImportReport", "MappedValue", "TableCounts", "import_legacy"]
