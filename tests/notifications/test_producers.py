"""Flags, referrals and requests tell the right people by email, once, with nothing
confidential in the message (every message is scanned by this folder's conftest)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from tests.cast import Cast, make_person
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of, make_incident
from tests.notifications.conftest import MailServer, Workers
from trim.assessments import service as assessments
from trim.config import Settings
from trim.db import AsyncSession
from trim.errors import InvalidInput
from trim.flags import service as flags
from trim.privacy.models import AuditEvent
from trim.referrals import service as referrals
from trim.requests import service as requests


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"oncall_emails": ["oncall@trim.example"]}


def recipients(server: MailServer) -> list[str]:
    return sorted(str(m["To"]) for m in server.messages)


async def _urgent_flag(db: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings):  # type: ignore[no-untyped-def]
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=4),
        now=clock(),
        settings=settings,
    )
    day3 = (await checkins_of(db, cast.responder))[0]
    actor = cast.actor("peer") if day3.peer_id == cast.peer.id else cast.actor("other_peer")
    recorded = await assessments.record_checkin(
        db,
        actor=actor,
        checkin_id=day3.id,
        now=clock(),
        settings=settings,
        submission=assessments.Submission("completed", answers=answers_for("day3"), safety_concern=True),
    )
    await db.commit()
    return recorded.flags[0], actor


async def test_an_urgent_flag_reaches_the_peer_and_lead_at_once_and_on_call_if_nobody_acts(
    db: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, workers: Workers, smtp_server: MailServer
) -> None:
    flag, peer = await _urgent_flag(db, cast, clock, settings)
    worker = workers.new()
    await worker.tick()
    assert recipients(smtp_server) == sorted([cast.lead.email, peer.email])
    assert all(m["Subject"] == "Urgent: a safety concern needs you now" for m in smtp_server.messages)
    clock.advance(minutes=settings.urgent_ack_minutes + 1)
    await worker.tick()
    await worker.tick()
    on_call = [m for m in smtp_server.messages if m["To"] == "oncall@trim.example"]
    assert len(on_call) == 1 and f"/flags/{flag.id}" in on_call[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_an_acknowledged_urgent_flag_does_not_go_to_on_call(
    db: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, workers: Workers, smtp_server: MailServer
) -> None:
    flag, peer = await _urgent_flag(db, cast, clock, settings)
    with pytest.raises(InvalidInput):
        await flags.acknowledge_flag(db, actor=peer, flag_id=flag.id, action="", now=clock())
    await flags.acknowledge_flag(
        db, actor=peer, flag_id=flag.id, action="other", note="Sat with him till his wife came.", now=clock()
    )
    await db.commit()
    # The audit says what kind of action, never the words.
    (details,) = (await db.exec(select(AuditEvent.details).where(AuditEvent.action == "flag.acknowledged"))).all()
    await db.rollback()  # a read opens a transaction; the worker below needs the database
    assert details == {"action": "other"}
    clock.advance(minutes=settings.urgent_ack_minutes + 5)
    await workers.new().tick()
    assert "oncall@trim.example" not in recipients(smtp_server)


async def test_a_referral_tells_the_clinician(
    db: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, workers: Workers, smtp_server: MailServer
) -> None:
    flag, peer = await _urgent_flag(db, cast, clock, settings)
    await referrals.offer_referral(
        db,
        actor=peer,
        flag_id=flag.id,
        consent=True,
        share_assessment=False,
        clinician_id=cast.clinician.id,
        now=clock(),
    )
    await db.commit()
    await workers.new().tick()
    to_clinician = [m for m in smtp_server.messages if m["To"] == cast.clinician.email]
    assert [m["Subject"] for m in to_clinician] == ["A new confidential referral"]


async def test_a_share_request_asks_the_person_with_nothing_but_a_link(
    db: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, workers: Workers, smtp_server: MailServer
) -> None:
    """Sharing waits for the person's OK: they are emailed that something waits (no names,
    no content), and the clinician hears only that the referral changed once they agree."""
    flag, peer = await _urgent_flag(db, cast, clock, settings)
    referral = await referrals.offer_referral(
        db,
        actor=peer,
        flag_id=flag.id,
        consent=True,
        share_assessment=True,
        clinician_id=cast.clinician.id,
        now=clock(),
    )
    await db.commit()
    await workers.new().tick()
    (asked,) = [m for m in smtp_server.messages if m["To"] == cast.responder.email]
    assert asked["Subject"] == "Something is waiting for your OK"
    assert f"{settings.base_url}/me#referrals" in asked.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await referrals.confirm_share(db, actor=cast.actor("responder"), referral_id=referral.id, now=clock())
    await db.commit()
    await workers.new().tick()
    to_clinician = [m["Subject"] for m in smtp_server.messages if m["To"] == cast.clinician.email]
    assert to_clinician == ["A new confidential referral", "A referral has been updated"]
    assert [m["Subject"] for m in smtp_server.messages if m["To"] == cast.responder.email] == [asked["Subject"]]


async def test_a_request_tells_matching_peers_then_escalates_to_the_lead(
    db: AsyncSession,
    session: AsyncSession,
    cast: Cast,
    clock: FakeClock,
    settings: Settings,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    same_station = await make_person(
        session, roles=["responder", "peer"], station=cast.station_a, email="samestation@example.org"
    )
    await requests.submit(
        db,
        actor=cast.actor("responder"),
        now=clock(),
        settings=settings,
        data=requests.RequestInput("today", "phone", "020 7946 0770", False, avoid_own_station=True),
    )
    await db.commit()
    worker = workers.new()
    await worker.tick()
    assert recipients(smtp_server) == sorted([cast.peer.email, cast.other_peer.email])
    assert same_station.email not in recipients(smtp_server)
    clock.advance(minutes=settings.request_escalate_minutes_today)
    await worker.tick()
    await worker.tick()
    escalations = [m for m in smtp_server.messages if m["Subject"] == "A request for a peer is still waiting"]
    assert [m["To"] for m in escalations] == [cast.lead.email]


async def test_a_named_peer_hears_first_and_the_rest_when_their_window_ends(
    db: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, workers: Workers, smtp_server: MailServer
) -> None:
    await requests.submit(
        db,
        actor=cast.actor("responder"),
        now=clock(),
        settings=settings,
        data=requests.RequestInput("this_week", "phone", "020 7946 0770", False, preferred_peer_id=cast.other_peer.id),
    )
    await db.commit()
    worker = workers.new()
    await worker.tick()
    assert recipients(smtp_server) == [cast.other_peer.email]
    clock.advance(minutes=settings.named_peer_window_minutes + 1)
    await worker.tick()
    await worker.tick()
    assert recipients(smtp_server) == sorted([cast.other_peer.email, cast.peer.email])
