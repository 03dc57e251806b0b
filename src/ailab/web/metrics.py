"""Prometheus metrics of one app instance (its own registry, so several apps can coexist in tests).

* ``ailab_http_request_duration_seconds{method,route,status}``: latency histogram per route template.
* ``ailab_db_statements_per_request{route}`` and ``ailab_db_time_seconds{route}``: what each request
  cost the database (from ``ailab.db.trace``).
* ``ailab_db_pool_connections_in_use``: connections checked out of the pool, read at scrape time.
* ``ailab_summary_cache_total{result}``: summary cache hits and misses (recomputes).
* ``ailab_github_webhook_deliveries_total{result}``: GitHub deliveries received, replayed,
  rejected (bad signature), and what applying them gave (applied, stale, deferred, ignored, failed).
* ``ailab_github_webhook_apply_lag_seconds``: from a delivery's receipt to its apply.

Label children are looked up once per label set and kept (``labels()`` costs a lock and a hash).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.engine import Engine

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STATEMENT_BUCKETS = (0, 1, 2, 3, 4, 5, 8, 13, 21, 50)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class WebMetrics:
    """The app's Prometheus metrics, in a registry of its own (listed in the module docstring)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "ailab_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.statements = Histogram(
            "ailab_db_statements_per_request",
            "SQL statements executed per request.",
            ["route"],
            buckets=STATEMENT_BUCKETS,
            registry=self.registry,
        )
        self.db_time = Histogram(
            "ailab_db_time_seconds",
            "Time spent in the database per request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.summary_cache = Counter(
            "ailab_summary_cache", "Summary cache lookups.", ["result"], registry=self.registry
        )
        self.summary_hits = self.summary_cache.labels("hit")
        self.summary_misses = self.summary_cache.labels("miss")
        self.webhook_deliveries = Counter(
            "ailab_github_webhook_deliveries",
            "GitHub webhook deliveries by result.",
            ["result"],
            registry=self.registry,
        )
        self.webhook_lag = Histogram(
            "ailab_github_webhook_apply_lag_seconds",
            "Seconds from a webhook delivery's receipt to its apply.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._route_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        pool_in_use = Gauge(
            "ailab_db_pool_connections_in_use", "Database connections checked out.", registry=self.registry
        )
        checkedout = getattr(engine.pool, "checkedout", None)
        pool_in_use.set_function(lambda: float(checkedout()) if callable(checkedout) else 0.0)
        # With ``--workers N`` each scrape reaches one process: this says which one.
        Gauge(
            "ailab_server_pid", "The id of the server process that answered.", registry=self.registry
        ).set_function(lambda: float(os.getpid()))

    def observe(
        self, *, method: str, route: str, status: int, seconds: float, statements: int, db_seconds: float
    ) -> None:
        """Record one request's latency, statement count and database time under its route template."""
        key = (method, route, status)
        children = self._route_children.get(key)
        if children is None:
            children = (
                self.latency.labels(method, route, str(status)),
                self.statements.labels(route),
                self.db_time.labels(route),
            )
            self._route_children[key] = children
        latency, statements_, db_time = children
        latency.observe(seconds)
        statements_.observe(statements)
        db_time.observe(db_seconds)

    def render(self) -> bytes:
        """The registry in Prometheus's text format, for ``/metrics`` (served as ``content_type``)."""
        return generate_latest(self.registry)
