"""The figures keyed by incident, counted ahead: incidents by month and kind, flags by
cause and status and referrals by stage (those linked to the incident through an
exposure), and the planning figures (planning held on time, the routes chosen, group
briefings). A year at national scale is then a few thousand rollup rows, not a join of
the year's incidents, exposures, flags and referrals.

The same shape as the check-in rollups (dashboard.rollups), sharing their marks, sweep
and state: one cell per incident x figure x the figure's own dimensions
(`IncidentCell`, what a station filter reads), summed over every station per day and
per month (`IncidentRollup`), each with a bottom-k sample of the people behind it
(dashboard.samples: exact below the sample size, proves ">= k" above it). Rebuilt from
the records, never patched by difference. Triggers (migration 0638) mark the incident
on every change that moves one of these figures: exposures, flags, referrals, planning
records and routes, briefings and their attendees, and incidents logged.

Flags and referrals with no incident (no exposure) are counted by their own date, the
person's current station: read live, a few rows with their person ids, which merge
exactly into the samples.

"People exposed" shows its people count itself, exactly, above k too, which a sample
cannot give: it comes from bitsets of the people exposed per month instead
(dashboard.exposed_people), read here with the rest.

When the rollups cannot answer a figure exactly (never built, built with other
settings, a sample smaller than k, twins that leave a count open) that figure is
counted live, as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, extract, func, insert, or_, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.dashboard import exposed_people, queries, rules, samples
from trim.dashboard.figures import ALL, Cube
from trim.dashboard.models import IncidentCell, IncidentRollup, RollupState
from trim.dashboard.queries import DashboardFilter
from trim.dashboard.queries import execute as _run
from trim.flags.models import Flag
from trim.flags.rules import CAUSES
from trim.incidents.models import Exposure, Incident
from trim.planning.models import Briefing, BriefingAttendee, PlanningRecord, PlanningRoute, Route
from trim.planning.rules import ROUTES
from trim.referrals.models import CONSENTED_STATUSES, Referral

STATE = "checkins"  # the state row the check-in rollups keep: one sweep builds both
BATCH = 500
# The version of what a cell holds; a new one rebuilds every rollup (built_with).
VERSION = 1
# As dashboard.service lists them (its figures' reading order).
FLAG_STATUSES = ("open", "referred", "declined", "closed")
REFERRAL_STAGES = ("not_consented", *CONSENTED_STATUSES)
PLANNING_TIMELINESS = ("on_time", "late", "not_held")
CellKey = tuple[uuid.UUID, str, str, str]  # incident, figure, d0, d1
People = tuple[int, set[str]]  # a count and the people (hex ids) behind it


def built_with(settings: Settings) -> str:
    """What these cells depend on besides the records (appended to the check-in
    rollups' own, rollups.built_with): built otherwise, they are rebuilt and not read."""
    return (
        f"incident_figures={VERSION};sample={settings.dashboard_sample_size};zone={settings.timezone};"
        f"planning_due={settings.planning_due_hours}"
    )


# What a read of the cells takes of each (the days of a period, or one station's).
_CELL_READ = tuple(
    col(getattr(IncidentCell, name)) for name in ("day", "kind", "figure", "d0", "d1", "count", "sample")
)


def planning_timeliness(held_at: datetime | None, occurred_at: datetime, due_hours: int) -> str:
    """Whether the incident's planning meeting was held within TRIM_PLANNING_DUE_HOURS."""
    if held_at is None:
        return "not_held"
    return "on_time" if held_at - occurred_at <= timedelta(hours=due_hours) else "late"


def referral_stage(consent: bool, status: str) -> str:
    return "not_consented" if not consent else status


# -- building -------------------------------------------------------------------------------------


async def clear(session: AsyncSession) -> None:
    """Every cell and rollup gone (the settings changed: all incidents are rebuilt)."""
    await _run(session, delete(IncidentCell))
    await _run(session, delete(IncidentRollup))
    await exposed_people.clear(session)


async def rebuild_incidents(session: AsyncSession, incident_ids: Sequence[uuid.UUID], *, settings: Settings) -> int:
    """The cells of these incidents from their records, and the rollups of every day
    and month they were or are in. Returns the cells written."""
    size, zone = settings.dashboard_sample_size, settings.zone
    days: set[date] = set()
    written = 0
    for start in range(0, len(incident_ids), BATCH):
        batch = list(incident_ids[start : start + BATCH])
        old = select(col(IncidentCell.day)).where(col(IncidentCell.incident_id).in_(batch)).distinct()
        days.update(row[0] for row in await _run(session, old))
        await _run(session, delete(IncidentCell).where(col(IncidentCell.incident_id).in_(batch)))
        cells = await _cells_of(session, batch, settings)
        where = {
            row[0]: (row[1].astimezone(zone).date(), row[2], row[3])
            for row in await _run(
                session,
                select(col(Incident.id), col(Incident.occurred_at), col(Incident.station_id), col(Incident.kind)).where(
                    col(Incident.id).in_(batch), col(Incident.source) == "logged"
                ),
            )
        }
        values = [
            {
                "id": uuid.uuid4(),
                "incident_id": incident_id,
                "day": where[incident_id][0],
                "station_id": where[incident_id][1],
                "kind": where[incident_id][2],
                "figure": figure,
                "d0": d0,
                "d1": d1,
                "count": count,
                "sample": samples.sample_of(people, size),
            }
            for (incident_id, figure, d0, d1), (count, people) in cells.items()
        ]
        if values:
            await _run(session, insert(IncidentCell), params=values)
        days.update(day for day, _, _ in where.values())
        written += len(values)
    await rebuild_days(session, sorted(days), size=size, settings=settings)
    return written


async def _cells_of(session: AsyncSession, batch: list[uuid.UUID], settings: Settings) -> dict[CellKey, People]:
    """Every figure's cells for these incidents (logged ones only, as the dashboard counts)."""
    cells: dict[CellKey, People] = {}

    def add(key: CellKey, n: int, people: Iterable[uuid.UUID]) -> None:
        count, ids = cells.get(key, (0, set()))
        ids.update(p.hex for p in people)
        cells[key] = (count + n, ids)

    logged = (col(Incident.id).in_(batch), col(Incident.source) == "logged")
    incidents = list(
        await _run(
            session,
            select(col(Incident.id), col(Incident.occurred_at), col(PlanningRecord.held_at))
            .outerjoin(PlanningRecord, col(PlanningRecord.incident_id) == col(Incident.id))
            .where(*logged),
        )
    )
    exposed: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
    for incident_id, person_id, route in await _run(
        session,
        select(col(Exposure.incident_id), col(Exposure.person_id), col(PlanningRoute.route))
        .outerjoin(PlanningRoute, col(PlanningRoute.exposure_id) == col(Exposure.id))
        .where(col(Exposure.incident_id).in_(batch), col(Exposure.removed_at).is_(None)),
    ):
        exposed.setdefault(incident_id, []).append((person_id, route or Route.risk_assessment.value))
    for incident_id, occurred_at, held_at in incidents:
        people = [person for person, _ in exposed.get(incident_id, [])]
        add((incident_id, "incidents_by_month_kind", "", ""), 1, people)
        timeliness = planning_timeliness(held_at, occurred_at, settings.planning_due_hours)
        add((incident_id, "planning", timeliness, ""), 1, people)
        if held_at is not None:
            for person, route in exposed.get(incident_id, []):
                add((incident_id, "planning_routes", route, ""), 1, [person])
    counted = {row[0] for row in incidents}

    # Flags and referrals linked through any exposure of the incident (one removed in
    # error too: the flag was still raised).
    for incident_id, cause, status, person_id in await _run(
        session,
        select(col(Exposure.incident_id), col(Flag.cause), col(Flag.status), col(Flag.person_id))
        .join(Exposure, col(Exposure.id) == col(Flag.exposure_id))
        .where(col(Exposure.incident_id).in_(counted)),
    ):
        add((incident_id, "flags", cause, status), 1, [person_id])
    for incident_id, consent, status, person_id in await _run(
        session,
        select(col(Exposure.incident_id), col(Referral.consent), col(Referral.status), col(Referral.person_id))
        .join(Flag, col(Flag.id) == col(Referral.flag_id))
        .join(Exposure, col(Exposure.id) == col(Flag.exposure_id))
        .where(col(Exposure.incident_id).in_(counted)),
    ):
        add((incident_id, "referrals", referral_stage(consent, status), ""), 1, [person_id])

    briefed: dict[uuid.UUID, tuple[set[uuid.UUID], set[uuid.UUID]]] = {}
    for incident_id, briefing_id, person_id in await _run(
        session,
        select(col(Briefing.incident_id), col(Briefing.id), col(BriefingAttendee.person_id))
        .outerjoin(BriefingAttendee, col(BriefingAttendee.briefing_id) == col(Briefing.id))
        .where(col(Briefing.incident_id).in_(counted)),
    ):
        held, came = briefed.setdefault(incident_id, (set(), set()))
        held.add(briefing_id)
        if person_id is not None:
            came.add(person_id)
    for incident_id, (held, came) in briefed.items():
        add((incident_id, "briefings", "", ""), len(held), came)
    return cells


def _summed(rows: Iterable[Any], size: int, month: date | None = None) -> dict[tuple[Any, ...], tuple[int, set[str]]]:
    """(start, kind, figure, d0, d1) -> count and merged sample; with `month`, every row
    counted under that month."""
    out: dict[tuple[Any, ...], tuple[int, set[str]]] = {}
    for start, kind, figure, d0, d1, count, sample in rows:
        key = (month or start, kind, figure, d0, d1)
        n, people = out.get(key, (0, set()))
        out[key] = (n + count, samples.merge([people, samples.ids_of(sample)], size))
    return out


def _rollup_rows(grain: str, summed: Mapping[tuple[Any, ...], tuple[int, set[str]]], size: int) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "grain": grain,
            "start": start,
            "kind": kind,
            "figure": figure,
            "d0": d0,
            "d1": d1,
            "count": count,
            "sample": samples.sample_of(people, size),
        }
        for (start, kind, figure, d0, d1), (count, people) in summed.items()
    ]


async def rebuild_days(session: AsyncSession, days: Sequence[date], *, size: int, settings: Settings) -> None:
    """Day rollups of these days from their cells, then month rollups of their months, and
    the months' exposed people."""
    for start in range(0, len(days), 100):
        chunk = list(days[start : start + 100])
        rows = await _run(
            session,
            select(
                *_CELL_READ,
            ).where(col(IncidentCell.day).in_(chunk)),
        )
        summed = _summed(rows, size)
        await _run(
            session,
            delete(IncidentRollup).where(col(IncidentRollup.grain) == "day", col(IncidentRollup.start).in_(chunk)),
        )
        if summed:
            await _run(session, insert(IncidentRollup), params=_rollup_rows("day", summed, size))
    for first in sorted({day.replace(day=1) for day in days}):
        following = (first + timedelta(days=32)).replace(day=1)
        in_month = (col(IncidentRollup.start) >= first, col(IncidentRollup.start) < following)
        rows = await _run(
            session,
            select(
                col(IncidentRollup.start),
                col(IncidentRollup.kind),
                col(IncidentRollup.figure),
                col(IncidentRollup.d0),
                col(IncidentRollup.d1),
                col(IncidentRollup.count),
                col(IncidentRollup.sample),
            ).where(col(IncidentRollup.grain) == "day", *in_month),
        )
        merged = _summed(rows, size, month=first)
        await _run(session, delete(IncidentRollup).where(col(IncidentRollup.grain) == "month", *in_month))
        if merged:
            await _run(session, insert(IncidentRollup), params=_rollup_rows("month", merged, size))
    await exposed_people.rebuild_months(session, {day.replace(day=1) for day in days}, settings=settings)


# -- reading --------------------------------------------------------------------------------------


async def incident_cubes(
    session: AsyncSession,
    *,
    filters: DashboardFilter,
    month_labels: Sequence[str],
    kinds: Sequence[str],
    twins: Mapping[uuid.UUID, uuid.UUID],
    state: RollupState | None,
    settings: Settings,
) -> dict[str, Cube]:
    """The figures the rollups answer exactly, by figure id; the others are left out (the
    dashboard counts them live)."""
    size, k, zone = settings.dashboard_sample_size, settings.small_cell_k, settings.zone
    if state is None or state.refreshed_at is None or size < k:
        return {}
    if not state.built_with.endswith(";" + built_with(settings)):
        return {}
    first, last = rules.period_days(filters.period, zone)
    whole, partial = rules.cover(first, last)
    if filters.station_id is not None:
        where = [
            col(IncidentCell.station_id) == filters.station_id,
            col(IncidentCell.day) >= first,
            col(IncidentCell.day) <= last,
        ]
        if filters.kind is not None:
            where.append(col(IncidentCell.kind) == filters.kind)
        stmt = _summed_read(IncidentCell, col(IncidentCell.day), where)
    else:
        picks = [(col(IncidentRollup.grain) == "month") & col(IncidentRollup.start).in_(whole)] if whole else []
        picks += [
            (col(IncidentRollup.grain) == "day") & (col(IncidentRollup.start) >= a) & (col(IncidentRollup.start) <= b)
            for a, b in partial
        ]
        where = [or_(*picks)]
        if filters.kind is not None:
            where.append(col(IncidentRollup.kind) == filters.kind)
        stmt = _summed_read(IncidentRollup, col(IncidentRollup.start), where)

    finest: dict[str, dict[tuple[str, ...], tuple[int, set[str]]]] = {}
    for figure, d0, d1, year, month, kind, count, joined in await queries.read(session, stmt):
        key: tuple[str, ...]
        if figure == "incidents_by_month_kind":
            key = (f"{int(year):04d}-{int(month):02d}", kind)
        elif figure == "briefings":
            key = (f"{int(year):04d}-{int(month):02d}",)
        elif figure == "flags":
            key = (d0, d1)
        else:
            key = (d0,)
        _add(finest.setdefault(figure, {}), key, int(count), samples.ids_of(joined or ""))
    for cause, status, person_id in await queries.read(session, _unlinked_flags(filters)):
        _add(finest.setdefault("flags", {}), (cause, status), 1, [person_id.hex])
    for consent, status, person_id in await queries.read(session, _unlinked_referrals(filters)):
        _add(finest.setdefault("referrals", {}), (referral_stage(consent, status),), 1, [person_id.hex])

    total: dict[str, Sequence[str] | None] = {ALL: None}
    consented = [s for s in REFERRAL_STAGES if s != "not_consented"]
    shapes: dict[str, tuple[tuple[str, ...], Sequence[Sequence[str]], Sequence[Mapping[str, Sequence[str] | None]]]] = {
        "incidents_by_month_kind": (("month", "kind"), (month_labels, kinds), (total, total)),
        "flags": (("cause", "status"), (list(CAUSES), FLAG_STATUSES), (total, total)),
        "referrals": (("stage",), (REFERRAL_STAGES,), ({"offered": None, "consented": consented},)),
        "planning": (("planning",), (PLANNING_TIMELINESS,), (total,)),
        "planning_routes": (("route",), (ROUTES,), (total,)),
        "briefings": (("month",), (month_labels,), (total,)),
    }
    twin_hex = {a.hex: b.hex for a, b in twins.items()}
    cubes: dict[str, Cube] = {}
    people = await exposed_people.people_exposed_cube(
        session, filters=filters, whole=whole, partial=partial, twins=twins, settings=settings
    )
    if people is not None:
        cubes["people_exposed"] = people
    for figure, (dims, domains, groups) in shapes.items():
        cube = samples.cube_of(dims, finest.get(figure, {}), domains, groups, size, k, twin_hex)
        if cube is not None:
            cubes[figure] = cube
    return cubes


def _summed_read(table: Any, day: Any, where: Sequence[Any]) -> Any:
    """The rows of the period summed in the database, one per cell of the figures: by
    month (and kind) for incidents by month and kind and for briefings, over the whole
    period for the others, the samples joined (merged in Python). A year is ~3,000 stored
    rows; summed, a few hundred come back (a row each costs more than its ids)."""
    figure = col(table.figure)
    monthly = figure.in_(("incidents_by_month_kind", "briefings"))
    year = case((monthly, extract("year", day)), else_=None).label("year")
    month = case((monthly, extract("month", day)), else_=None).label("month")
    kind = case((figure == "incidents_by_month_kind", col(table.kind)), else_="").label("kind")
    sample = case((col(table.sample) != "", col(table.sample)), else_=None)
    return (
        select(
            figure,
            col(table.d0),
            col(table.d1),
            year,
            month,
            kind,
            func.sum(col(table.count)),
            func.aggregate_strings(sample, samples.SEPARATOR),
        )
        .where(*where)
        .group_by(figure, col(table.d0), col(table.d1), year, month, kind)
    )


def _unlinked_flags(f: DashboardFilter) -> Any:
    """Flags with no incident: by the date raised and the person's current station."""
    return select(col(Flag.cause), col(Flag.status), col(Flag.person_id)).where(
        col(Flag.exposure_id).is_(None), *queries.unlinked(col(Flag.raised_at), col(Flag.person_id), f)
    )


def _unlinked_referrals(f: DashboardFilter) -> Any:
    """Referrals with no incident (no flag, or a flag with no exposure): by their own date."""
    # The flags with no exposure looked up as a set (an index probe), not joined: a join
    # was answered with a scan of every flag (~7 ms for a year at 1M, ~3 ms this way).
    unlinked_flags = select(col(Flag.id)).where(col(Flag.exposure_id).is_(None))
    return select(col(Referral.consent), col(Referral.status), col(Referral.person_id)).where(
        or_(col(Referral.flag_id).is_(None), col(Referral.flag_id).in_(unlinked_flags)),
        *queries.unlinked(col(Referral.created_at), col(Referral.person_id), f),
    )


def _add(cells: dict[tuple[str, ...], tuple[int, set[str]]], key: tuple[str, ...], n: int, ids: Iterable[str]) -> None:
    count, people = cells.get(key, (0, set()))
    people.update(ids)
    cells[key] = (count + n, people)
