"""The figures a process counts as it runs (requests, the connection pool, the worker's
rounds), and how they are read out.

`trim run --workers N` serves from N processes: it sets PROMETHEUS_MULTIPROC_DIR before any
of them imports prometheus_client, so every process writes its figures to files there and a
scrape of any one port adds them up (prometheus_client's multiprocess mode). A process
without that directory (the demo, the worker, tests) reads its own registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from trim.metrics.multiproc import MULTIPROC_ENV

# Latency buckets for pages and API calls: most answer in tens of milliseconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)

HTTP_REQUESTS = Counter(
    "trim_http_requests",
    "Requests answered, by method, route template and status code.",
    ("method", "route", "status"),
)
HTTP_DURATION = Histogram(
    "trim_http_request_duration_seconds",
    "Time to answer a request, by method, route template and status code.",
    ("method", "route", "status"),
    buckets=REQUEST_BUCKETS,
)
POOL_IN_USE = Gauge(
    "trim_db_pool_connections_in_use",
    "Database connections checked out of the pool now (summed over live processes).",
    multiprocess_mode="livesum",
)
POOL_CAPACITY = Gauge(
    "trim_db_pool_connections_max",
    "Connections the pool may hold at a peak (pool size plus overflow; summed over live processes).",
    multiprocess_mode="livesum",
)
POOL_WAITS = Counter(
    "trim_db_pool_waits",
    "Times a request had to wait for a free database connection (the pool was full).",
)
POOL_WAIT_SECONDS = Histogram(
    "trim_db_pool_wait_seconds",
    "Time spent getting a connection from the pool.",
    buckets=WAIT_BUCKETS,
)

# The dashboard's and reports' reads (trim.analytics): where each was served, and why the
# primary when a replica is set up (no_replica, unreachable, resting, lagging, not_standby, failed).
ANALYTICS_READS = Counter(
    "trim_analytics_reads",
    "Dashboard and report reads, by where they were served (replica, primary) and why.",
    ("source", "reason"),
)
REPLICA_LAG = Gauge(
    "trim_replica_lag_seconds",
    "How far behind the read replica was at the last dashboard or report read (0 when caught up).",
    multiprocess_mode="livemax",
)


def process_registry() -> CollectorRegistry:
    """The registry a scrape reads: every process's files in multiprocess mode, else this
    process's own figures."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


# -- the worker -----------------------------------------------------------------------------

# The worker's figures sit in a registry of their own, made on first use: a web process never
# shows a worker's zeros, and `trim worker` serves only these on TRIM_WORKER_METRICS_PORT.
WORKER_REGISTRY = CollectorRegistry()


@dataclass(frozen=True)
class WorkerMetrics:
    sweep_last_run: Gauge
    sweep_duration: Gauge
    sweep_failures: Counter
    sweep_items: Counter
    mail_sent: Counter
    mail_retrying: Counter
    mail_given_up: Counter
    audit_sealed: Counter
    last_round: Gauge


@cache
def worker_metrics() -> WorkerMetrics:
    """The worker's figures (created once, in the process that runs sweeps)."""
    r = WORKER_REGISTRY
    return WorkerMetrics(
        sweep_last_run=Gauge(
            "trim_sweep_last_run_timestamp_seconds",
            "When each sweep last finished (Unix time), whether or not it found work.",
            ("sweep",),
            registry=r,
        ),
        sweep_duration=Gauge(
            "trim_sweep_last_duration_seconds", "How long each sweep's last run took.", ("sweep",), registry=r
        ),
        sweep_failures=Counter(
            "trim_sweep_failures", "Sweep runs that failed and were rolled back.", ("sweep",), registry=r
        ),
        sweep_items=Counter(
            "trim_sweep_items", "Items each sweep handled (reminders written, flags raised...).", ("sweep",), registry=r
        ),
        mail_sent=Counter("trim_mail_sent", "Messages this worker handed to the mail server.", registry=r),
        mail_retrying=Counter("trim_mail_retries", "Sending attempts that failed and will be tried again.", registry=r),
        mail_given_up=Counter(
            "trim_mail_given_up", "Messages this worker gave up on after the last attempt.", registry=r
        ),
        audit_sealed=Counter("trim_audit_sealed_events", "Audit events this worker sealed into the chain.", registry=r),
        last_round=Gauge(
            "trim_worker_last_round_timestamp_seconds",
            "When the worker last finished a round of sweeps, sealing and sending (Unix time).",
            registry=r,
        ),
    )
