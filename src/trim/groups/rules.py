"""Pure rules of the periodic cadence: no I/O, the clock passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from trim.followups.rules import PERIODIC_KIND as PERIODIC_KIND
from trim.followups.rules import scheduled_time

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


def periodic_offset(*, first_scheduled_for: datetime | None, scheduled_for: datetime, zone: ZoneInfo) -> int:
    """Days from the person's first periodic check-in to this one (local dates): the order
    the flag rules read a person's periodic check-ins in."""
    if first_scheduled_for is None:
        return 0
    return (scheduled_for.astimezone(zone).date() - first_scheduled_for.astimezone(zone).date()).days


def periodic_label(group_names: Sequence[str]) -> str:
    """What a person and their peer read for a check-in with no incident."""
    if not group_names:
        return "Periodic check-in"
    return f"Periodic check-in ({', '.join(group_names)})"


LEFT_GROUPS_REASON = "no longer in a high-exposure group"
OPTED_OUT_REASON = "opted out of periodic check-ins"
