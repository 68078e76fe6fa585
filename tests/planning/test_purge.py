"""`trim purge` covers the planning tables: a route's reason goes with the case, and who
came to an old briefing becomes a stand-in; the counts stay (both databases)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, func, select

from tests.cast import Cast
from tests.conftest import FakeClock, make_settings
from tests.helpers import make_incident
from trim.db import AsyncSession
from trim.planning import service as planning
from trim.planning.models import BriefingAttendee, PlanningRoute
from trim.records.retention import purge


async def test_purge_clears_route_reasons_and_old_briefing_attendance_and_is_idempotent(
    db: AsyncSession, session: AsyncSession, cast: Cast, database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(database_url, retention_days=30)
    then = clock() - timedelta(days=400)
    incident = await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=then,
        now=then,
        settings=settings,
    )
    incident_id = incident.id
    lead = cast.actor("lead")
    held = then + timedelta(days=1)
    await planning.save_planning(
        db,
        actor=lead,
        incident_id=incident_id,
        data=planning.PlanningInput(
            held_at=held,
            attendee_ids=[cast.lead.id],
            routes=[planning.RouteInput(cast.responder.id, "no_action", "Moved away after the event")],
        ),
        now=held,
        settings=settings,
    )
    await planning.record_briefing(
        db,
        actor=lead,
        incident_id=incident_id,
        held_at=held,
        facilitator_id=cast.peer.id,
        attendee_ids=[cast.responder.id, cast.admin.id],
        now=held,
        settings=settings,
    )
    await db.commit()
    report = await purge(db, now=clock(), settings=settings)
    await db.commit()
    assert report.exposures == 1  # no action: every check-in was cancelled long ago, so the case is closed
    assert report.briefing_attendance == 2
    (route,) = list(await session.exec(select(PlanningRoute).execution_options(populate_existing=True)))
    assert (route.route, route.reason) == ("no_action", None)
    attendees = set(await session.exec(select(BriefingAttendee.person_id)))
    assert len(attendees) == 2 and not attendees & {cast.responder.id, cast.admin.id}
    again = await purge(db, now=clock(), settings=settings)
    await db.commit()
    assert (again.exposures, again.briefing_attendance) == (0, 0)
    assert int((await session.exec(select(func.count()).select_from(BriefingAttendee))).one()) == 2
    # A recent briefing keeps who came.
    recent = await make_incident(
        db,
        actor=lead,
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=1),
        now=clock(),
        settings=settings,
    )
    await planning.record_briefing(
        db,
        actor=lead,
        incident_id=recent.id,
        held_at=clock(),
        facilitator_id=cast.peer.id,
        attendee_ids=[cast.responder.id],
        now=clock(),
        settings=settings,
    )
    await db.commit()
    assert (await purge(db, now=clock(), settings=settings)).briefing_attendance == 0
    await db.commit()
    kept = select(BriefingAttendee).where(col(BriefingAttendee.person_id) == cast.responder.id)
    assert len(list(await session.exec(kept))) == 1
