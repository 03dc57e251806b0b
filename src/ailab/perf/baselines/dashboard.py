"""The old dashboard, kept faithfully so ``ailab report`` can measure it side by side.

BASELINE ONLY: the application never uses this module.

The old system had no dashboard server: a script read the whole ``work_items`` table (tags and
dependencies in JSON text columns), ``json.loads``-ed every row, counted everything in Python,
and wrote a static HTML file whose charts came from CDN scripts. Fresh numbers meant running
the script again; its run time is the baseline for the summary and the page load.
"""

from __future__ import annotations

import html
import json
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

CDN_ASSETS = (
    '<link href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css" rel="stylesheet">',
    '<script src="https://cdn.jsdelivr.net/npm/chart.js"></script>',
    '<script src="https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/js/bootstrap.bundle.min.js"></script>',
)
CLOSED = ("done", "completed", "cancelled")

_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>AI Lab Dashboard</title>
{assets}
</head><body class="container">
<h1>AI Lab Dashboard</h1>
<div class="row">{cards}</div>
<canvas id="statusChart"></canvas><canvas id="priorityChart"></canvas><canvas id="weeklyChart"></canvas>
<h2>Top tags</h2><ul>{tags}</ul>
<h2>Recent work items</h2><table class="table">{rows}</table>
<script>
const DATA = {data};
new Chart(document.getElementById('statusChart'), {{type: 'bar', data: {{labels: Object.keys(DATA.status),
  datasets: [{{data: Object.values(DATA.status)}}]}}}});
new Chart(document.getElementById('priorityChart'), {{type: 'pie', data: {{labels: Object.keys(DATA.priority),
  datasets: [{{data: Object.values(DATA.priority)}}]}}}});
new Chart(document.getElementById('weeklyChart'), {{type: 'line', data: {{labels: DATA.weeks,
  datasets: [{{data: DATA.weekly}}]}}}});
</script></body></html>
"""


@dataclass
class StaticDashboard:
    """One run of the old script: the HTML file written, the item count, the total seconds and
    each phase's seconds."""

    path: Path
    items: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


def _parse_date(raw: Any) -> datetime:
    return datetime.fromisoformat(str(raw).replace("Z", ""))


def generate_static_dashboard(json_db: Path, out: Path) -> StaticDashboard:
    """Run the old script: read every row, decode the JSON columns, count in Python, write HTML."""
    started = time.perf_counter()
    phases: dict[str, float] = {}
    conn = sqlite3.connect(json_db)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM work_items").fetchall()
    finally:
        conn.close()
    phases["load rows"] = time.perf_counter() - started
    items = []
    for row in rows:
        item = dict(row)
        for column in ("labels", "dependencies", "acceptance_criteria", "blockers"):
            item[column] = json.loads(item[column] or "[]")
        items.append(item)
    phases["json.loads"] = time.perf_counter() - started - sum(phases.values())

    status = Counter(i["status"] for i in items)
    priority = Counter(i["priority"] for i in items)
    tags = Counter(t for i in items for t in i["labels"]).most_common(20)
    created = [_parse_date(i["created_date"]) for i in items]
    newest = max(created) if created else datetime.now()
    last_monday = (newest - timedelta(days=newest.weekday())).date()
    weeks = [last_monday - timedelta(weeks=51 - n) for n in range(52)]
    per_week = Counter((c - timedelta(days=c.weekday())).date() for c in created)
    status_of = {i["id"]: i["status"] for i in items}
    blocked = sum(1 for i in items if any(status_of.get(d) not in CLOSED for d in i["dependencies"]))
    recent = sorted(items, key=lambda i: str(i["created_date"]), reverse=True)[:50]
    phases["count in Python"] = time.perf_counter() - started - sum(phases.values())

    data = {
        "status": dict(status),
        "priority": dict(priority),
        "weeks": [w.isoformat() for w in weeks],
        "weekly": [per_week.get(w, 0) for w in weeks],
    }
    cards = "".join(
        f'<div class="col card"><h5>{label}</h5><p>{value}</p></div>'
        for label, value in (
            ("Total", len(items)),
            ("Open", sum(v for k, v in status.items() if k not in CLOSED)),
            ("Done", status.get("done", 0)),
            ("Blocked", blocked),
        )
    )
    tag_list = "".join(f"<li>{html.escape(name)} ({count})</li>" for name, count in tags)
    table = "".join(
        f"<tr><td>{html.escape(str(i['id']))}</td><td>{html.escape(i['title'])}</td><td>{i['status']}</td>"
        f"<td>{i['priority']}</td><td>{html.escape(', '.join(i['labels']))}</td></tr>"
        for i in recent
    )
    out.write_text(
        _TEMPLATE.format(
            assets="\n".join(CDN_ASSETS), cards=cards, tags=tag_list, rows=table, data=json.dumps(data)
        ),
        encoding="utf-8",
    )
    phases["write HTML"] = time.perf_counter() - started - sum(phases.values())
    return StaticDashboard(out, len(items), time.perf_counter() - started, phases)
