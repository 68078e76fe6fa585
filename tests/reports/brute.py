"""The report's figures recomputed the slow, obvious way: every row of every table loaded
into Python and counted with loops, from the definitions on the page (not from the
service's queries or rules.build_report)."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from tests.dashboard.brute import percentile
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.dashboard.rules import Count, Period
from trim.db import AsyncSession
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure, Incident
from trim.planning.models import PlanningRecord
from trim.referrals.models import Referral
from trim.reports.models import FeedbackAnswer
from trim.requests.models import PeerRequest

T = "total"


@dataclass
class Truth:
    cells: dict[str, dict[tuple[str, str], Count]]  # table id -> (row, column) -> count
    timings: dict[str, dict[str, tuple[float, float] | None]]  # timing id -> row -> (median, p90) or hidden


def _table(items: Iterable[tuple[str, str, Any]], rows: list[str], columns: list[str]) -> dict[tuple[str, str], Count]:
    """Every cell and total, from scratch for each one."""
    items = list(items)
    found = {}
    for r in [*rows, T]:
        for c in [*columns, T]:
            chosen = [i for i in items if r in (T, i[0]) and c in (T, i[1])]
            people: set[Any] = set()
            for _, _, who in chosen:
                people |= who if isinstance(who, set) else {who}
            found[(r, c)] = Count(len(chosen), len(people))
    return found


def _timing(values: list[tuple[uuid.UUID, float]], k: int) -> tuple[float, float] | None:
    if len({p for p, _ in values}) < k:
        return None
    hours = [h for _, h in values]
    p90 = percentile(hours, 0.9)
    assert p90 is not None
    return (round(statistics.median(hours), 1), round(p90, 1))


def _category(c: CheckIn, now: datetime, settings: Settings) -> str | None:
    if c.outcome == "cancelled":
        return None
    if c.outcome == "completed" and c.self_completed:
        return "answered_themselves"  # the person answered themselves: no conversation
    if c.outcome == "completed":
        assert c.recorded_at is not None
        return "on_time" if c.recorded_at < c.due_at + timedelta(days=settings.due_window_days) else "late"
    if c.outcome == "declined":
        return "declined"
    if c.outcome is None and now >= c.due_at + timedelta(days=settings.due_window_days + settings.missed_grace_days):
        return "missed"
    return "other"


async def expected(session: AsyncSession, *, period: Period, now: datetime, settings: Settings) -> Truth:
    zone, k = settings.zone, settings.report_small_cell_k
    incidents = [i for i in await session.exec(select(Incident)) if period.start <= i.occurred_at < period.end]
    cohort = {i.id: i for i in incidents}
    exposures = [e for e in await session.exec(select(Exposure)) if e.incident_id in cohort and e.removed_at is None]
    checkins = list(await session.exec(select(CheckIn)))
    bands = {a.checkin_id: a.band for a in await session.exec(select(Assessment)) if a.is_current}
    flags = list(await session.exec(select(Flag)))
    referrals = list(await session.exec(select(Referral)))
    plans = {p.incident_id: p.held_at for p in await session.exec(select(PlanningRecord))}
    requests = list(await session.exec(select(PeerRequest)))
    answers = list(await session.exec(select(FeedbackAnswer)))

    def month(when: datetime) -> str:
        return when.astimezone(zone).strftime("%Y-%m")

    months = sorted({month(period.start + timedelta(days=d)) for d in range((period.end - period.start).days)})
    exposed = {i: {e.person_id for e in exposures if e.incident_id == i} for i in cohort}
    cells: dict[str, dict[tuple[str, str], Count]] = {}

    # Kinds: a kind fewer than k people were exposed to is "other".
    kind_people: dict[str, set[uuid.UUID]] = {}
    for i in incidents:
        kind_people.setdefault(i.kind, set()).update(exposed[i.id])
    row_of = {kd: kd if len(p) >= k and kd != "other" else "other" for kd, p in kind_people.items()}
    kind_rows = sorted(set(row_of.values()))
    cells["incidents"] = _table(
        [(row_of[i.kind], "incidents", exposed[i.id]) for i in incidents], kind_rows, ["incidents"]
    )

    own = {e.id: [c for c in checkins if c.exposure_id == e.id and c.kind != "periodic"] for e in exposures}
    offers = []
    for e in exposures:
        live = [c for c in own[e.id] if c.outcome != "cancelled"]
        if live:
            outcomes = [c.outcome for c in live]
            state = "took_up" if "completed" in outcomes else "declined" if "declined" in outcomes else "no_contact"
            offers.append((month(cohort[e.incident_id].occurred_at), state, e.person_id))
    cells["offers"] = _table(offers, months, ["took_up", "declined", "no_contact"])

    timeliness = ["on_time", "late", "answered_themselves", "missed", "declined", "other"]
    items = []
    for e in exposures:
        for c in own[e.id]:
            category = _category(c, now, settings)
            if category:
                items.append((month(cohort[e.incident_id].occurred_at), category, c.person_id))
    cells["checkins"] = _table(items, months, timeliness)

    exposure_ids = {e.id: e for e in exposures}
    items = []
    for f in flags:
        if f.exposure_id not in exposure_ids:
            continue
        statuses = {r.status for r in referrals if r.flag_id == f.id and r.consent}
        stage = (
            "taken_up"
            if "taken_up" in statuses
            else "waiting"
            if statuses & {"referred", "contact_made"}
            else "not_taken_up"
            if statuses
            else "not_referred"
        )
        items.append((month(cohort[exposure_ids[f.exposure_id].incident_id].occurred_at), stage, f.person_id))
    cells["referrals"] = _table(items, months, ["not_referred", "waiting", "taken_up", "not_taken_up"])

    items = []
    for e in exposures:
        held = {c.kind: bands.get(c.id) for c in own[e.id] if c.outcome == "completed"}
        if held.get("day3") in ("low", "elevated") and held.get("day28") in ("low", "elevated"):
            items.append((held["day3"], held["day28"], e.person_id))
    cells["band_change"] = _table(items, ["low", "elevated"], ["low", "elevated"])

    items = []
    for i in incidents:
        held_at = plans.get(i.id)
        state = (
            "not_held"
            if held_at is None
            else "on_time"
            if held_at - i.occurred_at <= timedelta(hours=settings.planning_due_hours)
            else "late"
        )
        items.append((month(i.occurred_at), state, exposed[i.id]))
    cells["planning"] = _table(items, months, ["on_time", "late", "not_held"])

    items = []
    for c in checkins:
        if c.kind == "periodic" and period.start <= c.due_at < period.end:
            category = _category(c, now, settings)
            if category:
                items.append((month(c.due_at), category, c.person_id))
    cells["periodic"] = _table(items, months, timeliness)

    asked = [r for r in requests if period.start <= r.created_at < period.end]
    items = [(month(r.created_at), "accepted" if r.accepted_at else "not_accepted", r.requester_id) for r in asked]
    cells["requests"] = _table(items, months, ["accepted", "not_accepted"])

    first_day, last_day = (
        period.start.astimezone(zone).date(),
        (period.end - timedelta(seconds=1)).astimezone(zone).date(),
    )
    given = [a for a in answers if first_day <= a.answered_on <= last_day]
    for question in ("helpful", "ask_again", "ease"):
        items = [(a.context, str(getattr(a, question)), object()) for a in given]
        cells[f"feedback_{question}"] = _table(items, ["request", "checkins"], ["1", "2", "3", "4", "5"])

    contact: dict[str, list[tuple[uuid.UUID, float]]] = {m: [] for m in [*months, T]}
    for e in exposures:
        times = [c.recorded_at for c in own[e.id] if c.outcome in ("completed", "declined") and c.recorded_at]
        if times:
            incident = cohort[e.incident_id]
            hours = (min(times) - incident.occurred_at).total_seconds() / 3600
            contact[month(incident.occurred_at)].append((e.person_id, hours))
            contact[T].append((e.person_id, hours))
    taken: dict[str, list[tuple[uuid.UUID, float]]] = {m: [] for m in [*months, T]}
    for r in asked:
        if r.first_contact_at:
            hours = (r.first_contact_at - r.created_at).total_seconds() / 3600
            taken[month(r.created_at)].append((r.requester_id, hours))
            taken[T].append((r.requester_id, hours))
    timings = {
        "first_contact": {m: _timing(v, k) for m, v in contact.items()},
        "request_contact": {m: _timing(v, k) for m, v in taken.items()},
    }
    return Truth(cells, timings)
