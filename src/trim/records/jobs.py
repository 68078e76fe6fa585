"""Periodic work of records: keeping less (item-level answers and notes deleted after
TRIM_ANSWER_RETENTION_DAYS; see keep_less for the cost and why it is idempotent)."""

from __future__ import annotations

from trim.notifications.sweeps import RegisteredSweep
from trim.records import keep_less

# What every worker runs for this area (trim.jobs composes every area's).
SWEEPS = (RegisteredSweep("records.answers_kept_less", keep_less.sweep_answers),)
