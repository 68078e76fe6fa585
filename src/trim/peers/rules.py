"""Looking after the peer supporters: pure rules, the clock passed in (design section 13)."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from trim.followups import rules as followups_rules
from trim.followups.rules import PeerCandidate

# Why a peer cannot take someone new, in the order the lead reads them.
UNAVAILABLE, LAPSED, RESTING, AT_CAP = "unavailable", "lapsed", "resting", "at_cap"
EXPOSED, SAME_STATION, LINE = "exposed", "same_station", "line"

REASON_WORDS = {
    UNAVAILABLE: ("is marked unavailable", "unavailable"),
    LAPSED: ("has lapsed training", "training lapsed"),
    RESTING: ("is resting", "resting"),
    AT_CAP: ("is at their cap", "at their cap"),
    EXPOSED: ("was on the same incident", "on the same incident"),
    SAME_STATION: ("is at the person's own station", "at the person's station"),
    LINE: ("is in the person's line management", "in their line management"),
}


@dataclass(frozen=True)
class Standing:
    """What decides whether a peer may take someone new, apart from the person."""

    available: bool = True
    lapses_on: date | None = None  # the earliest refresher due; None: nothing to renew
    resting_until: date | None = None
    open_people: int = 0
    cap: int = 8


def lapse_date(refreshers: Iterable[date | None]) -> date | None:
    """When a peer's training lapses: the earliest refresher due among their courses."""
    dates = [d for d in refreshers if d is not None]
    return min(dates) if dates else None


def is_lapsed(lapses_on: date | None, today: date) -> bool:
    """Lapsed from the day the refresher is due (a peer with no course to renew is not)."""
    return lapses_on is not None and today >= lapses_on


def is_resting(resting_until: date | None, today: date) -> bool:
    """Resting through the day they named."""
    return resting_until is not None and today <= resting_until


def unfit_reason(standing: Standing, today: date) -> str | None:
    """Why this peer takes nobody new today (None: they may)."""
    if not standing.available:
        return UNAVAILABLE
    if is_lapsed(standing.lapses_on, today):
        return LAPSED
    if is_resting(standing.resting_until, today):
        return RESTING
    if standing.open_people >= standing.cap:
        return AT_CAP
    return None


def fit_candidates(candidates: Sequence[tuple[PeerCandidate, Standing]], today: date) -> list[PeerCandidate]:
    """The eligibility filter: peers who may take someone new, each with the room left
    under their cap, so a batch of assignments stops at the cap too."""
    return [dataclasses.replace(c, room=s.cap - s.open_people) for c, s in candidates if unfit_reason(s, today) is None]


def choose_peer(
    candidates: Sequence[tuple[PeerCandidate, Standing]],
    *,
    today: date,
    person_id: uuid.UUID,
    person_station_id: uuid.UUID | None,
    exposed_ids: set[uuid.UUID],
    avoid_same_station: bool,
    person_staff_number: str | None = None,
    person_manager_staff_number: str | None = None,
    exclude: set[uuid.UUID] | None = None,
) -> PeerCandidate | None:
    """The whole choice of a peer (sections 5 and 13): the eligibility filter, then the
    schedule's rules (not exposed, not the same station when asked, not in the person's
    line, fewest open check-ins)."""
    return followups_rules.choose_peer(
        fit_candidates(candidates, today),
        person_id=person_id,
        person_station_id=person_station_id,
        exposed_ids=exposed_ids,
        avoid_same_station=avoid_same_station,
        exclude=exclude,
        person_staff_number=person_staff_number,
        person_manager_staff_number=person_manager_staff_number,
    )


def rejection(
    candidate: PeerCandidate,
    standing: Standing,
    *,
    today: date,
    person_station_id: uuid.UUID | None,
    exposed_ids: set[uuid.UUID],
    avoid_same_station: bool,
    person_staff_number: str | None = None,
    person_manager_staff_number: str | None = None,
) -> str | None:
    """The first reason this peer is not chosen for this person, or None."""
    reason = unfit_reason(standing, today)
    if reason:
        return reason
    if candidate.id in exposed_ids:
        return EXPOSED
    if avoid_same_station and person_station_id is not None and candidate.station_id == person_station_id:
        return SAME_STATION
    if followups_rules.line_related(
        person_staff_number, person_manager_staff_number, candidate.staff_number, candidate.manager_staff_number
    ):
        return LINE
    return None


def nobody_reason(rejections: Sequence[tuple[str, str]]) -> str:
    """Why nobody qualifies, for the lead, from (station name, reason) of each peer:
    "every peer at Bravo is at their cap"."""
    if not rejections:
        return "there are no active peer supporters"
    by_station: dict[str, Counter[str]] = {}
    for station, reason in rejections:
        by_station.setdefault(station, Counter())[reason] += 1
    parts = []
    for station in sorted(by_station):
        counts = by_station[station]
        where = f"at {station}" if station else "with no station"
        if len(counts) == 1:
            (reason,) = counts
            parts.append(f"every peer {where} {REASON_WORDS[reason][0]}")
        else:
            listed = ", ".join(
                f"{n} {REASON_WORDS[r][1]}"
                for r, n in sorted(counts.items(), key=lambda rn: list(REASON_WORDS).index(rn[0]))
            )
            parts.append(f"peers {where}: {listed}")
    return "; ".join(parts)


def lapse_notice_due(lapses_on: date | None, today: date, *, ahead_days: int) -> str | None:
    """Which refresher notice the lead is owed today: "lapse_soon" within `ahead_days`
    of the date, "lapsed" from the day itself; None otherwise."""
    if lapses_on is None:
        return None
    if today >= lapses_on:
        return "lapsed"
    if today >= lapses_on - timedelta(days=ahead_days):
        return "lapse_soon"
    return None


def day_words(day: date) -> str:
    """2027-01-05 -> "5 January 2027"."""
    return f"{day.day} {day.strftime('%B %Y')}"


def lapse_message(kind: str, lapses_on: date) -> tuple[str, str]:
    """What the lead is told: that a peer's refresher is coming due or due, with the date."""
    day = day_words(lapses_on)
    if kind == "lapse_soon":
        return (
            "A peer supporter's refresher is coming due",
            f"A peer supporter's training refresher is due on {day}. From that day they are not assigned "
            "anyone new until it is renewed. Open the peer supporters page to see who.",
        )
    return (
        "A peer supporter's training has lapsed",
        f"A peer supporter's training refresher was due on {day}, so they are no longer assigned. Their open "
        "check-ins were handed on by the usual rules. Record the refresher on the peer supporters page to renew them.",
    )


def rest_problem(resting_until: date, *, today: date, max_days: int) -> str | None:
    """Why a "resting until" date cannot be used, in words for the peer; None when it can."""
    if resting_until < today:
        return "The date has passed: choose today or a later day."
    if resting_until > today + timedelta(days=max_days):
        return f"Choose a date within {max_days} days; you can rest again after it."
    return None


# How long after a rest ended its notice may still go (a worker down for a day still tells).
REST_OVER_NOTICE_DAYS = 7


def rest_over_due(resting_until: date | None, today: date) -> bool:
    """Whether a peer's rest has just ended (it ran through `resting_until`) and they should
    be told they may be given people again: from the next day, for a few days only."""
    if resting_until is None:
        return False
    return resting_until < today <= resting_until + timedelta(days=REST_OVER_NOTICE_DAYS)


def rest_over_message(resting_until: date) -> tuple[str, str]:
    """What the peer is told when their rest is over (nobody else is told)."""
    return (
        "Your rest as a peer supporter has ended",
        f"You set yourself as resting until {day_words(resting_until)}. From today you may be given people to "
        "support again. If you need longer, set a new date on your peer supporter page; nobody asks why.",
    )


def quiet_clock_start(
    *, due_at: datetime, window: timedelta, started_at: datetime | None, attempted_at: datetime | None
) -> datetime:
    """When a check-in's quiet clock started: the end of its due window (when it became
    overdue), or later when it moved to this peer, or when they logged a try to reach them."""
    start = due_at + window
    for later in (started_at, attempted_at):
        if later is not None and later > start:
            start = later
    return start


def is_quiet(
    *,
    due_at: datetime,
    window: timedelta,
    started_at: datetime | None,
    attempted_at: datetime | None,
    quiet: timedelta,
    now: datetime,
) -> bool:
    """Overdue by the quiet-peer days with no record and no (counted) contact attempt."""
    return (
        now >= quiet_clock_start(due_at=due_at, window=window, started_at=started_at, attempted_at=attempted_at) + quiet
    )


def supervision_due(last_held: date | None, *, since: date, every_days: int) -> date:
    """When a peer's next supervision is due: `every_days` after the last one held, or
    after they became a peer when none has been."""
    return (last_held or since) + timedelta(days=every_days)


QUIET_MOVED_PEER = (
    "A check-in has moved to another peer",
    "A check-in assigned to you was overdue with nothing recorded and no contact logged, so it has moved to "
    "another peer so the person is not left waiting. Nothing is wrong: if you did speak to them, tell the lead.",
)
QUIET_MOVED_LEAD = (
    "An overdue check-in has moved to another peer",
    "A check-in was overdue with nothing recorded and no contact logged, so it has moved to another peer so the "
    "person is not left waiting. The overview shows where it is now.",
)
QUIET_STUCK_LEAD = (
    "An overdue check-in has nobody else to go to",
    "A check-in is overdue with nothing recorded and no contact logged, and no other peer qualifies to take it. "
    "Open the overview to choose someone.",
)


def quiet_moved_peer(count: int) -> tuple[str, str]:
    """A quiet peer's one email for a round of the sweep: how many of theirs moved."""
    if count == 1:
        return QUIET_MOVED_PEER
    return (
        f"{count} check-ins have moved to other peers",
        f"{count} check-ins assigned to you were overdue with nothing recorded and no contact logged, so each has "
        "moved to another peer so nobody is left waiting. Nothing is wrong: if you did speak to any of them, tell "
        "the lead.",
    )


def quiet_moved_lead(count: int) -> tuple[str, str]:
    """The lead's one email for a round of the sweep: how many moved (after a big incident a
    round can move hundreds; an email each would bury the ones that need the lead)."""
    if count == 1:
        return QUIET_MOVED_LEAD
    return (
        f"{count} overdue check-ins have moved to other peers",
        f"{count} check-ins were overdue with nothing recorded and no contact logged, so each has moved to another "
        "peer so nobody is left waiting. The overview shows where they are now.",
    )


def quiet_stuck_lead(count: int) -> tuple[str, str]:
    """The lead's one email for a round: how many quiet check-ins nobody else can take."""
    if count == 1:
        return QUIET_STUCK_LEAD
    return (
        f"{count} overdue check-ins have nobody else to go to",
        f"{count} check-ins are overdue with nothing recorded and no contact logged, and no other peer qualifies to "
        "take them. Open the overview to choose someone.",
    )


PEER_CHANGED = (
    "Your peer supporter has changed",
    "Your peer supporter for a check-in has changed. Nothing else has: open trim to see who it is now.",
)
DEBRIEF_ASKED = (
    "A peer supporter would like to talk a check-in over",
    "A peer supporter has asked for a debrief after a check-in. Open the supervision list to arrange it.",
)
