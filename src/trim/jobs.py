"""The periodic work every worker runs: each area's SWEEPS, composed here.

`trim worker` and the app's embedded worker both take this tuple, so a worker knows its
sweeps without building the web app. A new area with periodic work adds its jobs.SWEEPS
below (tests/test_jobs_composition.py fails on a sweep that no worker runs).
"""

from __future__ import annotations

import trim.models  # noqa: F401 - every table registered before a sweep queries
from trim import idempotency
from trim.accounts import jobs as accounts_jobs
from trim.dashboard import jobs as dashboard_jobs
from trim.flags import jobs as flags_jobs
from trim.followups import jobs as followups_jobs
from trim.notifications import jobs as notifications_jobs
from trim.notifications.sweeps import RegisteredSweep
from trim.peers import jobs as peers_jobs
from trim.records import jobs as records_jobs
from trim.requests import jobs as requests_jobs

# Shared plumbing with periodic work of its own (not an area, so listed here).
FOUNDATION_SWEEPS = (RegisteredSweep("idempotency.expired", idempotency.sweep_expired),)

SWEEPS: tuple[RegisteredSweep, ...] = (
    *accounts_jobs.SWEEPS,
    *FOUNDATION_SWEEPS,
    *followups_jobs.SWEEPS,
    *notifications_jobs.SWEEPS,
    *flags_jobs.SWEEPS,
    *requests_jobs.SWEEPS,
    *peers_jobs.SWEEPS,
    *records_jobs.SWEEPS,
    *dashboard_jobs.SWEEPS,
)
