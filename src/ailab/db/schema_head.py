"""The schema revision this version of ailab needs, read without Alembic.

The server checks readiness against it (``/readyz``) but must stay lean: Alembic alone adds
~17 MiB of RSS. Each migration file names its ``revision`` and ``down_revision``; the head is
the one no other file revises.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

VERSIONS = Path(__file__).parent / "migrations" / "versions"
_FIELD = re.compile(r'^(revision|down_revision)\s*(?::[^=]*)?=\s*["\']([^"\']+)["\']', re.MULTILINE)


@functools.cache
def expected_head() -> str:
    """The head revision: the one no migration file revises (computed once). Raises
    ``RuntimeError`` unless there is exactly one."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        fields = dict(_FIELD.findall(path.read_text(encoding="utf-8")))
        if "revision" in fields:
            revisions.add(fields["revision"])
        if "down_revision" in fields:
            revised.add(fields["down_revision"])
    heads = sorted(revisions - revised)
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {VERSIONS} have {len(heads)} heads: {heads}")
    return heads[0]
