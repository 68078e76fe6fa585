"""The planning meeting: routes move exactly the right check-ins, twice is harmless, and
concurrent edits never lose a route (service level, both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update
from sqlmodel import col, select

from tests.cast import Cast, actor_for, make_person
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from trim.config import Settings
from trim.db import AsyncSession
from trim.errors import Conflict, InvalidInput, NotFound
from trim.followups.models import CheckIn
from trim.followups.rules import scheduled_time
from trim.incidents import service as incidents
from trim.incidents.models import Incident
from trim.planning import rules
from trim.planning import service as planning
from trim.planning.service import PlanningInput, RouteInput
from trim.privacy.models import AuditEvent


async def _incident(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock, *, days: float
) -> Incident:
    now = clock()
    return await make_incident(
        session,
        actor=cast.actor("supervisor"),
        station=cast.station_a,
        people=[cast.responder, cast.admin],
        occurred_at=now - timedelta(days=days),
        now=now,
        settings=settings,
    )


def _plan(
    held_at: object, *routes: RouteInput, version: int | None = None, attendees: list | None = None
) -> PlanningInput:
    return PlanningInput(held_at=held_at, attendee_ids=attendees or [], routes=list(routes), version=version)  # type: ignore[arg-type]


async def _events(session: AsyncSession, action: str) -> int:
    return len(list(await session.exec(select(AuditEvent).where(AuditEvent.action == action))))


async def test_briefing_only_cancels_open_checkins_with_the_reason_and_keeps_what_was_done(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    lead = cast.actor("lead")
    day3, day28 = await checkins_of(session, cast.responder)
    await session.exec(
        update(CheckIn).where(col(CheckIn.id) == day3.id).values(outcome="completed", recorded_at=clock())
    )
    await db.commit()
    view = await planning.save_planning(
        db,
        actor=lead,
        incident_id=incident.id,
        data=_plan(clock(), RouteInput(cast.responder.id, "briefing_only"), attendees=[cast.lead.id]),
        now=clock(),
        settings=settings,
    )
    await db.commit()
    assert view.version == 1 and view.held
    day3, day28 = await checkins_of(session, cast.responder)
    assert day3.outcome == "completed"  # what was done stays
    assert day28.outcome == "cancelled"
    assert day28.outcome_reason == rules.cancel_reason("briefing_only", None)
    assert "a peer is there whenever they ask" in (day28.outcome_reason or "")
    # The other person keeps the default and their check-ins.
    assert [c.outcome for c in await checkins_of(session, cast.admin)] == [None, None]
    assert await _events(session, "planning.route_changed") == 1
    assert await _events(session, "planning.recorded") == 1


async def test_the_same_record_twice_changes_nothing(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    held = clock()
    data = _plan(held, RouteInput(cast.responder.id, "no_action", "Arrived after the event"))
    await planning.save_planning(
        db, actor=cast.actor("lead"), incident_id=incident.id, data=data, now=clock(), settings=settings
    )
    await db.commit()
    clock.advance(minutes=5)
    # A retry with the version it read first: nothing to change, so no conflict and no event.
    again = await planning.save_planning(
        db, actor=cast.actor("lead"), incident_id=incident.id, data=data, now=clock(), settings=settings
    )
    await db.commit()
    assert again.version == 1
    assert await _events(session, "planning.route_changed") == 1
    assert await _events(session, "planning.changed") == 0
    reasons = [c.outcome_reason for c in await checkins_of(session, cast.responder)]
    assert reasons == [rules.cancel_reason("no_action", "Arrived after the event")] * 2


async def test_back_to_risk_assessment_reopens_exactly_those_with_catch_up(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    lead = cast.actor("lead")
    await planning.save_planning(
        db,
        actor=lead,
        incident_id=incident.id,
        data=_plan(clock(), RouteInput(cast.responder.id, "briefing_only")),
        now=clock(),
        settings=settings,
    )
    await db.commit()
    clock.advance(days=5)  # day 3 has passed meanwhile
    view = await planning.save_planning(
        db,
        actor=lead,
        incident_id=incident.id,
        data=_plan(clock() - timedelta(days=5), RouteInput(cast.responder.id, "risk_assessment"), version=1),
        now=clock(),
        settings=settings,
    )
    await db.commit()
    assert view.version == 2
    day3, day28 = await checkins_of(session, cast.responder)
    assert (day3.outcome, day28.outcome) == (None, None)
    assert day3.due_at == clock()  # caught up: due now, as for a late log
    assert day28.due_at == day28.scheduled_for
    assert day3.peer_id is not None and day3.peer_id == day28.peer_id
    # Changing it back twice is harmless too.
    await planning.save_planning(
        db,
        actor=lead,
        incident_id=incident.id,
        data=_plan(clock() - timedelta(days=5), version=1),
        now=clock(),
        settings=settings,
    )
    assert [c.outcome for c in await checkins_of(session, cast.responder)] == [None, None]


async def test_an_opt_out_is_never_undone_by_a_route(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    lead = cast.actor("lead")
    day3, _ = await checkins_of(session, cast.responder)
    await session.exec(
        update(CheckIn)
        .where(col(CheckIn.id) == day3.id)
        .values(outcome="cancelled", outcome_reason="opted out of further check-ins")
    )
    await db.commit()
    await planning.save_planning(
        db,
        actor=lead,
        incident_id=incident.id,
        data=_plan(clock(), RouteInput(cast.responder.id, "briefing_only")),
        now=clock(),
        settings=settings,
    )
    await db.commit()
    await planning.save_planning(
        db, actor=lead, incident_id=incident.id, data=_plan(clock(), version=1), now=clock(), settings=settings
    )
    await db.commit()
    day3, day28 = await checkins_of(session, cast.responder)
    assert (day3.outcome, day3.outcome_reason) == ("cancelled", "opted out of further check-ins")
    assert day28.outcome is None


async def test_a_stale_version_gets_409_naming_what_changed_and_loses_no_route(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident_id = (await _incident(db, cast, settings, clock, days=1)).id
    manager = actor_for(
        await make_person(session, roles=["responder", "peer", "trim_manager"], name="Tess Manager"),
        ["responder", "peer", "trim_manager"],
    )
    await db.commit()
    lead = cast.actor("lead")
    await planning.save_planning(
        db, actor=lead, incident_id=incident_id, data=_plan(clock()), now=clock(), settings=settings
    )
    await db.commit()
    # Both read version 1; the TRiM manager saves first.
    await planning.save_planning(
        db,
        actor=manager,
        incident_id=incident_id,
        data=_plan(clock(), RouteInput(cast.responder.id, "briefing_only"), version=1),
        now=clock(),
        settings=settings,
    )
    await db.commit()
    with pytest.raises(Conflict) as refused:
        await planning.save_planning(
            db,
            actor=lead,
            incident_id=incident_id,
            data=_plan(clock(), RouteInput(cast.admin.id, "briefing_only"), version=1),
            now=clock(),
            settings=settings,
        )
    await db.rollback()
    assert "Tess Manager" in refused.value.detail
    assert refused.value.extra["version"] == 2
    assert refused.value.extra["changed_routes"] == [
        {"person_id": str(cast.responder.id), "name": cast.responder.name, "route": "briefing_only", "reason": None}
    ]
    # The lead reads again and adds their change: both routes stand.
    current = await planning.planning_for(db, actor=lead, incident_id=incident_id, now=clock(), settings=settings)
    routes = [RouteInput(r.person_id, r.route, r.reason) for r in current.routes if r.person_id != cast.admin.id]
    await planning.save_planning(
        db,
        actor=lead,
        incident_id=incident_id,
        data=_plan(clock(), *routes, RouteInput(cast.admin.id, "briefing_only"), version=current.version),
        now=clock(),
        settings=settings,
    )
    await db.commit()
    final = await planning.planning_for(db, actor=lead, incident_id=incident_id, now=clock(), settings=settings)
    assert {r.person_id: r.route for r in final.routes} == {
        cast.responder.id: "briefing_only",
        cast.admin.id: "briefing_only",
    }
    assert final.version == 3


async def test_a_change_without_the_version_once_a_record_exists_is_409(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    lead = cast.actor("lead")
    await planning.save_planning(
        db, actor=lead, incident_id=incident.id, data=_plan(clock()), now=clock(), settings=settings
    )
    await db.commit()
    with pytest.raises(Conflict):
        await planning.save_planning(
            db,
            actor=lead,
            incident_id=incident.id,
            data=_plan(clock(), RouteInput(cast.responder.id, "briefing_only")),
            now=clock(),
            settings=settings,
        )


async def test_no_action_needs_a_reason_and_routes_name_exposed_people(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    with pytest.raises(InvalidInput) as bad:
        await planning.save_planning(
            db,
            actor=cast.actor("lead"),
            incident_id=incident.id,
            data=_plan(clock(), RouteInput(cast.responder.id, "no_action"), RouteInput(cast.peer.id, "briefing_only")),
            now=clock(),
            settings=settings,
        )
    assert bad.value.field_messages() == {
        "routes[0].reason": "Say in a few words why no action is needed.",
        "routes[1].person_id": "This person is not recorded as exposed to the incident.",
    }
    with pytest.raises(InvalidInput):
        await planning.save_planning(
            db,
            actor=cast.actor("lead"),
            incident_id=incident.id,
            data=_plan(clock() + timedelta(days=1)),
            now=clock(),
            settings=settings,
        )


async def test_only_the_lead_and_trim_managers_hold_planning(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    manager = actor_for(
        await make_person(session, roles=["responder", "peer", "trim_manager"]), ["responder", "peer", "trim_manager"]
    )
    await db.commit()
    view = await planning.planning_for(db, actor=manager, incident_id=incident.id, now=clock(), settings=settings)
    assert {r.person_id for r in view.routes} == {cast.responder.id, cast.admin.id}
    for who in ("supervisor", "peer", "other_peer", "responder", "admin", "clinician"):
        with pytest.raises(NotFound):
            await planning.planning_for(
                db, actor=cast.actor(who), incident_id=incident.id, now=clock(), settings=settings
            )
        with pytest.raises(NotFound):
            await planning.save_planning(
                db,
                actor=cast.actor(who),
                incident_id=incident.id,
                data=_plan(clock()),
                now=clock(),
                settings=settings,
            )


async def test_planning_due_after_the_window_until_a_record_exists(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    fresh = await _incident(db, cast, settings, clock, days=1)
    late = await _incident(db, cast, settings, clock, days=3)
    old = await _incident(db, cast, settings, clock, days=40)
    lead = cast.actor("lead")
    due = await planning.planning_due(db, actor=lead, now=clock(), settings=settings)
    assert [d.incident_id for d in due] == [late.id]
    assert due[0].due_since == late.occurred_at + timedelta(hours=48)
    assert await planning.planning_due(db, actor=cast.actor("supervisor"), now=clock(), settings=settings) == []
    await planning.save_planning(
        db, actor=lead, incident_id=late.id, data=_plan(clock()), now=clock(), settings=settings
    )
    await db.commit()
    assert await planning.planning_due(db, actor=lead, now=clock(), settings=settings) == []
    clock.advance(days=2)
    assert [d.incident_id for d in await planning.planning_due(db, actor=lead, now=clock(), settings=settings)] == [
        fresh.id
    ]
    assert old.id not in {
        d.incident_id for d in await planning.planning_due(db, actor=lead, now=clock(), settings=settings)
    }


async def test_a_briefing_holds_date_facilitator_and_attendance_only(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    briefing = await planning.record_briefing(
        db,
        actor=cast.actor("lead"),
        incident_id=incident.id,
        held_at=clock(),
        facilitator_id=cast.peer.id,
        attendee_ids=[cast.responder.id, cast.admin.id],
        now=clock(),
        settings=settings,
    )
    await db.commit()
    assert briefing.facilitator_name == cast.peer.name
    assert {pid for pid, _ in briefing.attendees} == {cast.responder.id, cast.admin.id}
    view = await planning.planning_for(
        db, actor=cast.actor("lead"), incident_id=incident.id, now=clock(), settings=settings
    )
    assert [b.id for b in view.briefings] == [briefing.id]
    with pytest.raises(InvalidInput):
        await planning.record_briefing(
            db,
            actor=cast.actor("lead"),
            incident_id=incident.id,
            held_at=clock(),
            facilitator_id=None,
            attendee_ids=[],
            now=clock(),
            settings=settings,
        )


async def test_the_briefing_tables_have_no_column_for_content(session: AsyncSession) -> None:
    conn = await session.connection()

    def columns(sync_conn: object, table: str) -> set[str]:
        return {c["name"] for c in sa_inspect(sync_conn).get_columns(table)}  # type: ignore[arg-type]

    assert await conn.run_sync(columns, "briefings") == {
        "id",
        "incident_id",
        "held_at",
        "facilitator_id",
        "recorded_by_id",
        "created_at",
    }
    assert await conn.run_sync(columns, "briefing_attendees") == {"id", "briefing_id", "person_id"}


async def test_reopened_checkins_follow_the_incident_time_as_it_is_now(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await _incident(db, cast, settings, clock, days=1)
    incident_id = incident.id
    lead = cast.actor("lead")
    await planning.save_planning(
        db,
        actor=lead,
        incident_id=incident_id,
        data=_plan(clock(), RouteInput(cast.responder.id, "briefing_only")),
        now=clock(),
        settings=settings,
    )
    await db.commit()
    # The time was wrong by six hours: corrected while the person is on briefing only.
    found = await session.get(Incident, incident_id)
    assert found is not None
    earlier = found.occurred_at - timedelta(hours=6)
    await incidents.change_incident(
        db,
        actor=lead,
        incident_id=incident_id,
        data=incidents.IncidentInput(
            occurred_at=earlier, kind=found.kind, station_id=found.station_id, summary=found.summary
        ),
        now=clock(),
        settings=settings,
    )
    await db.commit()
    await planning.save_planning(
        db, actor=lead, incident_id=incident_id, data=_plan(clock(), version=1), now=clock(), settings=settings
    )
    await db.commit()
    day3, day28 = await checkins_of(session, cast.responder)
    assert day3.scheduled_for == scheduled_time(earlier, 3, settings.zone)
    assert day28.scheduled_for == scheduled_time(earlier, 28, settings.zone)
    assert (day3.outcome, day28.outcome) == (None, None)
