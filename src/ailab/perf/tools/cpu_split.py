"""Where a load test's CPU went: the server, the database server, the load generator, the rest.

On one machine the load generator and the database share the cores with the server, so a
throughput short of a goal says little until it is known what each used. Per request:

* **server**: the uvicorn process(es), from their own CPU times;
* **database**: the local Postgres server's processes (its backends do the queries); SQLite runs
  inside the server, so it has none of its own;
* **load generator**: Locust's processes, from ``RUSAGE_CHILDREN`` (they have exited and been
  waited for by the time the run ends, which is when the kernel adds them there);
* **other**: the rest of the machine's busy time (anything else running meanwhile).

The **ceiling** follows: the request rate at which this mix would keep every core busy,
``cores / (server + database + load generator)``, and the rate at which the server processes
alone would be saturated, ``server processes / server``. A run that stops short of both
was held back by something else (latency, a lock, the pacing of the users).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from typing import Any

import psutil

POSTGRES_NAMES = ("postgres", "postmaster")


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by each party, and the machine's busy seconds over all cores."""

    server: float
    database: float | None  # None: no local database server to count (SQLite, a remote host)
    generator: float
    machine_busy: float


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
        total += times.user + times.system
    return total


def server_processes(pid: int) -> list[psutil.Process]:
    """The server process and its workers (``--server-workers``)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def local_postgres_processes() -> list[psutil.Process]:
    """This machine's Postgres server processes (the postmaster and every backend)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if (proc.info.get("name") or "") in POSTGRES_NAMES:
            found.append(proc)
    return found


def machine_busy_seconds() -> float:
    """Seconds all cores together spent on anything but idling or waiting for I/O."""
    t = psutil.cpu_times()
    return float(sum(t)) - t.idle - getattr(t, "iowait", 0.0)


def snapshot(server_pid: int | None, *, count_postgres: bool) -> CpuSnapshot:
    """The counters now (take one before the run and one after the load generator exited)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(
        server=_cpu_seconds(server_processes(server_pid)) if server_pid else 0.0,
        database=_cpu_seconds(local_postgres_processes()) if count_postgres else None,
        generator=children.ru_utime + children.ru_stime,
        machine_busy=machine_busy_seconds(),
    )


def split(
    before: CpuSnapshot,
    after: CpuSnapshot,
    requests: int,
    *,
    server_processes: int = 1,
    cores: int | None = None,
) -> dict[str, Any]:
    """CPU milliseconds per request by party, the rest of the machine, and the ceilings."""
    if requests <= 0:
        return {}
    cores = cores or os.cpu_count() or 1

    def per_request(seconds: float) -> float:
        return max(0.0, seconds) * 1000.0 / requests

    server = per_request(after.server - before.server)
    database = (
        per_request(after.database - before.database)
        if after.database is not None and before.database is not None
        else None
    )
    generator = per_request(after.generator - before.generator)
    machine = per_request(after.machine_busy - before.machine_busy)
    counted = server + (database or 0.0) + generator
    return {
        "server_ms": server,
        "database_ms": database,
        "load_generator_ms": generator,
        "other_ms": max(0.0, machine - counted),
        "machine_ms": machine,
        "cores": cores,
        "ceiling_rps": cores * 1000.0 / counted if counted > 0 else None,
        "server_ceiling_rps": server_processes * 1000.0 / server if server > 0 else None,
    }


def describe(cpu: dict[str, Any]) -> list[str]:
    """The split as lines for the terminal."""
    if not cpu:
        return []
    db = cpu.get("database_ms")
    db_text = "in the server (SQLite)" if db is None else f"{db:.3f} ms"
    lines = [
        f"CPU per request: server {cpu['server_ms']:.3f} ms, database {db_text},"
        f" load generator {cpu['load_generator_ms']:.3f} ms, other {cpu['other_ms']:.3f} ms"
        f" (machine {cpu['machine_ms']:.3f} ms on {cpu['cores']} cores)"
    ]
    if cpu.get("ceiling_rps") and cpu.get("server_ceiling_rps"):
        lines.append(
            f"ceiling on this machine: {cpu['ceiling_rps']:,.0f} req/s with every core busy with this mix;"
            f" the server processes alone saturate at {cpu['server_ceiling_rps']:,.0f} req/s"
        )
    return lines
