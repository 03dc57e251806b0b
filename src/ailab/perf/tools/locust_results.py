"""Reading Locust's result files: final figures from ``--json-file``, the per-second history and
the failures, and the summary ``ailab loadtest`` keeps next to them.

Plain ``csv``/``json`` parsing: Locust itself is never imported (it monkey-patches with gevent).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def _f(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "", "N/A") else float("nan")
    except ValueError:
        return float("nan")


def _percentile(times: dict[float, int], total: int, pct: float) -> float:
    """Locust's own percentile over its rounded response-time histogram (same figure it reports)."""
    wanted = int(total * pct)
    seen = 0
    for ms in sorted(times, reverse=True):
        seen += times[ms]
        if total - seen <= wanted:
            return ms
    return 0.0


def _figures(
    times: dict[float, int], requests: int, failures: int, seconds: float, max_ms: float
) -> dict[str, float]:
    return {
        "requests": requests,
        "failures": failures,
        "p50_ms": _percentile(times, requests, 0.5),
        "p95_ms": _percentile(times, requests, 0.95),
        "p99_ms": _percentile(times, requests, 0.99),
        "max_ms": max_ms,
        "rps": requests / seconds if seconds > 0 else float("nan"),
    }


def read_stats(path: Path) -> dict[str, dict[str, float]]:
    """Final per-request figures from Locust's ``--json-file`` output, plus ``"Aggregated"``.

    The JSON is written after the run stops; ``_stats.csv`` is rewritten only every second, so its
    last state can miss the final second.
    """
    entries = json.loads(path.read_text())
    out: dict[str, dict[str, float]] = {}
    all_times: dict[float, int] = {}
    start = min((e["start_time"] for e in entries), default=0.0)
    last = max((e["last_request_timestamp"] or 0.0 for e in entries), default=0.0)
    for e in entries:
        times = {float(k): int(v) for k, v in e["response_times"].items()}
        for ms, count in times.items():
            all_times[ms] = all_times.get(ms, 0) + count
        # Per-request rates over the whole run (an entry's own clock starts at its first request).
        seconds = last - start
        out[e["name"]] = _figures(
            times, e["num_requests"], e["num_failures"], seconds, e["max_response_time"] or 0.0
        )
    requests = sum(int(e["num_requests"]) for e in entries)
    failures = sum(int(e["num_failures"]) for e in entries)
    max_ms = max((e["max_response_time"] or 0.0 for e in entries), default=0.0)
    out["Aggregated"] = _figures(all_times, requests, failures, last - start, max_ms)
    return out


def read_history(path: Path) -> list[dict[str, float]]:
    """The aggregated rows of ``<prefix>_stats_history.csv``: one per second of the run."""
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Name"] != "Aggregated":
                continue
            rows.append(
                {
                    "t": _f(row["Timestamp"]),
                    "users": _f(row["User Count"]),
                    "rps": _f(row["Requests/s"]),
                    "failures_per_s": _f(row["Failures/s"]),
                    "p50_ms": _f(row["50%"]),
                    "p95_ms": _f(row["95%"]),
                    "requests": _f(row["Total Request Count"]),
                }
            )
    return rows


def read_failures(path: Path, limit: int = 10) -> list[dict[str, Any]]:
    """The most frequent failures from ``<prefix>_failures.csv`` (request, error, occurrences)."""
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        rows = [
            {
                # Our request names already start with the method ("GET /api/summary").
                "request": r["Name"] if r["Name"].startswith(r["Method"]) else f"{r['Method']} {r['Name']}",
                "error": r["Error"],
                "occurrences": int(r["Occurrences"]),
            }
            for r in csv.DictReader(fh)
        ]
    return sorted(rows, key=lambda r: -int(r["occurrences"]))[:limit]
