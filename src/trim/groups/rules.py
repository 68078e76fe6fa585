"""Pure rules of the periodic cadence: no I/O, the clock passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from trim.followups.rules import scheduled_time

PERIODIC_KIND = "periodic"
GROUP_NAME_MAX = 80
CADENCE_MIN_DAYS = 7
CADENCE_MAX_DAYS = 730


def group_problem(name: str, cadence_days: int) -> tuple[str, str] | None:
    """What is wrong with a group's definition, as (field, message), or None."""
    if not name or len(name) > GROUP_NAME_MAX:
        return "name", f"Name the group (1-{GROUP_NAME_MAX} characters)."
    if not CADENCE_MIN_DAYS <= cadence_days <= CADENCE_MAX_DAYS:
        return "cadence_days", f"A cadence is {CADENCE_MIN_DAYS} to {CADENCE_MAX_DAYS} days."
    return None


def tidy_name(name: str) -> str:
    return " ".join(name.split())


def effective_cadence(cadences: Sequence[int]) -> int | None:
    """A person in several groups is seen at the shortest of their cadences; none: not periodic."""
    return min(cadences) if cadences else None


def next_periodic_due(
    *, joined_at: datetime, last_scheduled_for: datetime | None, cadence_days: int, zone: ZoneInfo
) -> datetime:
    """When the next periodic check-in falls due: at joining (so a new member is seen soon),
    then the same local time every cadence after the last one."""
    if last_scheduled_for is None or last_scheduled_for < joined_at:
        return joined_at
    return scheduled_time(last_scheduled_for, cadence_days, zone)
