"""The lead's dashboard: every figure counted in the database (GROUP BY, CASE, window
functions, percentile_cont), never by loading records into Python, then suppressed.

The dashboard reads other areas' tables directly: aggregates over a whole programme
cannot go through services made for one record at a time. It only reads, and only
for the lead (privacy.policy.can_view_dashboard). What each figure counts, and who
is "behind" each count for suppression, is written in figures.FIGURES; the rule is
in rules.py. Incident-related figures follow the incidents that happened in the
period (and station and kind): their check-ins, scores, flags and referrals, however
late those came. What has no incident is counted by its own date.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Subquery,
    and_,
    case,
    cast,
    false,
    literal,
    literal_column,
    or_,
    text,
    tuple_,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlalchemy.sql import Executable, Select
from sqlmodel import col, func
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole
from trim.assessments import instruments as catalogue
from trim.assessments.models import Assessment, Flag
from trim.assessments.rules import CAUSES
from trim.config import Settings
from trim.dashboard import rules
from trim.dashboard.figures import ALL, Cube, Dashboard, Figure, Ledger, Row, Stat, cube_equations, cube_keys
from trim.dashboard.figures import new_figure as figure
from trim.dashboard.figures import stat_values as stat_shown
from trim.dashboard.rules import Count
from trim.errors import FieldError, InvalidInput, NotFound
from trim.followups.models import CheckIn
from trim.followups.rules import checkin_kind, offset_of
from trim.incidents.models import EXPOSURE_LABELS, Exposure, Incident, IncidentKind
from trim.privacy import policy
from trim.referrals.models import CONSENTED_STATUSES, Referral
from trim.requests.models import PeerRequest, Urgency

CONTACT_OUTCOMES = ("completed", "declined")
FLAG_STATUSES = ("open", "referred", "declined", "closed")
REFERRAL_STAGES = ("not_consented", *CONSENTED_STATUSES)


@dataclass(frozen=True)
class DashboardFilter:
    period: rules.Period
    station_id: uuid.UUID | None = None
    kind: str | None = None


async def read_filters(
    session: AsyncSession,
    *,
    from_text: str | None,
    to_text: str | None,
    station_text: str | None,
    kind_text: str | None,
    now: datetime,
    settings: Settings,
) -> DashboardFilter:
    """The filters as asked (defaults for what is left out); a 422 naming each bad one."""
    errors: list[FieldError] = []
    try:
        period = rules.period_from(from_text, to_text, now=now, zone=settings.zone)
    except InvalidInput as exc:
        errors.extend(exc.errors)
        period = rules.default_period(now, settings.zone)
    station_id: uuid.UUID | None = None
    if station_text and station_text.strip():
        try:
            station_id = uuid.UUID(station_text.strip())
            await accounts.get_station(session, station_id)
        except (ValueError, NotFound):
            errors.append(FieldError("station_id", "Choose a station from the list."))
    kind = (kind_text or "").strip() or None
    if kind is not None and kind not in IncidentKind.__members__:
        errors.append(FieldError("kind", "Choose a kind of incident from the list."))
    if errors:
        raise InvalidInput("The dashboard filters are not valid: " + errors[0].message, errors)
    return DashboardFilter(period, station_id, kind)


# -- SQL that differs between PostgreSQL and SQLite ------------------------------------------


class Dialect:
    def __init__(self, session: AsyncSession) -> None:
        bind = session.get_bind()
        self.postgres = bind.dialect.name == "postgresql"

    async def tune(self, session: AsyncSession) -> None:
        """For this transaction only: room to sort and hash a year of check-ins in memory,
        and no JIT (compiling these short aggregates costs more than it saves)."""
        if self.postgres:
            await session.exec(text("SET LOCAL work_mem = '64MB'"))  # type: ignore[call-overload]
            await session.exec(text("SET LOCAL jit = off"))  # type: ignore[call-overload]

    def hours(self, later: Any, earlier: Any) -> ColumnElement[float]:
        """Hours from `earlier` to `later`, as a float."""
        if self.postgres:
            seconds: ColumnElement[float] = cast(func.extract("epoch", later - earlier), Float)
            return seconds / 3600.0
        return cast((func.julianday(later) - func.julianday(earlier)) * 24.0, Float)

    def before(self, when: Any, due_at: Any, window: timedelta) -> ColumnElement[bool]:
        """`when` < `due_at` + `window`."""
        if self.postgres:
            return when < due_at + window  # type: ignore[no-any-return]
        return func.julianday(when) < func.julianday(due_at) + window.total_seconds() / 86400


async def _rows(session: AsyncSession, stmt: Executable) -> list[tuple[Any, ...]]:
    """Rows of an aggregate query (a handful per figure, never the records counted)."""
    result = await session.exec(stmt)  # type: ignore[call-overload]
    return [tuple(row) for row in result]


def _sort_key(value: str) -> tuple[int, str]:
    offset = offset_of(value)
    return (offset if offset is not None else 10**9, value)


# -- counting cubes ------------------------------------------------------------------------------


async def _cube(
    session: AsyncSession,
    base: Subquery,
    dims: Sequence[str],
    domains: Sequence[Sequence[str]],
    groups: Sequence[Mapping[str, Sequence[str] | None]],
    *,
    k: int,
    values: Mapping[Any, int] | None = None,
    exact: bool = False,
) -> Cube:
    """Counts (rows, or `values` when given) and distinct people per cell of `base`
    grouped by `dims`, with totals per `groups` (None: every value of the dimension).
    People behind a total come from its cells when that settles the side of k
    (rules.margin_people), else (or with `exact`) from one more query for them all."""
    # Distinct people in two hashable steps (rows per person, then persons per cell):
    # cheaper than count(DISTINCT), which sorts, and it runs in parallel on PostgreSQL.
    columns = [base.c[name] for name in dims]
    per_person = sa_select(*columns, base.c.person_id, func.count().label("n")).group_by(*columns, base.c.person_id)
    persons = per_person.subquery("per_person")
    cell = [persons.c[name] for name in dims]
    stmt = sa_select(*cell, func.sum(persons.c.n), func.count()).group_by(*cell)
    found = {tuple(row[: len(dims)]): (int(row[-2]), int(row[-1])) for row in await _rows(session, stmt)}
    full_domains = [
        list(domain) + sorted({key[axis] for key in found} - set(domain), key=_sort_key)
        for axis, domain in enumerate(domains)
    ]
    resolved = [
        {label: list(members) if members is not None else domain for label, members in group.items()}
        for group, domain in zip(groups, full_domains, strict=True)
    ]
    finest, totals = cube_keys(full_domains, resolved)
    cells: dict[tuple[str, ...], Count] = {}
    for key in finest:
        rows, people = found.get(key, (0, 0))
        cells[key] = Count(values.get(key, 0) if values is not None else rows, people)
    unsettled: list[tuple[tuple[str, ...], list[ColumnElement[bool]]]] = []
    for key, members in totals:
        value = sum(cells[m].value for m in members)
        bound = None if exact else rules.margin_people((cells[m].people for m in members), k)
        cells[key] = Count(value, bound if bound is not None else 0)
        if bound is None:
            conditions = [
                base.c[name].in_(group[part]) if part in group else base.c[name] == part
                for name, part, group in zip(dims, key, resolved, strict=True)
                if not (part in group and len(group[part]) == len(full_domains[dims.index(name)]))
            ]
            unsettled.append((key, conditions))
    if unsettled:
        parts = [
            sa_select(literal(index).label("i"), func.count(base.c.person_id.distinct()).label("n")).where(*conditions)
            for index, (_, conditions) in enumerate(unsettled)
        ]
        counted = union_all(*parts).subquery("exact_people")
        exact_rows = await _rows(session, sa_select(counted.c.i, counted.c.n))
        for index, people in exact_rows:
            key = unsettled[int(index)][0]
            cells[key] = Count(cells[key].value, int(people))
    return Cube(tuple(dims), cells, cube_equations(full_domains, resolved))


async def _stats(session: AsyncSession, sql: Dialect, base: Subquery, group: str) -> dict[str, tuple[int, Stat]]:
    """Per value of `group` in `base` (columns group, hours, person_id) and for ALL: rows,
    distinct people, and the median and 90th percentile of hours. percentile_cont over
    GROUPING SETS on PostgreSQL; on SQLite the same linear interpolation between ranked
    rows, with window functions, over each row once per level."""
    if sql.postgres:
        g = base.c[group]
        level = case((func.grouping(g) == 1, literal(ALL)), else_=g)
        stmt = sa_select(
            level,
            func.count(),
            func.count(base.c.person_id.distinct()),
            func.percentile_cont(literal_column("0.5")).within_group(base.c.hours),
            func.percentile_cont(literal_column("0.9")).within_group(base.c.hours),
        ).group_by(func.grouping_sets(g, tuple_()))
    else:
        levels = union_all(
            sa_select(base.c[group].label("g"), base.c.hours, base.c.person_id),
            sa_select(literal(ALL).label("g"), base.c.hours, base.c.person_id),
        ).subquery("levels")
        ranked = sa_select(
            levels.c.g,
            levels.c.hours,
            levels.c.person_id,
            func.row_number().over(partition_by=levels.c.g, order_by=levels.c.hours).label("rn"),
            func.count().over(partition_by=levels.c.g).label("n"),
        ).subquery("ranked")

        def percentile(p: float) -> ColumnElement[float]:
            position = p * (ranked.c.n - 1)
            low = cast(position, Integer)
            at_low = func.max(case((ranked.c.rn == low + 1, ranked.c.hours)))
            at_high = func.max(case((ranked.c.rn == low + 2, ranked.c.hours)))
            fraction = func.max(position - low)
            return at_low + func.coalesce(fraction * (at_high - at_low), 0.0)

        stmt = sa_select(
            ranked.c.g, func.count(), func.count(ranked.c.person_id.distinct()), percentile(0.5), percentile(0.9)
        ).group_by(ranked.c.g)
    result: dict[str, tuple[int, Stat]] = {}
    for g_value, rows, distinct_people, p50, p90 in await _rows(session, stmt):
        result[str(g_value)] = (
            int(rows),
            Stat(
                float(p50) if p50 is not None else None, float(p90) if p90 is not None else None, int(distinct_people)
            ),
        )
    return result


# -- the incidents in scope --------------------------------------------------------------------


def _month_of(when: Any, months: Sequence[rules.Month]) -> ColumnElement[str]:
    """The month label of a time inside the period, by the months' UTC bounds (so it is
    the organisation's month on both databases, daylight saving included)."""
    if len(months) == 1:
        return literal(months[0].label)
    return case(*((when < m.end, m.label) for m in months[:-1]), else_=months[-1].label)


def _incidents(f: DashboardFilter, months: Sequence[rules.Month]) -> Subquery:
    stmt: Select[*tuple[Any, ...]] = sa_select(
        col(Incident.id).label("incident_id"),
        col(Incident.occurred_at).label("occurred_at"),
        col(Incident.kind).label("kind"),
        _month_of(col(Incident.occurred_at), months).label("month"),
    ).where(col(Incident.occurred_at) >= f.period.start, col(Incident.occurred_at) < f.period.end)
    if f.station_id is not None:
        stmt = stmt.where(col(Incident.station_id) == f.station_id)
    if f.kind is not None:
        stmt = stmt.where(col(Incident.kind) == f.kind)
    return stmt.subquery("cohort")


def _unlinked(when: Any, person_id: Any, f: DashboardFilter) -> list[ColumnElement[bool]]:
    """For what has no incident: its own date in the period, the person's current
    station, and nothing at all when a kind of incident is asked for."""
    conditions: list[ColumnElement[bool]] = [when >= f.period.start, when < f.period.end]
    if f.station_id is not None:
        conditions.append(person_id.in_(sa_select(col(Person.id)).where(col(Person.station_id) == f.station_id)))
    if f.kind is not None:
        conditions.append(false())
    return conditions


# -- the figures ---------------------------------------------------------------------------------


async def dashboard(
    session: AsyncSession, *, actor: Actor, filters: DashboardFilter, now: datetime, settings: Settings
) -> Dashboard:
    """Every figure for these filters, live from the database, small numbers suppressed."""
    if not policy.can_view_dashboard(actor):
        raise NotFound()
    k = settings.small_cell_k
    sql = Dialect(session)
    await sql.tune(session)
    months = rules.months(filters.period, settings.zone)
    month_labels = [m.label for m in months]
    kinds = [filters.kind] if filters.kind else [kind.value for kind in IncidentKind]
    cohort = _incidents(filters, months)
    total: dict[str, Sequence[str] | None] = {ALL: None}
    ledger = Ledger()

    # Incidents by month and kind; the people behind them are the people exposed.
    incidents = {
        (str(m), str(kd)): int(n)
        for m, kd, n in await _rows(
            session, sa_select(cohort.c.month, cohort.c.kind, func.count()).group_by(cohort.c.month, cohort.c.kind)
        )
    }
    exposed = (
        sa_select(cohort.c.month, cohort.c.kind, col(Exposure.exposure).label("exposure"), col(Exposure.person_id))
        .join(cohort, col(Exposure.incident_id) == cohort.c.incident_id)
        .where(col(Exposure.removed_at).is_(None))
        .subquery("exposed")
    )
    by_kind = await _cube(
        session, exposed, ("month", "kind"), (month_labels, kinds), (total, total), k=k, values=incidents
    )
    ledger.add_cube("incidents_by_month_kind", by_kind, lambda key: (key, "incidents"))

    # People exposed, and exposures, by kind of exposure (exact people: they are shown).
    exposure_kinds = list(EXPOSURE_LABELS)
    people_cube = await _cube(session, exposed, ("exposure",), (exposure_kinds,), (total,), k=k, exact=True)
    ledger.add_cube("people_exposed", people_cube, lambda key: (key, "exposures"))
    as_people = Cube(
        people_cube.dims,
        {key: Count(c.people, c.people) for key, c in people_cube.cells.items()},
        people_cube.equations,
    )
    ledger.add_cube("people_exposed", as_people, lambda key: (key, "people"))

    # Check-ins by interval and timeliness.
    window, grace = settings.due_window, settings.missed_grace
    outcome, due_at = col(CheckIn.outcome), col(CheckIn.due_at)
    timeliness = case(
        (and_(outcome == "completed", sql.before(col(CheckIn.recorded_at), due_at, window)), "on_time"),
        (outcome == "completed", "late"),
        (outcome.in_(("declined", "unreachable", "not_needed")), outcome),
        (and_(outcome.is_(None), due_at <= now - window - grace), "missed"),
        else_="pending",
    )
    checkins = (
        sa_select(col(CheckIn.kind).label("interval"), timeliness.label("timeliness"), col(CheckIn.person_id))
        .join(cohort, col(CheckIn.incident_id) == cohort.c.incident_id)
        .where(or_(outcome.is_(None), outcome != "cancelled"))
        .subquery("timed")
    )
    configured = [checkin_kind(d) for d in settings.scheduled_offsets_days]
    timed = await _cube(
        session, checkins, ("interval", "timeliness"), (configured, rules.TIMELINESS), (total, total), k=k
    )
    ledger.add_cube("checkin_timeliness", timed, lambda key: (key, "checkins"))
    intervals = [key[0] for key in timed.cells if key[0] != ALL and key[1] == ALL]

    # Time from incident to first contact: one pass over the period's check-ins, by
    # exposure (person, incident time and month come with them), then requests.
    removed = sa_select(col(Exposure.id)).where(col(Exposure.removed_at).is_not(None))
    checked_at = func.min(case((outcome.in_(CONTACT_OUTCOMES), col(CheckIn.recorded_at))))
    per_exposure = (
        sa_select(
            col(CheckIn.exposure_id).label("exposure_id"),
            col(CheckIn.person_id).label("person_id"),
            cohort.c.month,
            cohort.c.occurred_at,
            checked_at.label("checked_at"),
        )
        .join(cohort, col(CheckIn.incident_id) == cohort.c.incident_id)
        .where(col(CheckIn.exposure_id).not_in(removed))
        .group_by(col(CheckIn.exposure_id), col(CheckIn.person_id), cohort.c.month, cohort.c.occurred_at)
        .subquery("per_exposure")
    )
    asked_at = func.min(col(PeerRequest.accepted_at))
    with_requests = (
        sa_select(
            per_exposure.c.month,
            per_exposure.c.person_id,
            per_exposure.c.occurred_at,
            per_exposure.c.checked_at,
            asked_at.label("asked_at"),
        )
        .outerjoin(
            PeerRequest,
            and_(
                col(PeerRequest.requester_id) == per_exposure.c.person_id,
                col(PeerRequest.accepted_at) >= per_exposure.c.occurred_at,
            ),
        )
        .group_by(
            per_exposure.c.exposure_id,
            per_exposure.c.month,
            per_exposure.c.person_id,
            per_exposure.c.occurred_at,
            per_exposure.c.checked_at,
        )
        .subquery("with_requests")
    )
    checked, asked = with_requests.c.checked_at, with_requests.c.asked_at
    first_at = case((asked.is_(None), checked), (checked.is_(None), asked), (asked < checked, asked), else_=checked)
    contacted = (
        sa_select(
            with_requests.c.month.label("month"),
            with_requests.c.person_id,
            sql.hours(first_at, with_requests.c.occurred_at).label("hours"),
        )
        .where(or_(checked.is_not(None), asked.is_not(None)))
        .subquery("contacted")
    )
    contact_stats = await _stats(session, sql, contacted, "month")
    contact_cube = _stat_cube(contact_stats, month_labels)
    ledger.add_cube("first_contact", contact_cube, lambda key: (key, "contacted"))

    # Score bands: elevated or not, at each interval, by month of the incident.
    elevated = catalogue.load()["trim_risk"].flag_band
    scored = (
        sa_select(
            col(CheckIn.kind).label("interval"),
            cohort.c.month,
            case((col(Assessment.band) == elevated, "elevated"), else_="not_elevated").label("band"),
            col(CheckIn.person_id),
        )
        .join(cohort, col(CheckIn.incident_id) == cohort.c.incident_id)
        .join(Assessment, and_(col(Assessment.checkin_id) == col(CheckIn.id), col(Assessment.is_current).is_(True)))
        .where(outcome == "completed")
        .subquery("scored")
    )
    bands = await _cube(
        session,
        scored,
        ("interval", "month", "band"),
        (intervals, month_labels, ("elevated", "not_elevated")),
        ({}, total, total),
        k=k,
    )
    measure_of_band = {"elevated": "elevated", "not_elevated": "not_elevated", ALL: "completed"}
    ledger.add_cube("score_bands", bands, lambda key: ((key[0], key[1]), measure_of_band[key[2]]))
    for interval in {key[0] for key in bands.cells}:
        # Check-ins held at an interval appear in both figures: a reader can add them up.
        ledger.link(
            ("score_bands", (interval, ALL), "completed"),
            [
                ("checkin_timeliness", (interval, "on_time"), "checkins"),
                ("checkin_timeliness", (interval, "late"), "checkins"),
            ],
        )

    # Flags by cause and status.
    flag_columns: tuple[ColumnElement[Any], ...] = (
        col(Flag.cause).label("cause"),
        col(Flag.status).label("status"),
        col(Flag.person_id).label("person_id"),
    )
    flags = union_all(
        sa_select(*flag_columns)
        .join(Exposure, col(Exposure.id) == col(Flag.exposure_id))
        .join(cohort, col(Exposure.incident_id) == cohort.c.incident_id),
        sa_select(*flag_columns).where(
            col(Flag.exposure_id).is_(None), *_unlinked(col(Flag.raised_at), col(Flag.person_id), filters)
        ),
    ).subquery("flagged")
    flag_cube = await _cube(session, flags, ("cause", "status"), (list(CAUSES), FLAG_STATUSES), (total, total), k=k)
    ledger.add_cube("flags", flag_cube, lambda key: (key, "flags"))

    # Referrals: offered, consented (and what became of them).
    stage = case((col(Referral.consent).is_(False), "not_consented"), else_=col(Referral.status)).label("stage")
    referrals = union_all(
        sa_select(stage, col(Referral.person_id))
        .join(Flag, col(Flag.id) == col(Referral.flag_id))
        .join(Exposure, col(Exposure.id) == col(Flag.exposure_id))
        .join(cohort, col(Exposure.incident_id) == cohort.c.incident_id),
        sa_select(stage, col(Referral.person_id))
        .outerjoin(Flag, col(Flag.id) == col(Referral.flag_id))
        .where(
            or_(col(Referral.flag_id).is_(None), col(Flag.exposure_id).is_(None)),
            *_unlinked(col(Referral.created_at), col(Referral.person_id), filters),
        ),
    ).subquery("referred")
    referral_cube = await _cube(
        session,
        referrals,
        ("stage",),
        (REFERRAL_STAGES,),
        ({"offered": None, "consented": [s for s in REFERRAL_STAGES if s != "not_consented"]},),
        k=k,
    )
    referral_cube = _regroup_consented(referral_cube)
    ledger.add_cube("referrals", referral_cube, lambda key: (key, "referrals"))

    # Requests for a peer, by urgency; accepted or not; time to acceptance.
    in_period = [
        col(PeerRequest.created_at) >= filters.period.start,
        col(PeerRequest.created_at) < filters.period.end,
    ]
    if filters.station_id is not None:
        in_period.append(col(PeerRequest.requester_station_id) == filters.station_id)
    requests = (
        sa_select(
            col(PeerRequest.urgency).label("urgency"),
            case((col(PeerRequest.accepted_at).is_not(None), "accepted"), else_="not_accepted").label("accepted"),
            col(PeerRequest.requester_id).label("person_id"),
            sql.hours(col(PeerRequest.accepted_at), col(PeerRequest.created_at)).label("hours"),
        )
        .where(*in_period)
        .subquery("asked")
    )
    urgencies = [u.value for u in Urgency]
    request_cube = await _cube(
        session, requests, ("urgency", "accepted"), (urgencies, ("accepted", "not_accepted")), (total, total), k=k
    )
    measure_of_acceptance = {"accepted": "accepted", "not_accepted": "not_accepted", ALL: "requests"}
    ledger.add_cube("requests", request_cube, lambda key: ((key[0],), measure_of_acceptance[key[1]]))
    accepted = sa_select(requests).where(requests.c.accepted == "accepted").subquery("accepted_requests")
    acceptance = await _stats(session, sql, accepted, "urgency")

    # Peer caseloads: how many people each active peer has an open check-in with.
    open_checkins = (
        sa_select(col(CheckIn.peer_id), col(CheckIn.person_id))
        .join(cohort, col(CheckIn.incident_id) == cohort.c.incident_id)
        .where(outcome.is_(None), col(CheckIn.peer_id).is_not(None))
        .subquery("open_checkins")
    )
    loads = (
        sa_select(col(Person.id), func.count(open_checkins.c.person_id.distinct()).label("people"))
        .join(PersonRole, and_(col(PersonRole.person_id) == col(Person.id), col(PersonRole.role) == "peer"))
        .outerjoin(open_checkins, open_checkins.c.peer_id == col(Person.id))
        .where(col(Person.active).is_(True))
        .group_by(col(Person.id))
        .subquery("loads")
    )
    band_of = case(
        *((loads.c.people <= high, label) for low, high, label in rules.CASELOAD_BANDS if high is not None),
        else_=rules.CASELOAD_BANDS[-1][2],
    )
    peers = {str(band): int(n) for band, n in await _rows(session, sa_select(band_of, func.count()).group_by(band_of))}
    caseload_labels = [label for _, _, label in rules.CASELOAD_BANDS]
    caseload_cells: dict[tuple[str, ...], Count] = {
        (label,): Count(peers.get(label, 0), peers.get(label, 0)) for label in caseload_labels
    }
    caseload_cells[(ALL,)] = Count(sum(peers.values()), sum(peers.values()))
    ledger.add_cube(
        "peer_caseloads",
        Cube(("caseload",), caseload_cells, cube_equations([caseload_labels], [{ALL: caseload_labels}])),
        lambda key: (key, "peers"),
    )

    ledger.settle(k)
    figures = _figures(
        ledger,
        k=k,
        months=month_labels,
        kinds=kinds,
        intervals=intervals,
        contact_stats=contact_stats,
        acceptance=acceptance,
        cubes={
            "incidents_by_month_kind": by_kind,
            "people_exposed": people_cube,
            "checkin_timeliness": timed,
            "flags": flag_cube,
            "referrals": referral_cube,
            "requests": request_cube,
            "peer_caseloads": Cube(("caseload",), caseload_cells, []),
        },
    )
    return Dashboard(
        period=filters.period,
        station_id=str(filters.station_id) if filters.station_id else None,
        kind=filters.kind,
        k=k,
        timezone=settings.timezone,
        generated_at=now,
        months=months,
        intervals=intervals,
        figures=figures,
        ledger=ledger,
        stats={
            **{("first_contact", g): stat for g, (_, stat) in contact_stats.items()},
            **{("requests", g): stat for g, (_, stat) in acceptance.items()},
        },
    )


def _stat_cube(stats: Mapping[str, tuple[int, Stat]], months: Sequence[str]) -> Cube:
    """Counts behind a by-month statistic (rows and exact people, from `_stats`)."""
    cells: dict[tuple[str, ...], Count] = {
        (m,): Count(stats[m][0], stats[m][1].people) if m in stats else Count(0, 0) for m in months
    }
    cells[(ALL,)] = Count(stats[ALL][0], stats[ALL][1].people) if ALL in stats else Count(0, 0)
    return Cube(("month",), cells, cube_equations([list(months)], [{ALL: list(months)}]))


def _regroup_consented(cube: Cube) -> Cube:
    """Referral stages in reading order: offered, not consented, consented, then the rest."""
    first: list[tuple[str, ...]] = [("offered",), ("not_consented",), ("consented",)]
    cells: dict[tuple[str, ...], Count] = {key: cube.cells[key] for key in first}
    cells.update({key: value for key, value in cube.cells.items() if key not in cells})
    return Cube(cube.dims, cells, cube.equations)


def _figures(
    ledger: Ledger,
    *,
    k: int,
    months: list[str],
    kinds: list[str],
    intervals: list[str],
    contact_stats: Mapping[str, tuple[int, Stat]],
    acceptance: Mapping[str, tuple[int, Stat]],
    cubes: Mapping[str, Cube],
) -> dict[str, Figure]:
    """Rows of every figure, in reading order, with the values the ledger lets us show."""
    figures: dict[str, Figure] = {}

    def simple(figure_id: str, dimensions: tuple[str, ...], measures: tuple[str, ...]) -> Figure:
        fig = figure(figure_id, dimensions, measures)
        for key in cubes[figure_id].cells:
            values = {m: ledger.get(figure_id, key, m) for m in measures}
            fig.rows.append(Row(dict(zip(dimensions, key, strict=True)), dict(values)))
        return fig

    figures["incidents_by_month_kind"] = fig = figure("incidents_by_month_kind", ("month", "kind"), ("incidents",))
    for month in [*months, ALL]:
        for kind in [*kinds, ALL]:
            key = (month, kind)
            if ("incidents_by_month_kind", key, "incidents") in ledger.shown:
                fig.rows.append(
                    Row({"month": month, "kind": kind}, {"incidents": ledger.get(fig.id, key, "incidents")})
                )
    figures["people_exposed"] = simple("people_exposed", ("exposure",), ("people", "exposures"))
    figures["checkin_timeliness"] = simple("checkin_timeliness", ("interval", "timeliness"), ("checkins",))

    figures["first_contact"] = fig = figure("first_contact", ("month",), ("contacted", "median_hours", "p90_hours"))
    for month in [*months, ALL]:
        median, p90 = stat_shown(contact_stats[month][1] if month in contact_stats else None, k)
        fig.rows.append(
            Row(
                {"month": month},
                {"contacted": ledger.get(fig.id, (month,), "contacted"), "median_hours": median, "p90_hours": p90},
            )
        )

    figures["score_bands"] = fig = figure(
        "score_bands", ("interval", "month"), ("completed", "elevated", "not_elevated", "elevated_share")
    )
    for interval in intervals:
        for month in [*months, ALL]:
            key = (interval, month)
            done, high, low = (ledger.get(fig.id, key, m) for m in ("completed", "elevated", "not_elevated"))
            share: int | float | str | None = rules.hidden_like(high, done)
            if share is None:
                assert isinstance(high, int) and isinstance(done, int)
                share = rules.share_percent(high, done)
            fig.rows.append(
                Row(
                    {"interval": interval, "month": month},
                    {"completed": done, "elevated": high, "not_elevated": low, "elevated_share": share},
                )
            )

    figures["flags"] = simple("flags", ("cause", "status"), ("flags",))
    figures["referrals"] = simple("referrals", ("stage",), ("referrals",))

    figures["requests"] = fig = figure(
        "requests",
        ("urgency",),
        ("requests", "accepted", "not_accepted", "median_hours_to_acceptance", "p90_hours_to_acceptance"),
    )
    for request_key in cubes["requests"].cells:
        if request_key[1] != ALL:
            continue
        urgency = request_key[0]
        median, p90 = stat_shown(acceptance[urgency][1] if urgency in acceptance else None, k)
        values = {m: ledger.get(fig.id, (urgency,), m) for m in ("requests", "accepted", "not_accepted")}
        fig.rows.append(
            Row(
                {"urgency": urgency},
                {**values, "median_hours_to_acceptance": median, "p90_hours_to_acceptance": p90},
            )
        )
    figures["peer_caseloads"] = simple("peer_caseloads", ("caseload",), ("peers",))
    return figures
