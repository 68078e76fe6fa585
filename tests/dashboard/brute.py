"""The dashboard's figures recomputed the slow, obvious way: every row loaded into Python
and counted with loops. Written from the definitions on the page, not from the SQL."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from trim.accounts.models import Person, PersonRole
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.dashboard.figures import ALL, CellKey, Stat
from trim.dashboard.rules import Count
from trim.dashboard.service import DashboardFilter
from trim.db import AsyncSession
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure, Incident, IncidentKind
from trim.planning.models import Briefing, BriefingAttendee, PlanningRecord, PlanningRoute
from trim.planning.rules import ROUTES
from trim.records.retention import stand_in_id
from trim.referrals.models import CONSENTED_STATUSES, Referral
from trim.requests.models import PeerRequest


def percentile(values: Sequence[float], p: float) -> float | None:
    """percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


@dataclass
class Expected:
    cells: dict[CellKey, Count]
    stats: dict[tuple[str, str], Stat]  # (figure id, group) -> stat


def _interval_order(kind: str) -> tuple[int, str]:
    return (int(kind[3:]) if kind.startswith("day") and kind[3:].isdigit() else 10**9, kind)


async def expected(session: AsyncSession, *, filters: DashboardFilter, now: datetime, settings: Settings) -> Expected:
    zone = settings.zone
    start, end = filters.period.start, filters.period.end
    incidents = list(await session.exec(select(Incident)))
    exposures = list(await session.exec(select(Exposure)))
    checkins = list(await session.exec(select(CheckIn)))
    assessments = [a for a in await session.exec(select(Assessment)) if a.is_current]
    flags = list(await session.exec(select(Flag)))
    referrals = list(await session.exec(select(Referral)))
    requests = list(await session.exec(select(PeerRequest)))
    people = {p.id: p for p in await session.exec(select(Person))}
    peer_ids = {r.person_id for r in await session.exec(select(PersonRole)) if r.role == "peer"}
    # A person with a purged case and a live one is one person: their stand-in counts as them.
    twin_of = {stand_in_id(settings, pid): pid for pid, p in people.items() if not p.is_pseudonym}

    def who(person_id: uuid.UUID) -> uuid.UUID:
        return twin_of.get(person_id, person_id)

    def month(when: datetime) -> str:
        return when.astimezone(zone).strftime("%Y-%m")

    cohort = {
        i.id: i
        for i in incidents
        if start <= i.occurred_at < end
        and (filters.station_id is None or i.station_id == filters.station_id)
        and (filters.kind is None or i.kind == filters.kind)
    }
    live = [e for e in exposures if e.incident_id in cohort and e.removed_at is None]
    exposure_by_id = {e.id: e for e in exposures}
    months = sorted({month(t) for t in _month_starts(start, end, settings)})
    kinds = [filters.kind] if filters.kind else [k.value for k in IncidentKind]
    cells: dict[CellKey, Count] = {}
    stats: dict[tuple[str, str], Stat] = {}

    def count(figure: str, dims: tuple[str, ...], measure: str, items: list[Any], person: Callable[[Any], Any]) -> None:
        cells[(figure, dims, measure)] = Count(len(items), len({person(x) for x in items}))

    # Incidents by month and kind (people: those exposed).
    for m in [*months, ALL]:
        for kd in [*kinds, ALL]:
            chosen = {i.id for i in cohort.values() if m in (ALL, month(i.occurred_at)) and kd in (ALL, i.kind)}
            exposed = {who(e.person_id) for e in live if e.incident_id in chosen}
            cells[("incidents_by_month_kind", (m, kd), "incidents")] = Count(len(chosen), len(exposed))

    # People exposed.
    for kind in ["direct", "witness", "support", ALL]:
        chosen = [e for e in live if kind in (ALL, e.exposure)]
        distinct = len({who(e.person_id) for e in chosen})
        cells[("people_exposed", (kind,), "exposures")] = Count(len(chosen), distinct)
        cells[("people_exposed", (kind,), "people")] = Count(distinct, distinct)

    # Check-ins by interval and timeliness; missed as of the start of today (local time).
    local_now = now.astimezone(zone)
    start_of_today = datetime(local_now.year, local_now.month, local_now.day, tzinfo=zone).astimezone(UTC)

    def timeliness(c: CheckIn) -> str:
        if c.outcome == "completed" and c.self_completed:
            return "answered_themselves"  # the person answered themselves and preferred not to talk
        if c.outcome == "completed":
            closes = c.due_at + settings.due_window
            return "on_time" if c.recorded_at is not None and c.recorded_at < closes else "late"
        if c.outcome in ("declined", "unreachable", "not_needed"):
            return c.outcome
        if start_of_today >= c.due_at + settings.due_window + settings.missed_grace:
            return "missed"
        return "pending"

    counted = [c for c in checkins if c.incident_id in cohort and c.outcome != "cancelled"]
    configured = [f"day{d}" for d in settings.scheduled_offsets_days]
    intervals = configured + sorted({c.kind for c in counted} - set(configured), key=_interval_order)
    categories = [
        "on_time",
        "late",
        "answered_themselves",
        "missed",
        "declined",
        "unreachable",
        "not_needed",
        "pending",
    ]
    for interval in [*intervals, ALL]:
        for category in [*categories, ALL]:
            chosen = [c for c in counted if interval in (ALL, c.kind) and category in (ALL, timeliness(c))]
            count("checkin_timeliness", (interval, category), "checkins", chosen, lambda c: who(c.person_id))

    # Periodic check-ins: no incident; by the month due and the person's current station,
    # none when a kind of incident is chosen.
    periodic = [
        c
        for c in checkins
        if c.kind == "periodic"
        and c.outcome != "cancelled"
        and start <= c.due_at < end
        and (filters.station_id is None or people[c.person_id].station_id == filters.station_id)
        and filters.kind is None
    ]
    for m in [*months, ALL]:
        for category in [*categories, ALL]:
            chosen = [c for c in periodic if m in (ALL, month(c.due_at)) and category in (ALL, timeliness(c))]
            count("periodic_checkins", (m, category), "checkins", chosen, lambda c: who(c.person_id))

    # First contact.
    accepted_by_person: dict[uuid.UUID, list[datetime]] = {}
    for r in requests:
        if r.accepted_at is not None:
            accepted_by_person.setdefault(who(r.requester_id), []).append(r.accepted_at)
    contacts: list[tuple[str, uuid.UUID, float]] = []
    for e in live:
        incident = cohort[e.incident_id]
        times = [
            c.recorded_at
            for c in checkins
            if c.exposure_id == e.id and c.outcome in ("completed", "declined") and c.recorded_at is not None
        ]
        times += [t for t in accepted_by_person.get(who(e.person_id), []) if t >= incident.occurred_at]
        if times:
            hours = (min(times) - incident.occurred_at).total_seconds() / 3600
            contacts.append((month(incident.occurred_at), who(e.person_id), hours))
    for m in [*months, ALL]:
        chosen = [c for c in contacts if m in (ALL, c[0])]
        count("first_contact", (m,), "contacted", chosen, lambda c: c[1])
        if chosen:
            hours = [c[2] for c in chosen]
            stats[("first_contact", m)] = Stat(
                percentile(hours, 0.5), percentile(hours, 0.9), len({c[1] for c in chosen})
            )

    # Score bands.
    current = {a.checkin_id: a for a in assessments}
    scored = [
        (c.kind, month(cohort[c.incident_id].occurred_at), current[c.id].band == "elevated", who(c.person_id))
        for c in counted
        if c.outcome == "completed" and c.id in current
    ]
    for interval in intervals:
        for m in [*months, ALL]:
            for band, measure in (("elevated", "elevated"), ("not_elevated", "not_elevated"), (ALL, "completed")):
                chosen = [
                    s
                    for s in scored
                    if s[0] == interval and m in (ALL, s[1]) and band in (ALL, "elevated" if s[2] else "not_elevated")
                ]
                count("score_bands", (interval, m), measure, chosen, lambda s: s[3])

    # Flags.
    def unlinked_in_scope(when: datetime, person_id: uuid.UUID) -> bool:
        person = people[person_id]
        return (
            start <= when < end
            and (filters.station_id is None or person.station_id == filters.station_id)
            and filters.kind is None
        )

    def flag_in_scope(f: Flag) -> bool:
        if f.exposure_id is not None:
            return exposure_by_id[f.exposure_id].incident_id in cohort
        return unlinked_in_scope(f.raised_at, f.person_id)

    scoped_flags = [f for f in flags if flag_in_scope(f)]
    from trim.flags.rules import CAUSES

    causes = list(CAUSES) + sorted({f.cause for f in scoped_flags} - set(CAUSES))
    statuses = ["open", "referred", "declined", "closed"]
    statuses += sorted({f.status for f in scoped_flags} - set(statuses))
    for cause in [*causes, ALL]:
        for status in [*statuses, ALL]:
            chosen = [f for f in scoped_flags if cause in (ALL, f.cause) and status in (ALL, f.status)]
            count("flags", (cause, status), "flags", chosen, lambda f: who(f.person_id))

    # Referrals.
    flag_by_id = {f.id: f for f in flags}

    def referral_in_scope(r: Referral) -> bool:
        flag = flag_by_id.get(r.flag_id) if r.flag_id else None
        if flag is not None and flag.exposure_id is not None:
            return exposure_by_id[flag.exposure_id].incident_id in cohort
        return unlinked_in_scope(r.created_at, r.person_id)

    scoped_referrals = [r for r in referrals if referral_in_scope(r)]

    def stage(r: Referral) -> str:
        return "not_consented" if not r.consent else r.status

    stages = ["not_consented", *CONSENTED_STATUSES]
    for name, chosen_stages in (("offered", None), ("consented", [s for s in stages if s != "not_consented"])):
        chosen = [r for r in scoped_referrals if chosen_stages is None or stage(r) in chosen_stages]
        count("referrals", (name,), "referrals", chosen, lambda r: who(r.person_id))
    for s in stages:
        count(
            "referrals", (s,), "referrals", [r for r in scoped_referrals if stage(r) == s], lambda r: who(r.person_id)
        )

    # Requests.
    scoped_requests = [
        r
        for r in requests
        if start <= r.created_at < end and (filters.station_id is None or r.requester_station_id == filters.station_id)
    ]
    for urgency in ["today", "this_week", "when_convenient", ALL]:
        mine = [r for r in scoped_requests if urgency in (ALL, r.urgency)]
        count("requests", (urgency,), "requests", mine, lambda r: who(r.requester_id))
        accepted = [r for r in mine if r.accepted_at is not None]
        count("requests", (urgency,), "accepted", accepted, lambda r: who(r.requester_id))
        waiting = [r for r in mine if r.accepted_at is None]
        count("requests", (urgency,), "not_accepted", waiting, lambda r: who(r.requester_id))
        if accepted:
            hours = [(r.accepted_at - r.created_at).total_seconds() / 3600 for r in accepted if r.accepted_at]
            stats[("requests", urgency)] = Stat(
                percentile(hours, 0.5), percentile(hours, 0.9), len({who(r.requester_id) for r in accepted})
            )

    # Peer caseloads.
    loads: dict[uuid.UUID, set[uuid.UUID]] = {pid: set() for pid in peer_ids if people[pid].active}
    for c in checkins:
        if c.incident_id in cohort and c.outcome is None and c.peer_id in loads:
            loads[c.peer_id].add(c.person_id)

    def band(n: int) -> str:
        return "none" if n == 0 else "1-5" if n <= 5 else "6-10" if n <= 10 else "11-20" if n <= 20 else "over 20"

    for label in ["none", "1-5", "6-10", "11-20", "over 20", ALL]:
        n = sum(1 for people_of in loads.values() if label in (ALL, band(len(people_of))))
        cells[("peer_caseloads", (label,), "peers")] = Count(n, n)

    # The planning meeting and briefings (section 12).
    records = {r.incident_id: r for r in await session.exec(select(PlanningRecord))}
    chosen_routes = {r.exposure_id: r.route for r in await session.exec(select(PlanningRoute))}

    def planned(i: Incident) -> str:
        record = records.get(i.id)
        if record is None:
            return "not_held"
        return "on_time" if record.held_at - i.occurred_at <= timedelta(hours=settings.planning_due_hours) else "late"

    for p in ["on_time", "late", "not_held", ALL]:
        held = {i.id for i in cohort.values() if p in (ALL, planned(i))}
        exposed = {who(e.person_id) for e in live if e.incident_id in held}
        cells[("planning", (p,), "incidents")] = Count(len(held), len(exposed))
    routed = [e for e in live if e.incident_id in records]
    for route in [*ROUTES, ALL]:
        chosen = [e for e in routed if route in (ALL, chosen_routes.get(e.id, "risk_assessment"))]
        count("planning_routes", (route,), "exposures", chosen, lambda e: who(e.person_id))
    briefings = [b for b in await session.exec(select(Briefing)) if b.incident_id in cohort]
    attendance = list(await session.exec(select(BriefingAttendee)))
    for m in [*months, ALL]:
        held_briefings = {b.id for b in briefings if m in (ALL, month(cohort[b.incident_id].occurred_at))}
        came = {who(a.person_id) for a in attendance if a.briefing_id in held_briefings}
        cells[("briefings", (m,), "briefings")] = Count(len(held_briefings), len(came))
    return Expected(cells, stats)


def _month_starts(start: datetime, end: datetime, settings: Settings) -> Iterable[datetime]:
    """Every local month the period touches (one instant in each)."""
    local = start.astimezone(settings.zone).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while local.astimezone(UTC) < end:
        yield max(local.astimezone(UTC), start)
        following = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
        local = following.replace(tzinfo=None).replace(tzinfo=settings.zone)
