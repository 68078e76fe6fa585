"""The outbox as other areas use it: enqueue and notify_role, people's choices, and the
messages today's producers write (role changes, a peer's work handed on)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from tests.notifications.conftest import SUMMARY, outbox
from trim.accounts import service as accounts
from trim.accounts.roster import import_roster
from trim.config import Settings
from trim.db import AsyncSession
from trim.errors import InvalidInput
from trim.notifications import service as notifications
from trim.notifications.models import NotificationPreference


async def test_enqueue_writes_one_row_with_the_persons_address(
    session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    written = await notifications.enqueue(
        session,
        person_id=cast.peer.id,
        kind="checkin_due",
        subject="You have a check-in due",
        body="A check-in is due.",
        link="/checkins/x",
        dedupe_key="k1",
        now=clock(),
    )
    assert written is True
    again = await notifications.enqueue(
        session, person_id=cast.peer.id, kind="checkin_due", subject="s", body="b", dedupe_key="k1", now=clock()
    )
    assert again is False  # the same dedupe key says the same thing once
    rows = await outbox(session)
    assert [(r.to_address, r.kind, r.link, r.next_attempt_at, r.sent_at) for r in rows] == [
        ("peer@example.org", "checkin_due", "/checkins/x", clock(), None)
    ]


async def test_enqueue_to_an_address_that_is_not_a_person(session: AsyncSession, clock: FakeClock) -> None:
    assert await notifications.enqueue(
        session, email="On-Call@Example.org", kind="urgent_flag", subject="Urgent", body="Please look.", now=clock()
    )
    (row,) = await outbox(session)
    assert (row.to_address, row.person_id, row.urgent) == ("on-call@example.org", None, True)


async def test_enqueue_refuses_what_it_cannot_send(session: AsyncSession, cast: Cast, clock: FakeClock) -> None:
    for bad in (
        {"person_id": cast.peer.id, "email": "x@example.org"},
        {},
        {"person_id": cast.peer.id, "kind": "gossip"},
        {"person_id": cast.peer.id, "link": "https://elsewhere.example/checkins"},
        {"person_id": cast.peer.id, "subject": " "},
        {"email": "not-an-address"},
    ):
        args = {"kind": "checkin_due", "subject": "s", "body": "b", "now": clock(), **bad}
        with pytest.raises(ValueError):
            await notifications.enqueue(session, **args)  # type: ignore[arg-type]
    assert await outbox(session) == []


async def test_a_kind_switched_off_is_not_written(session: AsyncSession, cast: Cast, clock: FakeClock) -> None:
    await notifications.set_preferences(session, actor=cast.actor("peer"), choices={"checkin_due": "none"}, now=clock())
    await session.commit()
    assert not await notifications.enqueue(
        session, person_id=cast.peer.id, kind="checkin_due", subject="s", body="b", now=clock()
    )
    assert await notifications.enqueue(
        session, person_id=cast.peer.id, kind="checkin_overdue", subject="s", body="b", now=clock()
    )
    assert [r.kind for r in await outbox(session)] == ["checkin_overdue"]


async def test_urgent_email_reaches_a_peer_who_switched_flags_off(
    session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    await notifications.set_preferences(session, actor=cast.actor("peer"), choices={"flag": "none"}, now=clock())
    # Even a stored "none" for an urgent kind (from an older version, or by hand) is ignored.
    session.add(NotificationPreference(person_id=cast.peer.id, kind="urgent_flag", channel="none"))
    await session.commit()
    assert not await notifications.enqueue(
        session, person_id=cast.peer.id, kind="flag", subject="A flag", body="b", now=clock()
    )
    assert await notifications.enqueue(
        session, person_id=cast.peer.id, kind="flag", subject="Urgent", body="b", urgent=True, now=clock()
    )
    assert await notifications.enqueue(
        session, person_id=cast.peer.id, kind="urgent_flag", subject="Urgent", body="b", now=clock()
    )
    assert len(await outbox(session)) == 2


async def test_peers_and_the_lead_cannot_switch_urgent_messages_off(
    session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    for who, kind in (("peer", "urgent_flag"), ("lead", "urgent_flag"), ("lead", "escalation")):
        with pytest.raises(InvalidInput) as refused:
            await notifications.set_preferences(session, actor=cast.actor(who), choices={kind: "none"}, now=clock())
        assert refused.value.field_messages() == {kind: "Urgent messages cannot be switched off."}
    with pytest.raises(InvalidInput) as not_theirs:
        await notifications.set_preferences(
            session, actor=cast.actor("responder"), choices={"checkin_due": "none"}, now=clock()
        )
    assert "not one you receive" in not_theirs.value.field_messages()["checkin_due"]
    with pytest.raises(InvalidInput):  # the lead has no digest
        await notifications.set_preferences(
            session, actor=cast.actor("lead"), choices={"checkin_due": "digest"}, now=clock()
        )


async def test_inactive_people_get_nothing_but_account_notices(
    session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    await accounts.set_active(session, actor=cast.actor("admin"), person_id=cast.peer.id, active=False, now=clock())
    await session.commit()
    assert not await notifications.enqueue(
        session, person_id=cast.peer.id, kind="checkin_due", subject="s", body="b", now=clock()
    )
    assert await notifications.enqueue(
        session, person_id=cast.peer.id, kind="account", subject="s", body="b", now=clock()
    )


async def test_notify_role_writes_to_every_active_holder_once(
    session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    second_lead = await accounts.create_person(
        session,
        actor=cast.actor("admin"),
        data=accounts.PersonInput("L2", "Second Lead", "lead2@example.org", None, ["lead"]),
    )
    await session.commit()
    args = {"role": "lead", "kind": "escalation", "subject": "Waiting", "body": "b", "dedupe_key": "esc:1"}
    assert await notifications.notify_role(session, **args, now=clock()) == 2  # type: ignore[arg-type]
    assert await notifications.notify_role(session, **args, now=clock()) == 0  # type: ignore[arg-type]
    escalations = [r for r in await outbox(session) if r.kind == "escalation"]
    assert sorted(r.to_address for r in escalations) == ["lead2@example.org", "lead@example.org"]
    assert second_lead.id in {r.person_id for r in escalations}


async def test_a_role_change_is_emailed_to_the_person_without_saying_who_made_it(
    session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    await accounts.set_roles(
        session, actor=cast.actor("admin"), person_id=cast.responder.id, roles=["responder", "peer"], now=clock()
    )
    await session.commit()
    (row,) = await outbox(session)
    assert (row.person_id, row.kind, row.subject, row.link) == (
        cast.responder.id,
        "account",
        "Your roles have changed",
        "/profile",
    )
    assert "Added: Peer supporter." in row.body
    assert cast.admin.name not in row.body


async def test_a_roster_role_change_is_emailed_too(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    person = await accounts.person_view(session, cast.responder.id)
    csv = f"staff_number,name,email,station,roles\n{person.staff_number},{person.name},{person.email},,lead\n"
    report = await import_roster(session, actor=cast.actor("admin"), data=csv.encode(), now=clock(), settings=settings)
    await session.commit()
    assert report.updated == 1
    rows = await outbox(session)
    (row,) = [r for r in rows if r.person_id == cast.responder.id]
    assert "Added: Programme lead." in row.body and "Removed: Responder." in row.body
    # The lead role reaches more than most: the lead already in post is told too.
    (lead,) = [r for r in rows if r.person_id == cast.lead.id]
    assert lead.subject == "A role with wider access was granted"


async def test_the_lead_is_told_when_an_unavailable_peers_work_is_handed_on(
    client: AsyncTestClient[Litestar], session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(hours=1),
        now=clock(),
        settings=settings,
        summary=SUMMARY,
    )
    assert await outbox(session) == []  # assigning a peer sends nothing by itself
    assigned = (await checkins_of(session, cast.responder))[0].peer_id
    async with signed_in(client, cast.person("peer" if assigned == cast.peer.id else "other_peer")) as browser:
        await browser.get("/profile")
        response = await browser.post("/profile/availability", data={"available": "no"})
        assert "handed on" in response.text
    rows = await outbox(session)
    handed = [r for r in rows if r.kind == "reassignment"]
    assert [r.to_address for r in handed] == ["lead@example.org"]
    assert handed[0].link == "/overview"
    assert "1 person" in handed[0].body


async def test_enqueue_many_applies_each_persons_choices_in_one_go(
    session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    await notifications.set_preferences(
        session, actor=cast.actor("other_peer"), choices={"checkin_due": "digest"}, now=clock()
    )
    await session.commit()
    Message = notifications.Message
    written = await notifications.enqueue_many(
        session,
        [
            Message("checkin_due", "Due", "b", person_id=cast.peer.id, dedupe_key="a"),
            Message("checkin_due", "Due", "b", person_id=cast.peer.id, dedupe_key="a"),  # same key, same batch
            Message("checkin_due", "Due", "b", person_id=cast.other_peer.id, dedupe_key="b"),  # in the digest
            Message("escalation", "Waiting", "b", email="oncall@example.org"),
        ],
        now=clock(),
    )
    assert written == 2
    assert sorted(r.to_address for r in await outbox(session)) == ["oncall@example.org", "peer@example.org"]
