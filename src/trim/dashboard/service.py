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

import asyncio
import uuid
from collections.abc import AsyncIterator, Collection, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, FromClause, and_, case, or_, true, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole, Role
from trim.assessments import instruments as catalogue
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.dashboard import caseloads, contacts, incident_rollups, queries, rollups, rules
from trim.dashboard.figures import ALL, Cube, Dashboard, Ledger, Stat, cube_equations, cube_keys, figure_rows
from trim.dashboard.queries import DashboardFilter, Dialect
from trim.dashboard.rules import Count
from trim.errors import FieldError, InvalidInput, NotFound
from trim.flags.models import Flag
from trim.flags.rules import CAUSES
from trim.followups.models import CheckIn, Outcome
from trim.followups.rules import PERIODIC_KIND, checkin_kind
from trim.incidents.models import EXPOSURE_LABELS, Exposure, IncidentKind
from trim.planning.models import Briefing, BriefingAttendee, PlanningRecord, PlanningRoute, Route
from trim.planning.rules import ROUTES
from trim.privacy import policy
from trim.records import retention
from trim.referrals.models import CONSENTED_STATUSES, Referral
from trim.requests.models import PeerRequest, Urgency

__all__ = ["DashboardFilter", "dashboard", "read_filters"]

A = TypeVar("A")
B = TypeVar("B")

CONTACT_OUTCOMES = ("completed", "declined")
FLAG_STATUSES = ("open", "referred", "declined", "closed")
REFERRAL_STAGES = ("not_consented", *CONSENTED_STATUSES)
PLANNING_TIMELINESS = ("on_time", "late", "not_held")


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
    cohort = queries.incidents(filters, months)

    pairs = await retention.live_twins(session, settings)
    twins = queries.Twins(pairs, sql)
    configured = [checkin_kind(d) for d in settings.scheduled_offsets_days]
    state = await rollups.read_state(session)
    built_with = rollups.built_with(settings)

    async def checkins_and_contacts() -> tuple[tuple[Cube, Cube] | None, tuple[Cube, dict[str, Stat]] | None]:
        # Timeliness and score bands from the rollups when they can answer exactly; else live.
        rolled = await rollups.checkin_cubes(
            session,
            period=filters.period,
            station_id=filters.station_id,
            kind=filters.kind,
            month_labels=month_labels,
            configured=configured,
            twins=pairs,
            state=state,
            now=now,
            settings=settings,
        )
        # Time to first contact from its rollups when they can answer exactly; else live.
        contacted = await contacts.first_contact(
            session,
            period=filters.period,
            station_id=filters.station_id,
            kind=filters.kind,
            month_labels=month_labels,
            twins=pairs,
            state=state,
            built_with=built_with,
            settings=settings,
        )
        return rolled, contacted

    async def incidents_and_caseloads(side: AsyncSession) -> tuple[dict[str, Cube], Cube | None]:
        # The figures keyed by incident from their rollups when they can answer exactly; else live.
        incident_rolled = await incident_rollups.incident_cubes(
            side, filters=filters, month_labels=month_labels, kinds=kinds, twins=pairs, state=state, settings=settings
        )
        # Peer caseloads from theirs, likewise.
        caseload_cube = await caseloads.caseload_cube(
            side, filters=filters, twins=pairs, state=state, built_with=built_with, settings=settings
        )
        return incident_rolled, caseload_cube

    async with _beside(session, sql) as side:
        (rolled, contacted), (incident_rolled, caseload_cube) = await _both(
            checkins_and_contacts(), incidents_and_caseloads(side), apart=side is not session
        )
        # Only what the rollups left unanswered is built as SQL (building it is most of the
        # app's time for a request otherwise, even when it is then not run).
        first_plans, first_members = _from_exposures(
            cohort, filters, month_labels, kinds, sql, twins, answered=incident_rolled.keys()
        )
        planning_plans, planning_members = _from_planning(
            cohort, month_labels, sql, twins, answered=incident_rolled.keys(), settings=settings
        )
        first_plans += planning_plans
        second_plans, second_members = _from_checkins(
            cohort,
            filters,
            months,
            sql,
            twins,
            now=now,
            settings=settings,
            counted=rolled is None,
            contact=contacted is None,
            caseload=caseload_cube is None,
        )
        found, found_second = await _both(
            queries.run(
                session, [*(m for plan in first_plans for m in plan.members()), *first_members, *planning_members]
            ),
            queries.run(side, [*(m for plan in second_plans for m in plan.members()), *second_members]),
            apart=side is not session,
        )
    found.update(found_second)
    # Incidents are counted from the incidents themselves; their people from the exposures.
    for by_kind in (plan for plan in first_plans if plan.tag == "incidents_by_month_kind"):
        by_kind.values = {dims: rows for dims, rows, _, _, _ in found["incidents"]}
    # So are incidents by planning, and briefings; their people are those exposed, and those who came.
    for plan in planning_plans:
        if plan.tag in ("planning", "briefings"):
            plan.values = {dims: rows for dims, rows, _, _, _ in found[f"{plan.tag}_counted"]}
    found.setdefault("first_contact", [])
    found.setdefault("peer_caseloads", [])
    # Totals whose people their cells did not settle: counted exactly, in one statement.
    plans = first_plans + second_plans
    for plan in plans:
        plan.settle(found, k)
    found.update(await queries.run(session, [extra for plan in plans for _, extra in plan.unsettled]))
    cubes = {plan.tag: plan.fill(found) for plan in plans}
    cubes.update(incident_rolled)
    if rolled is not None:
        cubes["checkin_timeliness"], cubes["score_bands"] = rolled
    refreshed_at, waiting = await rollups.freshness(session, state) if rolled is not None else (None, False)
    intervals = [key[0] for key in cubes["checkin_timeliness"].cells if key[0] != ALL and key[1] == ALL]
    contact_stats, acceptance_stats = _other_cubes(cubes, found, intervals, month_labels)
    if contacted is not None:
        cubes["first_contact"], contact_stats = contacted
    if caseload_cube is not None:
        cubes["peer_caseloads"] = caseload_cube
    ledger = _ledger(cubes, intervals)
    ledger.settle(k)
    figures = figure_rows(
        ledger,
        k=k,
        months=month_labels,
        kinds=kinds,
        intervals=intervals,
        contact_stats=contact_stats,
        acceptance=acceptance_stats,
        cubes=cubes,
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
            **{("first_contact", g): stat for g, stat in contact_stats.items()},
            **{("requests", g): stat for g, stat in acceptance_stats.items()},
        },
        figures_as_of=refreshed_at,
        changes_waiting=waiting,
        from_rollups=frozenset(
            [
                *(["checkin_timeliness", "score_bands"] if rolled is not None else []),
                *(["first_contact"] if contacted else []),
                *(["peer_caseloads"] if caseload_cube is not None else []),
                *incident_rolled,
            ]
        ),
    )


@asynccontextmanager
async def _beside(session: AsyncSession, sql: Dialect) -> AsyncIterator[AsyncSession]:
    """A second session on the same database, for reads that run while the first's do. The
    dashboard's statements each see their own snapshot anyway (READ COMMITTED), so a second
    connection changes nothing a figure can see; it lets the database answer one while
    Python works through the other's rows (with two cores, a request takes about the
    larger of the two times instead of their sum). On SQLite, or for a session bound to
    one connection (not an engine), the same session."""
    bind = session.bind
    if not sql.postgres or not isinstance(bind, AsyncEngine):
        yield session
        return
    async with AsyncSession(bind, expire_on_commit=False) as side:
        await sql.tune(side)
        yield side


async def _both(first: Coroutine[Any, Any, A], second: Coroutine[Any, Any, B], *, apart: bool) -> tuple[A, B]:
    """Both results: at the same time when they run on two sessions, one after the other on
    one (a session runs one statement at a time). A failure in either cancels the other."""
    if not apart:
        try:
            done = await first
        except BaseException:
            second.close()  # never started
            raise
        return done, await second
    try:
        async with asyncio.TaskGroup() as group:
            one, two = group.create_task(first), group.create_task(second)
    except BaseExceptionGroup as failed:
        # The failure itself, as one session would have raised it (a replica that went
        # away is recognised by its exception, and the read is done again on the primary).
        raise failed.exceptions[0] from None
    return one.result(), two.result()


def _from_exposures(
    cohort: FromClause,
    filters: DashboardFilter,
    month_labels: list[str],
    kinds: list[str],
    sql: Dialect,
    twins: queries.Twins,
    *,
    answered: Collection[str] = (),
) -> tuple[list[queries.CubePlan], list[queries.Member]]:
    """The first statement: the period's exposures read once (incidents by month and
    kind, whose people are the people exposed; people exposed; flags and referrals
    through them), and requests for a peer, which have no incident. People are counted
    through `twins`, so a person with a purged case and a live one counts once. The
    figures in `answered` (by the rollups) are left out."""
    plans: list[queries.CubePlan] = []
    members: list[queries.Member] = []
    if not {"incidents_by_month_kind", "people_exposed", "flags", "referrals"} <= set(answered):
        plans, members = _exposure_plans(cohort, filters, month_labels, kinds, twins, answered=answered)
    plans.append(_request_plan(filters, sql, twins))
    accepted = sa_select(plans[-1].base).where(plans[-1].base.c.accepted == "accepted").subquery("accepted_requests")
    members.append(queries.stats("acceptance", accepted, "urgency", sql))
    return plans, members


def _exposure_plans(
    cohort: FromClause,
    filters: DashboardFilter,
    month_labels: list[str],
    kinds: list[str],
    twins: queries.Twins,
    *,
    answered: Collection[str],
) -> tuple[list[queries.CubePlan], list[queries.Member]]:
    """The figures drawn from the period's exposures that the rollups did not answer."""
    total: dict[str, Sequence[str] | None] = {ALL: None}
    plans: list[queries.CubePlan] = []
    members: list[queries.Member] = []
    exposed = queries.materialized(
        twins.join(
            sa_select(
                col(Exposure.id).label("exposure_id"),
                twins.person(col(Exposure.person_id)),
                col(Exposure.exposure).label("exposure"),
                (col(Exposure.removed_at).is_(None)).label("live"),
                cohort.c.month,
                cohort.c.kind,
            ).join(cohort, col(Exposure.incident_id) == cohort.c.incident_id),
            col(Exposure.person_id),
        ),
        "exposed",
    )
    live = (exposed.c.live.is_(True),)
    if "incidents_by_month_kind" not in answered:
        members.append(
            queries.Member(
                "incidents",
                queries.member(
                    "incidents", [cohort.c.month, cohort.c.kind], func.count(), func.count(), from_=cohort
                ).group_by(cohort.c.month, cohort.c.kind),
            )
        )
        plans.append(
            queries.CubePlan(
                "incidents_by_month_kind", exposed, ("month", "kind"), (month_labels, kinds), (total, total), where=live
            )
        )
    if "people_exposed" not in answered:
        plans.append(
            queries.CubePlan(
                "people_exposed", exposed, ("exposure",), (list(EXPOSURE_LABELS),), (total,), where=live, exact=True
            )
        )
    if "flags" not in answered:
        flag_columns: tuple[ColumnElement[Any], ...] = (
            col(Flag.cause).label("cause"),
            col(Flag.status).label("status"),
            twins.person(col(Flag.person_id)),
        )
        flagged = union_all(
            twins.join(
                sa_select(*flag_columns).join(exposed, exposed.c.exposure_id == col(Flag.exposure_id)),
                col(Flag.person_id),
            ),
            twins.join(
                sa_select(*flag_columns).where(
                    col(Flag.exposure_id).is_(None),
                    *queries.unlinked(col(Flag.raised_at), col(Flag.person_id), filters),
                ),
                col(Flag.person_id),
            ),
        ).subquery("flagged")
        plans.append(
            queries.CubePlan("flags", flagged, ("cause", "status"), (list(CAUSES), FLAG_STATUSES), (total, total))
        )
    if "referrals" not in answered:
        stage = case((col(Referral.consent).is_(False), "not_consented"), else_=col(Referral.status)).label("stage")
        referred = union_all(
            twins.join(
                sa_select(stage, twins.person(col(Referral.person_id)))
                .join(Flag, col(Flag.id) == col(Referral.flag_id))
                .join(exposed, exposed.c.exposure_id == col(Flag.exposure_id)),
                col(Referral.person_id),
            ),
            twins.join(
                sa_select(stage, twins.person(col(Referral.person_id)))
                .outerjoin(Flag, col(Flag.id) == col(Referral.flag_id))
                .where(
                    or_(col(Referral.flag_id).is_(None), col(Flag.exposure_id).is_(None)),
                    *queries.unlinked(col(Referral.created_at), col(Referral.person_id), filters),
                ),
                col(Referral.person_id),
            ),
        ).subquery("referred")
        consented = [s for s in REFERRAL_STAGES if s != "not_consented"]
        plans.append(
            queries.CubePlan(
                "referrals", referred, ("stage",), (REFERRAL_STAGES,), ({"offered": None, "consented": consented},)
            )
        )
    return plans, members


def _request_plan(filters: DashboardFilter, sql: Dialect, twins: queries.Twins) -> queries.CubePlan:
    """Requests for a peer have no incident: by the date asked and the requester's station then."""
    total: dict[str, Sequence[str] | None] = {ALL: None}
    in_period = [col(PeerRequest.created_at) >= filters.period.start, col(PeerRequest.created_at) < filters.period.end]
    if filters.station_id is not None:
        in_period.append(col(PeerRequest.requester_station_id) == filters.station_id)
    asked = (
        twins.join(
            sa_select(
                col(PeerRequest.urgency).label("urgency"),
                case((col(PeerRequest.accepted_at).is_not(None), "accepted"), else_="not_accepted").label("accepted"),
                twins.person(col(PeerRequest.requester_id)),
                sql.hours(col(PeerRequest.accepted_at), col(PeerRequest.created_at)).label("hours"),
            ),
            col(PeerRequest.requester_id),
        )
        .where(*in_period)
        .subquery("asked")
    )
    return queries.CubePlan(
        "requests",
        asked,
        ("urgency", "accepted"),
        ([u.value for u in Urgency], ("accepted", "not_accepted")),
        (total, total),
    )


def _from_planning(
    cohort: FromClause,
    month_labels: list[str],
    sql: Dialect,
    twins: queries.Twins,
    *,
    answered: Collection[str] = (),
    settings: Settings,
) -> tuple[list[queries.CubePlan], list[queries.Member]]:
    """The planning meeting and briefings of the period's incidents (design section 12):
    incidents by whether planning was held on time (TRIM_PLANNING_DUE_HOURS), the routes
    chosen for the people on incidents with a planning meeting, and group briefings held.
    The figures in `answered` (by the rollups) are left out."""
    total: dict[str, Sequence[str] | None] = {ALL: None}
    plans: list[queries.CubePlan] = []
    members: list[queries.Member] = []
    live = col(Exposure.removed_at).is_(None)
    if "planning" not in answered:
        held_at = col(PlanningRecord.held_at)
        timeliness = case(
            (held_at.is_(None), "not_held"),
            (sql.hours(held_at, cohort.c.occurred_at) <= float(settings.planning_due_hours), "on_time"),
            else_="late",
        ).label("planning")
        with_record = cohort.outerjoin(PlanningRecord, col(PlanningRecord.incident_id) == cohort.c.incident_id)
        by_incident = (
            sa_select(cohort.c.incident_id, timeliness).select_from(with_record).subquery("planning_by_incident")
        )
        members.append(
            queries.Member(
                "planning_counted",
                queries.member(
                    "planning_counted", [by_incident.c.planning], func.count(), func.count(), from_=by_incident
                ).group_by(by_incident.c.planning),
            )
        )
        planned = twins.join(
            sa_select(twins.person(col(Exposure.person_id)), by_incident.c.planning)
            .join(by_incident, by_incident.c.incident_id == col(Exposure.incident_id))
            .where(live),
            col(Exposure.person_id),
        ).subquery("planned")
        plans.append(queries.CubePlan("planning", planned, ("planning",), (PLANNING_TIMELINESS,), (total,)))
    if "planning_routes" not in answered:
        routed = twins.join(
            sa_select(
                twins.person(col(Exposure.person_id)),
                func.coalesce(col(PlanningRoute.route), Route.risk_assessment.value).label("route"),
            )
            .join(cohort, cohort.c.incident_id == col(Exposure.incident_id))
            .join(PlanningRecord, col(PlanningRecord.incident_id) == cohort.c.incident_id)
            .outerjoin(PlanningRoute, col(PlanningRoute.exposure_id) == col(Exposure.id))
            .where(live),
            col(Exposure.person_id),
        ).subquery("routed")
        plans.append(queries.CubePlan("planning_routes", routed, ("route",), (ROUTES,), (total,)))
    if "briefings" not in answered:
        attended = twins.join(
            sa_select(twins.person(col(BriefingAttendee.person_id)), cohort.c.month)
            .join(Briefing, col(Briefing.id) == col(BriefingAttendee.briefing_id))
            .join(cohort, cohort.c.incident_id == col(Briefing.incident_id)),
            col(BriefingAttendee.person_id),
        ).subquery("attended")
        plans.append(queries.CubePlan("briefings", attended, ("month",), (month_labels,), (total,)))
        held = (
            sa_select(cohort.c.month).join(Briefing, col(Briefing.incident_id) == cohort.c.incident_id).subquery("held")
        )
        members.append(
            queries.Member(
                "briefings_counted",
                queries.member("briefings_counted", [held.c.month], func.count(), func.count(), from_=held).group_by(
                    held.c.month
                ),
            )
        )
    return plans, members


def _from_checkins(
    cohort: FromClause,
    filters: DashboardFilter,
    months: Sequence[rules.Month],
    sql: Dialect,
    twins: queries.Twins,
    *,
    now: datetime,
    settings: Settings,
    counted: bool = True,
    contact: bool = True,
    caseload: bool = True,
) -> tuple[list[queries.CubePlan], list[queries.Member]]:
    """The second statement: the period's periodic check-ins, and what the rollups did
    not answer of the period's check-ins read once: timeliness and score bands
    (`counted`), first contact (`contact`) and peer caseloads (`caseload`)."""
    month_labels = [m.label for m in months]
    total: dict[str, Sequence[str] | None] = {ALL: None}
    window, grace = settings.due_window, settings.missed_grace
    outcome, due_at = col(CheckIn.outcome), col(CheckIn.due_at)
    elevated = catalogue.load()["trim_risk"].flag_band
    as_of = rules.missed_as_of(now, settings.zone)
    # rules.timeliness in SQL (and rollups.category_of, but for the clock).
    category = case(
        (and_(outcome == Outcome.completed, col(CheckIn.self_completed)), "answered_themselves"),
        (and_(outcome == Outcome.completed, sql.before(col(CheckIn.recorded_at), due_at, window)), "on_time"),
        (outcome == Outcome.completed, "late"),
        (outcome.in_((Outcome.declined, Outcome.unreachable, Outcome.not_needed)), outcome),
        (and_(outcome.is_(None), due_at <= as_of - window - grace), "missed"),
        else_="pending",
    )
    plans: list[queries.CubePlan] = []
    members: list[queries.Member] = []
    if counted or contact:
        counting: list[ColumnElement[Any]] = [
            col(CheckIn.kind).label("interval"),
            category.label("timeliness"),
            # Looked up for held check-ins only (a probe of a small index each), rather
            # than joining every assessment ever recorded.
            case(
                (
                    outcome == Outcome.completed,
                    sa_select(case((col(Assessment.band) == elevated, "elevated"), else_="not_elevated"))
                    # "is_current" as the partial index says it, so the index serves it alone.
                    .where(col(Assessment.checkin_id) == col(CheckIn.id), col(Assessment.is_current))
                    .limit(1)
                    .scalar_subquery(),
                ),
                else_=None,
            ).label("band"),
        ]
        checkins = queries.materialized(
            twins.join(
                sa_select(
                    *(counting if counted else []),
                    twins.person(col(CheckIn.person_id)),
                    col(CheckIn.exposure_id).label("exposure_id"),
                    col(CheckIn.peer_id).label("peer_id"),
                    outcome.label("outcome"),
                    col(CheckIn.recorded_at).label("recorded_at"),
                    cohort.c.month,
                    cohort.c.occurred_at,
                )
                .join(cohort, col(CheckIn.incident_id) == cohort.c.incident_id)
                .where(or_(outcome.is_(None), outcome != Outcome.cancelled)),
                col(CheckIn.person_id),
            ),
            "scoped_checkins",
        )
        if counted:
            configured = [checkin_kind(d) for d in settings.scheduled_offsets_days]
            timed = queries.CubePlan(
                "checkin_timeliness",
                checkins,
                ("interval", "timeliness"),
                (configured, rules.TIMELINESS),
                (total, total),
            )
            # Intervals are those with check-ins (and the configured ones): settled below, then shared.
            bands = queries.CubePlan(
                "score_bands",
                checkins,
                ("interval", "month", "band"),
                (configured, month_labels, ("elevated", "not_elevated")),
                ({}, total, total),
                where=(checkins.c.band.is_not(None),),
            )
            plans = [timed, bands]

    # Periodic check-ins have no incident (design section 14): counted apart, live (one
    # per member per cadence), by the month they were due and the person's current
    # station; nothing when a kind of incident is chosen.
    periodic = twins.join(
        sa_select(
            queries.month_of(due_at, months).label("month"),
            category.label("timeliness"),
            twins.person(col(CheckIn.person_id)),
        ).where(
            col(CheckIn.kind) == PERIODIC_KIND,
            or_(outcome.is_(None), outcome != Outcome.cancelled),
            *queries.unlinked(due_at, col(CheckIn.person_id), filters),
        ),
        col(CheckIn.person_id),
    ).subquery("periodic")
    plans.append(
        queries.CubePlan(
            "periodic_checkins",
            periodic,
            ("month", "timeliness"),
            ([m.label for m in months], rules.TIMELINESS),
            (total, total),
        )
    )

    if contact:
        # First contact: each exposure's first check-in held or declined, or a request
        # accepted after the incident; exposures removed in error are left out. From the
        # exposures, so a person whose check-ins were all cancelled (briefing only, design
        # section 12) and who then asked for a peer is counted too.
        held = func.min(case((checkins.c.outcome.in_(CONTACT_OUTCOMES), checkins.c.recorded_at)))
        exposure_person = twins.person(col(Exposure.person_id))
        per_exposure = (
            twins.join(
                sa_select(
                    col(Exposure.id).label("exposure_id"),
                    exposure_person,
                    cohort.c.month,
                    cohort.c.occurred_at,
                    held.label("checked_at"),
                )
                .join(cohort, cohort.c.incident_id == col(Exposure.incident_id))
                .outerjoin(checkins, checkins.c.exposure_id == col(Exposure.id)),
                col(Exposure.person_id),
            )
            .where(col(Exposure.removed_at).is_(None))
            .group_by(col(Exposure.id), exposure_person, cohort.c.month, cohort.c.occurred_at)
            .subquery("per_exposure")
        )
        # Requests by the same counted person: a purged case and a live one still meet.
        accepted_requests = (
            twins.join(
                sa_select(twins.person(col(PeerRequest.requester_id)), col(PeerRequest.accepted_at)),
                col(PeerRequest.requester_id),
            )
            .where(col(PeerRequest.accepted_at).is_not(None))
            .subquery("accepted_requests")
        )
        with_requests = (
            sa_select(
                per_exposure.c.month,
                per_exposure.c.person_id,
                per_exposure.c.occurred_at,
                per_exposure.c.checked_at,
                func.min(accepted_requests.c.accepted_at).label("asked_at"),
            )
            .outerjoin(
                accepted_requests,
                and_(
                    accepted_requests.c.person_id == per_exposure.c.person_id,
                    accepted_requests.c.accepted_at >= per_exposure.c.occurred_at,
                ),
            )
            .group_by(*per_exposure.c)
            .subquery("with_requests")
        )
        checked, asked_at = with_requests.c.checked_at, with_requests.c.asked_at
        first_at = case(
            (asked_at.is_(None), checked), (checked.is_(None), asked_at), (asked_at < checked, asked_at), else_=checked
        )
        contacted = (
            sa_select(
                with_requests.c.month,
                with_requests.c.person_id,
                sql.hours(first_at, with_requests.c.occurred_at).label("hours"),
            )
            .where(or_(checked.is_not(None), asked_at.is_not(None)))
            .subquery("contacted")
        )
        members.append(queries.stats("first_contact", contacted, "month", sql))

    if caseload:
        # Caseloads: how many people each active peer has an open check-in with.
        # From the open check-ins alone, not the CTE of the period's every check-in: with the
        # check-in figures and first contact from rollups, nothing else reads check-ins here.
        if sql.postgres:
            # Walked from each incident of the period into the partial index of open check-ins
            # (OFFSET 0 keeps the planner from merging against every open check-in ever left
            # open: at 1M it read all ~173,000 index entries to find a month's ~8,600).
            of_incident = (
                sa_select(col(CheckIn.peer_id).label("peer_id"), col(CheckIn.person_id).label("person_id"))
                .where(col(CheckIn.incident_id) == cohort.c.incident_id, outcome.is_(None))
                .offset(0)
                .lateral("open_of_incident")
            )
            open_stmt = sa_select(of_incident.c.peer_id, twins.person(of_incident.c.person_id)).select_from(
                cohort.join(of_incident, true())
            )
            open_checkins = twins.join(open_stmt, of_incident.c.person_id).subquery("open_checkins")
        else:
            open_checkins = twins.join(
                sa_select(col(CheckIn.peer_id).label("peer_id"), twins.person(col(CheckIn.person_id)))
                .join(cohort, col(CheckIn.incident_id) == cohort.c.incident_id)
                .where(outcome.is_(None)),
                col(CheckIn.person_id),
            ).subquery("open_checkins")
        # Each peer's people counted once (pairs first: hashed, not sorted per peer), then the
        # active peers (found from their role, not a scan of everyone) with none for the rest.
        pairs = sa_select(open_checkins.c.peer_id, open_checkins.c.person_id).distinct().subquery("pairs")
        per_peer = (
            sa_select(pairs.c.peer_id, func.count().label("people")).group_by(pairs.c.peer_id).subquery("per_peer")
        )
        peers = (
            sa_select(col(PersonRole.person_id).label("id"))
            .join(Person, col(Person.id) == col(PersonRole.person_id))
            .where(col(PersonRole.role) == Role.peer, col(Person.active).is_(True))
            .subquery("active_peers")
        )
        loads = (
            sa_select(peers.c.id, func.coalesce(per_peer.c.people, 0).label("people"))
            .select_from(peers.outerjoin(per_peer, per_peer.c.peer_id == peers.c.id))
            .subquery("loads")
        )
        band_of = case(
            *((loads.c.people <= high, label) for _, high, label in rules.CASELOAD_BANDS if high is not None),
            else_=rules.CASELOAD_BANDS[-1][2],
        )
        members.append(
            queries.Member(
                "peer_caseloads",
                queries.member("peer_caseloads", [band_of], func.count(), func.count(), from_=loads).group_by(band_of),
            )
        )

    return plans, members


def _other_cubes(
    cubes: dict[str, Cube], found: Mapping[str, list[queries.Row]], intervals: list[str], month_labels: list[str]
) -> tuple[dict[str, Stat], dict[str, Stat]]:
    """The cubes not made by a plan, put in `cubes`; the time statistics returned."""
    cubes["score_bands"] = _bands_for(cubes["score_bands"], intervals, month_labels)
    contact_cube, contact_stats = queries.stat_cube(found["first_contact"], month_labels)
    _, acceptance_stats = queries.stat_cube(found["acceptance"], [])
    peers = {dims[0]: rows for dims, rows, _, _, _ in found["peer_caseloads"]}
    caseload_labels = [label for _, _, label in rules.CASELOAD_BANDS]
    caseload_cells: dict[tuple[str, ...], Count] = {
        (label,): Count(peers.get(label, 0), peers.get(label, 0)) for label in caseload_labels
    }
    caseload_cells[(ALL,)] = Count(sum(peers.values()), sum(peers.values()))
    cubes["peer_caseloads"] = Cube(
        ("caseload",), caseload_cells, cube_equations([caseload_labels], [{ALL: caseload_labels}])
    )
    cubes["referrals"] = _regroup_consented(cubes["referrals"])
    cubes["first_contact"] = contact_cube
    return contact_stats, acceptance_stats


def _ledger(cubes: Mapping[str, Cube], intervals: list[str]) -> Ledger:
    """Every count of every figure, and the identities between figures, on one ledger."""
    ledger = Ledger()
    ledger.add_cube("incidents_by_month_kind", cubes["incidents_by_month_kind"], lambda key: (key, "incidents"))
    ledger.add_cube("people_exposed", cubes["people_exposed"], lambda key: (key, "exposures"))
    as_people = Cube(
        cubes["people_exposed"].dims,
        {key: Count(c.people, c.people) for key, c in cubes["people_exposed"].cells.items()},
        cubes["people_exposed"].equations,
    )
    ledger.add_cube("people_exposed", as_people, lambda key: (key, "people"))
    ledger.add_cube("checkin_timeliness", cubes["checkin_timeliness"], lambda key: (key, "checkins"))
    ledger.add_cube("first_contact", cubes["first_contact"], lambda key: (key, "contacted"))
    measure_of_band = {"elevated": "elevated", "not_elevated": "not_elevated", ALL: "completed"}
    ledger.add_cube("score_bands", cubes["score_bands"], lambda key: ((key[0], key[1]), measure_of_band[key[2]]))
    for interval in intervals:
        # Check-ins held at an interval appear in both figures: a reader can add them up.
        ledger.link(
            ("score_bands", (interval, ALL), "completed"),
            [("checkin_timeliness", (interval, held), "checkins") for held in rules.HELD],
        )
    ledger.add_cube("periodic_checkins", cubes["periodic_checkins"], lambda key: (key, "checkins"))
    ledger.add_cube("flags", cubes["flags"], lambda key: (key, "flags"))
    ledger.add_cube("referrals", cubes["referrals"], lambda key: (key, "referrals"))
    measure_of_acceptance = {"accepted": "accepted", "not_accepted": "not_accepted", ALL: "requests"}
    ledger.add_cube("requests", cubes["requests"], lambda key: ((key[0],), measure_of_acceptance[key[1]]))
    ledger.add_cube("peer_caseloads", cubes["peer_caseloads"], lambda key: (key, "peers"))
    ledger.add_cube("planning", cubes["planning"], lambda key: (key, "incidents"))
    ledger.add_cube("planning_routes", cubes["planning_routes"], lambda key: (key, "exposures"))
    ledger.add_cube("briefings", cubes["briefings"], lambda key: (key, "briefings"))
    return ledger


def _bands_for(cube: Cube, intervals: Sequence[str], months: Sequence[str]) -> Cube:
    """Score bands for exactly the intervals the timeliness figure shows (zeros where
    nothing was held), so the two figures line up and can be tied together."""
    bands = ("elevated", "not_elevated")
    domains: list[Sequence[str]] = [list(intervals), list(months), list(bands)]
    groups: list[Mapping[str, Sequence[str]]] = [{}, {ALL: list(months)}, {ALL: list(bands)}]
    finest, totals = cube_keys(domains, groups)
    ordered = {key: cube.cells.get(key, Count(0, 0)) for key in [*finest, *(key for key, _ in totals)]}
    return Cube(cube.dims, ordered, cube_equations(domains, groups))


def _regroup_consented(cube: Cube) -> Cube:
    """Referral stages in reading order: offered, not consented, consented, then the rest."""
    first: list[tuple[str, ...]] = [("offered",), ("not_consented",), ("consented",)]
    cells: dict[tuple[str, ...], Count] = {key: cube.cells[key] for key in first}
    cells.update({key: value for key, value in cube.cells.items() if key not in cells})
    return Cube(cube.dims, cells, cube.equations)
