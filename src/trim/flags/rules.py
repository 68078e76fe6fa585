"""The flag rules: pure functions of plain values, the clock and thresholds passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from trim.followups.models import Outcome

CAUSES = {
    "consecutive_elevated": "Elevated at consecutive check-ins",
    "elevated_last": "Elevated at the last scheduled check-in",
    "tsq_positive": "Screening questions above threshold",
    "safety_concern": "Safety concern raised at a check-in",
    "cumulative_exposure": "Several incidents in a short time: offer a check-in",
    "request_safety": "Safety concern raised when asking for a peer",
}
URGENT_CAUSES = ("safety_concern", "request_safety")

STATUS_LABELS = {
    "open": "Open",
    "referred": "Referred",
    "declined": "Referral declined",
    "closed": "Closed",
    "monitoring": "Watchful waiting",
}
REASON_MAX = 500
MONITOR_SETTLED_REASON = "Watchful waiting: nothing persisted at the extra check-in"

# What was done straight away about an urgent flag (design section 4).
ACK_ACTIONS = {
    "stayed_with_them": "Stayed with them",
    "crisis_line": "Called a crisis line",
    "emergency_department": "Took them to A&E",
    "told_on_call": "Told on-call",
    "other": "Something else",
}
ACK_NOTE_MAX = 200


def acknowledgement_problem(action: str, note: str | None) -> tuple[str, str] | None:
    """(field, message) when what was done is missing or unclear, else None."""
    if action not in ACK_ACTIONS:
        return "action", "Say what was done straight away."
    words = (note or "").strip()
    if action == "other" and not words:
        return "note", "Say in a few words what was done."
    if len(words) > ACK_NOTE_MAX:
        return "note", f"Keep it under {ACK_NOTE_MAX} characters."
    return None


def acknowledged_within(raised_at: datetime, acknowledged_at: datetime) -> str:
    """How quickly an urgent flag was picked up, in plain words."""
    minutes = max(0, int((acknowledged_at - raised_at).total_seconds() // 60))
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


@dataclass(frozen=True)
class ScheduledCheckin:
    """One check-in of an exposure, as the flag rules see it."""

    offset_days: int
    outcome: str | None  # None while open
    # trim_risk's after-phase items reach TRIM_PERSISTENT_AFTER_SCORE (completed only):
    # the person's difficulties now, not their unchangeable history or the event itself.
    persistent: bool = False
    tsq_flagged: bool = False
    # An extra check-in (watchful waiting, interim): it counts in a run, but it is never
    # "the last scheduled check-in".
    extra: bool = False


def exposure_flags(checkins: Sequence[ScheduledCheckin], *, consecutive: int) -> set[str]:
    """Which exposure-level flags the check-ins call for. The two persistence rules
    (consecutive; at the last check-in) use "counts toward persistence", not the band.
    Only completed check-ins count;
    declined, unreachable, not needed or cancelled ones in between neither break nor make
    a run, and a run waits while a check-in between is still open, so the answer depends
    on what was recorded, never on the order it was recorded in."""
    ordered = sorted(checkins, key=lambda c: c.offset_days)
    causes: set[str] = set()
    run = 0
    for checkin in ordered:
        if checkin.outcome is None:
            run = 0  # undecided: a run cannot pass through it (yet)
            continue
        if checkin.outcome != Outcome.completed:
            continue
        run = run + 1 if checkin.persistent else 0
        if run >= consecutive:
            causes.add("consecutive_elevated")
        if checkin.tsq_flagged:
            causes.add("tsq_positive")
    live = [c for c in ordered if c.outcome != Outcome.cancelled and not c.extra]
    if live:
        last = live[-1]
        if last.outcome == Outcome.completed and last.persistent:
            causes.add("elevated_last")
    return causes


def periodic_flags(checkins: Sequence[tuple[str, ScheduledCheckin]], *, consecutive: int) -> set[tuple[str, str]]:
    """The flags a person's periodic check-ins (keyed, e.g. by id) call for, as (cause, key
    of the check-in that met it). The same rules as an exposure's, except that a cadence
    has no "last scheduled" check-in, and a run raises its flag once, where it reaches
    `consecutive` (a later run raises again). Declining never counts: declined,
    unreachable or not-needed ones in between neither break nor make a run."""
    ordered = sorted(checkins, key=lambda kc: kc[1].offset_days)
    causes: set[tuple[str, str]] = set()
    run = 0
    for key, checkin in ordered:
        if checkin.outcome is None:
            run = 0
            continue
        if checkin.outcome != Outcome.completed:
            continue
        run = run + 1 if checkin.persistent else 0
        if run == consecutive:
            causes.add(("consecutive_elevated", key))
        if checkin.tsq_flagged:
            causes.add(("tsq_positive", key))
    return causes


def monitor_days_problem(days: int, *, shortest: int, longest: int) -> str | None:
    """Why a watchful-waiting interval cannot be used, in words for the peer; else None."""
    if days < shortest or days > longest:
        return f"Choose between {shortest} and {longest} days."
    return None


def monitor_offset(*, incident_day: date, today: date, days: int) -> int:
    """The extra check-in's offset from the incident: `days` calendar days from today."""
    return (today - incident_day).days + days


def monitor_verdict(*, outcome: str, persistent: bool, tsq_flagged: bool) -> str | None:
    """What the watchful-waiting check-in decides for its flag: "close" when it was held
    and nothing persists, "reopen" when difficulties persist or it could not be held
    (a person decides again; never closed on no news), None while it is not recorded or
    was cancelled with the exposure."""
    if outcome == Outcome.completed:
        return "reopen" if persistent or tsq_flagged else "close"
    if outcome in (Outcome.declined, Outcome.unreachable, Outcome.not_needed):
        return "reopen"
    return None


def cumulative_window_start(occurrences: Sequence[datetime], *, threshold: int, window: timedelta) -> datetime | None:
    """The start of the earliest window holding `threshold` incidents within `window`,
    or None. Used as the flag's key, so the same cluster raises it once."""
    times = sorted(occurrences)
    for i in range(len(times) - threshold + 1):
        if times[i + threshold - 1] - times[i] <= window:
            return times[i]
    return None
