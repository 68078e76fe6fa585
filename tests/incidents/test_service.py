"""Logging incidents and the schedule they create (service level, both databases)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from tests.cast import Cast, make_person
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from trim.accounts import edits
from trim.accounts import service as accounts
from trim.accounts.models import Person
from trim.config import Settings
from trim.db import AsyncSession
from trim.errors import InvalidInput, NotFound
from trim.followups import rules
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.incidents import service as incidents
from trim.incidents.models import Exposure, Incident


async def test_logging_schedules_day3_and_day28_for_everyone(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    now = clock()
    await make_incident(
        session,
        actor=cast.actor("supervisor"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=now - timedelta(hours=2),
        now=now,
        settings=settings,
    )
    checkins = await checkins_of(session, cast.responder)
    assert [c.kind for c in checkins] == ["day3", "day28"]
    assert checkins[0].due_at == rules.scheduled_time(now - timedelta(hours=2), 3, settings.zone)
    # Continuity: one peer for both, never from the responder's own station (A).
    assert len({c.peer_id for c in checkins}) == 1
    assert checkins[0].peer_id in (cast.peer.id, cast.other_peer.id)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


async def test_day90_when_enabled(session: AsyncSession, cast: Cast, database_url: str, clock: FakeClock) -> None:
    from tests.conftest import make_settings

    settings = make_settings(database_url, optional_checkins_enabled=True)
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(hours=1),
        now=clock(),
        settings=settings,
    )
    assert [c.kind for c in await checkins_of(session, cast.responder)] == ["day3", "day28", "day90"]


async def test_late_log_catches_up_missed_checkins_as_due_now(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    now = clock()
    occurred = now - timedelta(days=10)
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=occurred,
        now=now,
        settings=settings,
    )
    day3, day28 = await checkins_of(session, cast.responder)
    assert day3.due_at == now and day3.scheduled_for == rules.scheduled_time(occurred, 3, settings.zone)
    assert rules.checkin_status(due_at=day3.due_at, outcome=None, now=now, window=settings.due_window) == "due"
    assert day28.due_at == rules.scheduled_time(occurred, 28, settings.zone)


async def test_added_later_schedules_from_the_incident_time(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    occurred = clock() - timedelta(hours=1)
    incident = await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[],
        occurred_at=occurred,
        now=clock(),
        settings=settings,
    )
    clock.advance(days=5)
    await incidents.add_exposure(
        session,
        actor=cast.actor("lead"),
        incident_id=incident.id,
        ref=incidents.ExposureRef("witness", cast.responder.id),
        now=clock(),
        settings=settings,
    )
    await session.commit()
    day3, day28 = await checkins_of(session, cast.responder)
    assert day3.due_at == clock()  # missed: due now
    assert day28.due_at == rules.scheduled_time(occurred, 28, settings.zone)


async def test_removing_cancels_open_and_keeps_done(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=4),
        now=clock(),
        settings=settings,
    )
    day3, _ = await checkins_of(session, cast.responder)
    await session.exec(
        update(CheckIn).where(col(CheckIn.id) == day3.id).values(outcome="completed", recorded_at=clock())
    )
    await incidents.remove_exposure(
        session, actor=cast.actor("lead"), incident_id=incident.id, person_id=cast.responder.id, now=clock()
    )
    await session.commit()
    day3, day28 = await checkins_of(session, cast.responder)
    assert (day3.outcome, day28.outcome) == ("completed", "cancelled")


async def test_changing_the_time_moves_open_checkins_only(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    occurred = clock() - timedelta(days=4)
    incident = await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=occurred,
        now=clock(),
        settings=settings,
    )
    day3, day28 = await checkins_of(session, cast.responder)
    before3, before28 = day3.due_at, day28.due_at
    await session.exec(
        update(CheckIn).where(col(CheckIn.id) == day3.id).values(outcome="completed", recorded_at=clock())
    )
    await session.commit()
    new_time = occurred + timedelta(hours=6)
    await incidents.change_incident(
        session,
        actor=cast.actor("lead"),
        incident_id=incident.id,
        data=incidents.IncidentInput(
            occurred_at=new_time, kind="mass_casualty", station_id=cast.station_a.id, summary="Corrected time."
        ),
        now=clock(),
        settings=settings,
    )
    await session.commit()
    moved3, moved28 = await checkins_of(session, cast.responder)
    assert moved3.due_at == before3  # recorded: never moves
    assert moved28.due_at == rules.scheduled_time(new_time, 28, settings.zone)
    assert moved28.due_at == before28 + timedelta(hours=6)


async def test_load_is_spread_and_exposed_peers_never_chosen(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    extra = [await make_person(session, roles=["responder", "peer"], station=cast.station_c) for _ in range(2)]
    people = [await make_person(session, station=cast.station_a) for _ in range(8)]
    await session.commit()
    # other_peer was there too: they must not support anyone from this incident.
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[*people, cast.other_peer],
        occurred_at=clock(),
        now=clock(),
        settings=settings,
    )
    exposures = list(await session.exec(select(Exposure)))
    assert cast.other_peer.id not in [e.peer_id for e in exposures]
    # The eight from Station A are spread evenly over the three peers who qualify.
    chosen = [e.peer_id for e in exposures if e.person_id in {p.id for p in people}]
    loads = {pid: chosen.count(pid) for pid in {cast.peer.id, *(p.id for p in extra)}}
    assert max(loads.values()) - min(loads.values()) <= 1, loads
    # other_peer's own check-ins went to someone else too
    mine = await checkins_of(session, cast.other_peer)
    assert all(c.peer_id not in (None, cast.other_peer.id) for c in mine)


async def test_when_no_peer_qualifies_checkins_are_created_unassigned(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    # Both peers were exposed: nobody qualifies.
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder, cast.peer, cast.other_peer],
        occurred_at=clock(),
        now=clock(),
        settings=settings,
    )
    checkins = await checkins_of(session, cast.responder)
    assert len(checkins) == 2 and all(c.peer_id is None for c in checkins)
    unassigned = await followups.list_checkins(
        session,
        actor=cast.actor("lead"),
        statuses=rules.OPEN_STATUSES,
        now=clock(),
        settings=settings,
        filters=followups.CheckinFilter(unassigned=True),
    )
    assert {v.person_id for v in unassigned} == {cast.responder.id, cast.peer.id, cast.other_peer.id}


async def test_unavailable_peer_hands_work_on(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock(),
        now=clock(),
        settings=settings,
    )
    (first,) = {c.peer_id for c in await checkins_of(session, cast.responder)}
    who = "peer" if first == cast.peer.id else "other_peer"
    other = cast.other_peer.id if who == "peer" else cast.peer.id
    await accounts.set_availability(session, actor=cast.actor(who), available=False, now=clock())
    moved, left = await followups.reassign_open_of_peer(
        session, actor=cast.actor(who), peer_id=first, now=clock(), settings=settings
    )
    await session.commit()
    assert (moved, left) == (1, 0)
    assert {c.peer_id for c in await checkins_of(session, cast.responder)} == {other}


async def test_lead_reassigns_and_the_rules_still_hold(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    incident = await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder, cast.other_peer],
        occurred_at=clock(),
        now=clock(),
        settings=settings,
    )
    exposure_id = await incidents.exposure_id_for(
        session, actor=cast.actor("lead"), incident_id=incident.id, person_id=cast.responder.id
    )
    with pytest.raises(InvalidInput, match="exposed to the same incident"):
        await followups.reassign_exposure(
            session,
            actor=cast.actor("lead"),
            exposure_id=exposure_id,
            peer_id=cast.other_peer.id,
            now=clock(),
            settings=settings,
        )
    with pytest.raises(InvalidInput, match="active peer supporter"):
        await followups.reassign_exposure(
            session,
            actor=cast.actor("lead"),
            exposure_id=exposure_id,
            peer_id=cast.clinician.id,
            now=clock(),
            settings=settings,
        )
    with pytest.raises(NotFound):
        await followups.reassign_exposure(
            session,
            actor=cast.actor("peer"),
            exposure_id=exposure_id,
            peer_id=cast.peer.id,
            now=clock(),
            settings=settings,
        )


async def test_bad_incidents_change_nothing(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    import uuid

    good = {"occurred_at": clock(), "kind": "suicide", "station_id": cast.station_a.id, "summary": "Call to a flat."}
    cases = [
        ({**good, "exposures": [incidents.ExposureRef("direct", uuid.uuid4())]}, "exposures[0].person_id"),
        (
            {
                **good,
                "exposures": [
                    incidents.ExposureRef("direct", cast.responder.id),
                    incidents.ExposureRef("witness", cast.responder.id),
                ],
            },
            "exposures[1].person_id",
        ),
        ({**good, "occurred_at": clock() + timedelta(hours=25)}, "occurred_at"),
        ({**good, "occurred_at": clock() - timedelta(days=365 * 20)}, "occurred_at"),
        ({**good, "station_id": uuid.uuid4()}, "station_id"),
        ({**good, "occurred_at": clock().replace(tzinfo=None)}, "occurred_at"),
        ({**good, "kind": "fire"}, "kind"),
        ({**good, "summary": "  "}, "summary"),
        ({**good, "exposures": [incidents.ExposureRef("bystander", cast.responder.id)]}, "exposures[0].exposure"),
    ]
    for data, field in cases:
        with pytest.raises(InvalidInput) as caught:
            await incidents.log_incident(
                session, actor=cast.actor("lead"), data=incidents.IncidentInput(**data), now=clock(), settings=settings
            )
        assert field in caught.value.field_messages(), (field, caught.value.errors)
    assert (await session.exec(select(func.count()).select_from(Incident))).one() == 0
    assert (await session.exec(select(func.count()).select_from(CheckIn))).one() == 0


async def test_status_sql_agrees_with_the_rule(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    people = [await make_person(session, station=cast.station_a) for _ in range(6)]
    await session.commit()
    start = clock()
    for i, person in enumerate(people):
        await make_incident(
            session,
            actor=cast.actor("lead"),
            station=cast.station_a,
            people=[person],
            occurred_at=start - timedelta(days=i * 2, hours=i),
            now=start,
            settings=settings,
        )
    first = (await session.exec(select(CheckIn).limit(1))).one()
    await session.exec(update(CheckIn).where(col(CheckIn.id) == first.id).values(outcome="declined"))
    lead = cast.actor("lead")
    for hours in (0, 30, 71, 72, 73, 100, 130, 200, 700):
        now = start + timedelta(hours=hours)
        every = await followups.list_checkins(
            session, actor=lead, statuses=rules.STATUSES, now=now, settings=settings, limit=1000
        )
        for status in rules.STATUSES:
            listed = {
                v.id
                for v in await followups.list_checkins(
                    session, actor=lead, statuses=[status], now=now, settings=settings, limit=1000
                )
            }
            derived = {v.id for v in every if v.status == status}
            assert listed == derived, (hours, status)


async def test_never_the_persons_line_manager_nor_anyone_they_manage(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    responder, peer, other_peer = cast.responder, cast.peer, cast.other_peer
    lead = cast.actor("lead")
    peer_ids = (peer.id, other_peer.id)
    # The responder's manager is the peer; the other peer is managed by the responder.
    responder.manager_staff_number = peer.staff_number
    other_peer.manager_staff_number = responder.staff_number
    session.add_all([responder, other_peer])
    await session.commit()
    incident = await make_incident(
        session,
        actor=lead,
        station=cast.station_a,
        people=[responder],
        occurred_at=clock(),
        now=clock(),
        settings=settings,
    )
    # Both peers are in the responder's line: nobody qualifies, the check-ins wait.
    assert {c.peer_id for c in await checkins_of(session, responder)} == {None}
    exposure_id = await incidents.exposure_id_for(session, actor=lead, incident_id=incident.id, person_id=responder.id)
    for peer_id in peer_ids:
        with pytest.raises(InvalidInput, match="line manager"):
            await followups.reassign_exposure(
                session, actor=lead, exposure_id=exposure_id, peer_id=peer_id, now=clock(), settings=settings
            )
    # Once the line changes, the rules try again and find the other peer.
    managed = await session.get(Person, peer_ids[1])
    assert managed is not None
    managed.manager_staff_number = None
    session.add(managed)
    await session.commit()
    assert await followups.assign_unassigned(session, actor=lead, now=clock(), settings=settings) == 1
    await session.commit()
    assert {c.peer_id for c in await checkins_of(session, responder)} == {peer_ids[1]}


async def test_the_person_form_keeps_a_line_manager(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    responder = cast.responder
    staff, name, email, station_id, person_id = (
        responder.staff_number,
        responder.name,
        responder.email,
        responder.station_id,
        responder.id,
    )

    def form(manager: str) -> accounts.PersonInput:
        return accounts.PersonInput(staff, name, email, station_id, ["responder"], manager_staff_number=manager)

    lead = cast.actor("admin")
    with pytest.raises(InvalidInput) as refused:
        await edits.update_person(
            session,
            actor=lead,
            person_id=person_id,
            data=form(f"  {staff} "),
            now=clock(),
            settings=settings,
        )
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("manager_staff_number", "A person cannot be their own line manager.")
    ]
    await session.rollback()
    await edits.update_person(
        session, actor=lead, person_id=person_id, data=form(" M-77 "), now=clock(), settings=settings
    )
    await session.commit()
    session.expire_all()
    assert (await accounts.person_view(session, person_id)).manager_staff_number == "M-77"
    await edits.update_person(session, actor=lead, person_id=person_id, data=form(""), now=clock(), settings=settings)
    await session.commit()
    session.expire_all()
    assert (await accounts.person_view(session, person_id)).manager_staff_number is None
