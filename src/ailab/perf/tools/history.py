"""The results history: every ``ailab report`` run, kept per machine and commit.

Each run is one file, ``<reports>/history/<machine>/<time>_<commit>.json``, holding the commit,
whether the tree had uncommitted changes, the options and every metric. ``<machine>`` is a stable
fingerprint of what decides the figures (CPU model, cores, memory, OS, Python, SQLite and, for runs
measured on it, Postgres), so runs are only ever compared with runs from the same kind of machine.
Reading the history never creates or changes a file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ailab.errors import AilabError

HISTORY_DIR = "history"
SCHEMA = 1


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> int:
    import psutil

    return round(psutil.virtual_memory().total / 2**30)


def machine_fingerprint(postgres_version: str | None = None) -> dict[str, Any]:
    """What decides this machine's figures; ``postgres_version`` only for runs measured on Postgres."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": postgres_version or "not used",
    }


def machine_id(fingerprint: dict[str, Any]) -> str:
    """A readable, stable folder name: ``linux-2cpu-23gib-<hash of the whole fingerprint>``."""
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:10]
    system = str(fingerprint.get("os", "unknown")).split()[0].lower()
    return f"{system}-{fingerprint.get('cores')}cpu-{fingerprint.get('memory_gib')}gib-{digest}"


def project_root() -> Path:
    """The checkout this ``ailab`` runs from (``src/ailab`` -> the folder holding ``src``)."""
    import ailab

    return Path(ailab.__file__).resolve().parents[2]


def git_state(root: Path | None = None) -> tuple[str, bool]:
    """The commit checked out at ``root`` and whether tracked files differ from it ("unknown" outside git)."""
    root = root or project_root()
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status.strip())


def save_run(result_json: dict[str, Any], reports_dir: Path, *, groups: list[str] | None = None) -> Path:
    """Save one report (``ReportResult.to_json()``) to the history; return the file written."""
    meta = result_json.get("meta", {})
    postgres = meta.get("server_version") if meta.get("dialect") == "postgresql" else None
    fingerprint = machine_fingerprint(postgres)
    commit, dirty = git_state()
    now = datetime.now(UTC)
    record = {
        "schema": SCHEMA,
        "time": now.isoformat(timespec="microseconds"),  # orders runs saved within one second
        "commit": commit,
        "dirty": dirty,
        "machine": {"id": machine_id(fingerprint), **fingerprint},
        "options": {
            "items": meta.get("items"),
            "dialect": meta.get("dialect"),
            "quick": meta.get("quick"),
            "groups": sorted(groups) if groups else "all",
        },
        "meta": meta,
        "metrics": result_json.get("rows", []),
        "failures": result_json.get("failures", []),
    }
    folder = reports_dir / HISTORY_DIR / machine_id(fingerprint)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{now.strftime('%Y%m%dT%H%M%SZ')}_{commit[:12]}"
    path = folder / f"{stem}.json"
    n = 1
    while path.exists():  # two runs in one second
        n += 1
        path = folder / f"{stem}-{n}.json"
    path.write_text(json.dumps(record, indent=1))
    return path


@dataclass(frozen=True)
class HistoryRun:
    """One saved report run."""

    path: Path
    time: str
    commit: str
    dirty: bool
    machine: str
    options: dict[str, Any]
    metrics: list[dict[str, Any]]
    failures: list[str]

    @property
    def label(self) -> str:
        """The short commit, with ``+`` when the tree had uncommitted changes."""
        return self.commit[:7] + ("+" if self.dirty else "")

    def metric(self, key: str) -> dict[str, Any] | None:
        """This run's row of the metric ``key``, or None if it has none."""
        return next((m for m in self.metrics if metric_key(m) == key), None)


def metric_key(row: dict[str, Any]) -> str:
    """A metric row's key: ``"group: name"``."""
    return f"{row.get('group')}: {row.get('name')}"


def machines(reports_dir: Path) -> list[str]:
    """The machine folders in the history, sorted (none when there is no history)."""
    folder = reports_dir / HISTORY_DIR
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def current_machine() -> str:
    """This machine's id (its fingerprint without Postgres: the default of ``load_runs``)."""
    return machine_id(machine_fingerprint())


def load_runs(reports_dir: Path, machine: str | None = None) -> list[HistoryRun]:
    """Saved runs, oldest first, of one machine (default: this one on SQLite) or all (``"*"``)."""
    chosen = machines(reports_dir) if machine == "*" else [machine or current_machine()]
    runs = []
    for name in chosen:
        for path in sorted((reports_dir / HISTORY_DIR / name).glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise AilabError(
                    f"History file {path} is unreadable ({err}); move it away or delete it."
                ) from None
            runs.append(
                HistoryRun(
                    path=path,
                    time=str(data.get("time", "")),
                    commit=str(data.get("commit", "unknown")),
                    dirty=bool(data.get("dirty")),
                    machine=name,
                    options=dict(data.get("options", {})),
                    metrics=list(data.get("metrics", [])),
                    failures=list(data.get("failures", [])),
                )
            )
    return sorted(runs, key=lambda r: r.time)


def metric_keys(runs: list[HistoryRun]) -> list[str]:
    """Every metric key the runs hold, once each, in order of first appearance."""
    return list(dict.fromkeys(metric_key(m) for r in runs for m in r.metrics))


def find_metric(runs: list[HistoryRun], text: str) -> str:
    """The one metric whose key is ``text`` or contains it (case-insensitive); an error otherwise."""
    keys = metric_keys(runs)
    if text in keys:
        return text
    pattern = re.compile(re.escape(text), re.IGNORECASE)
    found = [k for k in keys if pattern.search(k)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise AilabError(
            f"No metric in the history matches {text!r}; `ailab history --metrics` lists the {len(keys)} known."
        )
    listed = "\n  ".join(found[:12])
    raise AilabError(f"{len(found)} metrics match {text!r}; give more of the name:\n  {listed}")


# The metrics a history chart shows first (substrings of metric keys), in this order.
HEADLINES = (
    "checkout + one-row lookup (pooled, Core)",
    "tag filter, first page of 50 with tags, rare tag",
    "tag filter, first page of 50 with tags, popular tag",
    "dashboard summary, uncached",
    "smoke: one-row lookup",
    "smoke: tag filter, first page of 50, rare tag",
    "smoke: tag filter, first page of 50, popular tag",
)


def headline_keys(runs: list[HistoryRun], limit: int = 4) -> list[str]:
    """Up to ``limit`` headline metrics the runs hold (else their first metrics)."""
    keys = metric_keys(runs)
    chosen = [k for h in HEADLINES for k in keys if h in k]
    return list(dict.fromkeys(chosen + keys))[:limit]


@dataclass(frozen=True)
class Point:
    """One metric's figures in one run (``p95`` NaN when the run has none)."""

    run: HistoryRun
    p50: float
    p95: float
    unit: str


def series(runs: list[HistoryRun], key: str) -> list[Point]:
    """One metric over the runs that have it, oldest first."""
    points = []
    for run in runs:
        row = run.metric(key)
        if row is None or row.get("p50") is None:
            continue
        p95 = row.get("p95")
        points.append(
            Point(run, float(row["p50"]), math.nan if p95 is None else float(p95), str(row.get("unit")))
        )
    return points
