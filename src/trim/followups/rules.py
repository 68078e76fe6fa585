"""The schedule's rules: pure functions, the clock passed in."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, or_
from sqlmodel import col

from trim.followups.models import CheckIn, CheckInStatus

# The reason a check-in cancelled by the person's "no more check-ins" carries (undo finds them by it).
OPT_OUT_REASON = "opted out of further check-ins"

OPEN_STATUSES: tuple[str, ...] = (CheckInStatus.upcoming, CheckInStatus.due, CheckInStatus.overdue)
CLOSED_STATUSES: tuple[str, ...] = (
    CheckInStatus.completed,
    CheckInStatus.declined,
    CheckInStatus.unreachable,
    CheckInStatus.not_needed,
    CheckInStatus.cancelled,
)
STATUSES = OPEN_STATUSES + CLOSED_STATUSES

STATUS_LABELS = {
    "upcoming": "Upcoming",
    "due": "Due",
    "overdue": "Overdue",
    "completed": "Done",
    "declined": "Declined",
    "unreachable": "Unreachable",
    "not_needed": "Not needed",
    "cancelled": "Cancelled",
}


def checkin_kind(offset_days: int) -> str:
    return f"day{offset_days}"


RETURN_PREFIX = "rtw"


def return_kind(days_after_return: int) -> str:
    """A return-to-work check-in: rtw7 is a week after the person is back at work."""
    return f"{RETURN_PREFIX}{days_after_return}"


def is_return_kind(kind: str) -> bool:
    return kind.startswith(RETURN_PREFIX) and kind[len(RETURN_PREFIX) :].isdigit()


def return_label(kind: str) -> str | None:
    """rtw7 -> "1 week back at work"; rtw10 -> "10 days back at work"; else None."""
    if not is_return_kind(kind):
        return None
    days = int(kind[len(RETURN_PREFIX) :])
    if days % 7 == 0:
        weeks = days // 7
        return f"{weeks} week{'' if weeks == 1 else 's'} back at work"
    return f"{days} day{'' if days == 1 else 's'} back at work"


def return_scheduled_time(returned_on: date, occurred_at: datetime, days: int, zone: ZoneInfo) -> datetime:
    """`days` calendar days after the return date, at the incident's local time of day
    (the same rule as the incident's own check-ins), as UTC."""
    local_time = occurred_at.astimezone(zone).time().replace(tzinfo=None)
    wall = datetime.combine(returned_on + timedelta(days=days), local_time)
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def return_date_problem(returned_on: date, *, incident_day: date, today: date, past: int, future: int) -> str | None:
    """Why a return-to-work date cannot be used, in words for the person; None when it can."""
    if returned_on < incident_day:
        return "The return date is before the incident: check the date."
    if returned_on < today - timedelta(days=past):
        return f"The return date is more than {past} days ago: check the date."
    if returned_on > today + timedelta(days=future):
        return f"The return date is more than {future} days ahead: start the follow-up nearer the time."
    return None


# Extra check-ins (design section 4): watchful waiting on a flag, and the interim one
# offered between the first check-in and the next when difficulties already show.
MONITOR_KIND = "monitor"
INTERIM_KIND = "interim"
EXTRA_KINDS = (MONITOR_KIND, INTERIM_KIND)
EXTRA_LABELS = {MONITOR_KIND: "Watchful waiting", INTERIM_KIND: "Interim"}
# A high-exposure group's check-in, no incident (design section 14).
PERIODIC_KIND = "periodic"


def kind_label(kind: str) -> str:
    """day28 -> "Day 28", rtw7 -> "1 week back at work" for people; the API keeps the code."""
    offset = offset_of(kind)
    if offset is not None:
        return f"Day {offset}"
    if kind == PERIODIC_KIND:
        return "Periodic"
    return return_label(kind) or EXTRA_LABELS.get(kind) or kind


def asked_as(kind: str, offset_days: int, scheduled_offsets: Sequence[int]) -> str:
    """The kind whose questions a check-in asks. An extra check-in (monitor, interim) asks
    what the latest scheduled check-in at or before its day asks, so the TSQ is never
    asked before four weeks and always after; any other kind asks its own."""
    if kind not in EXTRA_KINDS or not scheduled_offsets:
        return kind
    earlier = [o for o in scheduled_offsets if o <= offset_days]
    return checkin_kind(max(earlier) if earlier else min(scheduled_offsets))


def interim_offered(*, kind: str, outcome: str | None, persistent: bool, scheduled_offsets: Sequence[int]) -> bool:
    """After the first scheduled check-in, held and counting toward persistence, the peer is
    offered (not forced) an interim check-in before the next one."""
    offsets = sorted(scheduled_offsets)
    return len(offsets) >= 2 and kind == checkin_kind(offsets[0]) and outcome == CheckInStatus.completed and persistent


def interim_offset_problem(offset_days: int, *, after: int, before: int) -> str | None:
    """Why an interim check-in cannot fall on this day (from the incident); else None."""
    if offset_days <= after or offset_days >= before:
        return f"An interim check-in falls after day {after} and before day {before}: choose a day in between."
    return None


def offset_of(kind: str) -> int | None:
    """day28 -> 28; anything else -> None."""
    if kind.startswith("day") and kind[3:].isdigit():
        return int(kind[3:])
    return None


def scheduled_time(occurred_at: datetime, offset_days: int, zone: ZoneInfo) -> datetime:
    """The same local wall-clock time `offset_days` calendar days after the incident,
    in the organisation's zone, as UTC. A daylight-saving change in between moves it
    by no hour; a wall time that does not exist that day (the spring gap) moves later."""
    wall = occurred_at.astimezone(zone).replace(tzinfo=None) + timedelta(days=offset_days)
    # fold=0: an hour that happens twice takes the first; one skipped by the spring
    # change is read with the winter offset, which lands just after the gap.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def due_time(scheduled_for: datetime, now: datetime) -> datetime:
    """When a check-in is due: as scheduled, or now if that has passed (catch-up)."""
    return scheduled_for if scheduled_for > now else now


def recordable_from(due_at: datetime, *, early: timedelta) -> datetime:
    """The earliest a check-in can be recorded: `early` before it is due, never sooner
    (a day-28 TSQ answered the day after the incident screens the wrong thing)."""
    return due_at - early


def too_early(*, due_at: datetime, now: datetime, early: timedelta) -> bool:
    return now < recordable_from(due_at, early=early)


def checkin_status(*, due_at: datetime, outcome: str | None, now: datetime, window: timedelta) -> str:
    """The one definition of a check-in's status, from the clock and the record."""
    if outcome:
        return outcome
    if now < due_at:
        return CheckInStatus.upcoming
    if now < due_at + window:
        return CheckInStatus.due
    return CheckInStatus.overdue


def status_clause(statuses: Iterable[str], *, now: datetime, window: timedelta) -> ColumnElement[bool]:
    """The same definition as `checkin_status`, as SQL (a test proves they agree)."""
    due_at, outcome = col(CheckIn.due_at), col(CheckIn.outcome)
    parts: list[ColumnElement[bool]] = []
    wanted = set(statuses)
    closed = [s for s in CLOSED_STATUSES if s in wanted]
    if closed:
        parts.append(outcome.in_(closed))
    if CheckInStatus.upcoming in wanted:
        parts.append(and_(outcome.is_(None), due_at > now))
    if CheckInStatus.due in wanted:
        parts.append(and_(outcome.is_(None), due_at <= now, due_at > now - window))
    if CheckInStatus.overdue in wanted:
        parts.append(and_(outcome.is_(None), due_at <= now - window))
    return or_(*parts) if parts else false()


def is_missed(*, due_at: datetime, outcome: str | None, now: datetime, window: timedelta, grace: timedelta) -> bool:
    """Dashboard category, not a status: overdue past the grace period, never done."""
    return outcome is None and now >= due_at + window + grace


@dataclass(frozen=True)
class PeerCandidate:
    id: uuid.UUID
    name: str
    station_id: uuid.UUID | None
    open_checkins: int
    staff_number: str | None = None
    manager_staff_number: str | None = None
    # People they can still take under their caseload cap (None: no limit applies).
    room: int | None = None


def line_related(a_staff: str | None, a_manager: str | None, b_staff: str | None, b_manager: str | None) -> bool:
    """Whether one of two people is the other's line manager, either way round, by staff
    numbers (design section 5). Unknown numbers relate nobody."""
    return bool((a_manager and a_manager == b_staff) or (b_manager and b_manager == a_staff))


def choose_peer(
    candidates: Sequence[PeerCandidate],
    *,
    person_id: uuid.UUID,
    person_station_id: uuid.UUID | None,
    exposed_ids: set[uuid.UUID],
    avoid_same_station: bool,
    exclude: set[uuid.UUID] | None = None,
    person_staff_number: str | None = None,
    person_manager_staff_number: str | None = None,
) -> PeerCandidate | None:
    """An available peer supporter for this person: never someone exposed to the same
    incident (nor the person themselves), never the person's line manager nor anyone
    the person manages, not from the person's station when the setting asks, with the
    fewest open check-ins. None when nobody qualifies."""
    excluded = set(exclude or ()) | exposed_ids | {person_id}
    eligible = [
        c
        for c in candidates
        if c.id not in excluded
        and (c.room is None or c.room > 0)
        and not (avoid_same_station and person_station_id is not None and c.station_id == person_station_id)
        and not line_related(person_staff_number, person_manager_staff_number, c.staff_number, c.manager_staff_number)
    ]
    if not eligible:
        return None
    return min(eligible, key=lambda c: (c.open_checkins, c.name, str(c.id)))


def digest_message(*, due: int, overdue: int) -> tuple[str, str]:
    """Subject and body of a peer's daily summary: counts only, nothing about who."""

    def checkins(n: int) -> str:
        return f"{n} check-in{'' if n == 1 else 's'}"

    parts = []
    if due:
        parts.append(f"{checkins(due)} due")
    if overdue:
        parts.append(f"{checkins(overdue)} overdue" if not due else f"{overdue} overdue")
    summary = " and ".join(parts)
    return "Your check-ins today", f"You have {summary}. Open your check-ins to see them."


def handover_message(*, moved: int, unassigned: int) -> tuple[str, str]:
    """What the lead is told when a peer becomes unavailable and their work is handed on:
    how many people, never who."""

    def people(n: int) -> str:
        return f"{n} {'person' if n == 1 else 'people'}"

    lines = ["A peer supporter is no longer available, so their open check-ins were handed on."]
    if moved:
        lines.append(f"{people(moved)} now {'has' if moved == 1 else 'have'} another peer.")
    if unassigned:
        lines.append(
            f"{people(unassigned)} still {'needs' if unassigned == 1 else 'need'} a peer: choose one on the overview."
        )
    subject = "Check-ins need a peer" if unassigned else "Check-ins were handed on"
    return subject, "\n".join(lines)
