"""Asking for a peer: matching, the named-peer window, one winner, escalation, withdrawal,
and nobody else seeing anything."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlmodel import select

from tests.cast import Cast, make_person, signed_in
from tests.conftest import FakeClock
from trim.accounts.actor import Actor
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.errors import Conflict
from trim.incidents.models import Incident
from trim.requests import jobs, rules, service
from trim.requests.models import PeerRequest

A, B = uuid.uuid4(), uuid.uuid4()
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def req(**kw: Any) -> PeerRequest:
    base: dict[str, Any] = {
        "requester_id": uuid.uuid4(),
        "requester_station_id": A,
        "urgency": "today",
        "contact_method": "phone",
        "status": "open",
        "created_at": NOW,
    }
    base.update(kw)
    return PeerRequest(**base)


@pytest.mark.parametrize(
    ("request_kw", "peer", "now", "expected"),
    [
        ({}, rules.PeerFacts(uuid.uuid4(), A, True), NOW, True),
        ({"avoid_own_station": True}, rules.PeerFacts(uuid.uuid4(), A, True), NOW, False),
        ({"avoid_own_station": True}, rules.PeerFacts(uuid.uuid4(), B, True), NOW, True),
        ({"avoid_own_station": True}, rules.PeerFacts(uuid.uuid4(), None, True), NOW, True),
        ({}, rules.PeerFacts(uuid.uuid4(), B, False), NOW, False),
    ],
)
def test_matching_rules(request_kw: dict[str, Any], peer: rules.PeerFacts, now: datetime, expected: bool) -> None:
    assert rules.matches(req(**request_kw), peer, now) is expected


def test_the_named_peer_alone_until_the_window_ends() -> None:
    named, other = rules.PeerFacts(uuid.uuid4(), B, True), rules.PeerFacts(uuid.uuid4(), B, True)
    r = req(preferred_peer_id=named.id, named_peer_until=NOW + timedelta(hours=1))
    assert rules.matches(r, named, NOW) and not rules.matches(r, other, NOW)
    later = NOW + timedelta(hours=1)
    assert rules.matches(r, named, later) and rules.matches(r, other, later)


def test_never_offered_to_the_requester() -> None:
    me = uuid.uuid4()
    assert not rules.matches(req(requester_id=me), rules.PeerFacts(me, B, True), NOW)


def test_escalation_timing() -> None:
    limit = timedelta(hours=2)
    assert not rules.escalation_due(created_at=NOW, urgency_limit=limit, now=NOW + limit - timedelta(seconds=1))
    assert rules.escalation_due(created_at=NOW, urgency_limit=limit, now=NOW + limit)


def data(**kw: Any) -> service.RequestInput:
    base: dict[str, Any] = {
        "urgency": "today",
        "contact_method": "phone",
        "contact": "020 7946 0123",
        "safety_concern": False,
        "message": "Can't stop thinking about Tuesday.",
    }
    base.update(kw)
    return service.RequestInput(**base)


async def test_matching_sql_agrees_with_the_rule(
    db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    import random

    rng = random.Random(7)
    people = [cast.responder, cast.supervisor, cast.lead]
    for i in range(24):
        who = people[i % 3]
        actor = cast.actor(
            {cast.responder.id: "responder", cast.supervisor.id: "supervisor", cast.lead.id: "lead"}[who.id]
        )
        await service.submit(
            db,
            actor=actor,
            now=clock() - timedelta(minutes=rng.randint(0, 120)),
            settings=settings,
            data=data(
                avoid_own_station=rng.random() < 0.5,
                preferred_peer_id=rng.choice([None, cast.peer.id, cast.other_peer.id]),
            ),
        )
    await db.commit()
    for who in ("peer", "other_peer"):
        actor = cast.actor(who)
        facts = await service.peer_facts(db, actor)
        assert facts is not None
        every = list(await db.exec(select(PeerRequest)))
        listed = {
            v.request.id
            for v in await service.list_requests(db, actor=actor, settings=settings, now=clock())
            if v.level == "offered"
        }
        assert listed == {r.id for r in every if rules.matches(r, facts, clock())}


async def test_submit_encrypts_and_matching_peers_see_it_at_once(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    created = await service.submit(
        db, actor=cast.actor("responder"), now=clock(), settings=settings, data=data(avoid_own_station=True)
    )
    await db.commit()
    raw = (await session.exec(text("SELECT message_encrypted, contact_encrypted FROM peer_requests"))).one()  # type: ignore[call-overload]
    assert "Tuesday" not in raw[0] and "7946" not in raw[1]
    for who in ("peer", "other_peer"):  # both at other stations than the responder's (A)
        views = await service.list_requests(db, actor=cast.actor(who), settings=settings, now=clock())
        assert [(v.request.id, v.level, v.message, v.requester_name) for v in views] == [
            (created.id, "offered", None, None)
        ]


async def test_bad_requests_change_nothing(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    from trim.errors import InvalidInput

    for bad, field in [
        (data(urgency="soon"), "urgency"),
        (data(contact_method="pigeon"), "contact_method"),
        (data(contact=""), "contact"),
        (data(message="x" * 2001), "message"),
        (data(preferred_peer_id=cast.supervisor.id), "preferred_peer_id"),
        (data(preferred_peer_id=cast.responder.id), "preferred_peer_id"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            await service.submit(db, actor=cast.actor("responder"), now=clock(), settings=settings, data=bad)
        assert field in caught.value.field_messages()
    assert list(await session.exec(select(PeerRequest))) == []


async def test_two_peers_accept_at_once_exactly_one_wins(
    postgres_url: str, cast: Cast, settings: Settings, db: AsyncSession, clock: FakeClock
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the race is proven on PostgreSQL (SQLite serialises writers)")
    created = await service.submit(db, actor=cast.actor("responder"), now=clock(), settings=settings, data=data())
    await db.commit()
    engine = create_engine(settings.database_url, pool_size=4)
    maker = make_sessionmaker(engine)
    start = asyncio.Event()

    async def take(actor: Actor) -> str:
        async with maker() as tx:
            await start.wait()
            try:
                await service.accept(tx, actor=actor, request_id=created.id, now=clock(), settings=settings)
                await tx.commit()
                return "won"
            except Conflict as exc:
                await tx.rollback()
                return exc.detail

    tasks = [asyncio.create_task(take(cast.actor(w))) for w in ("peer", "other_peer")]
    await asyncio.sleep(0.05)
    start.set()
    results = sorted(await asyncio.gather(*tasks))
    await engine.dispose()
    assert results == ["Another peer has already taken this request.", "won"]


async def test_ongoing_support_schedules_checkins_with_the_same_peer(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    created = await service.submit(db, actor=cast.actor("responder"), now=clock(), settings=settings, data=data())
    await service.accept(db, actor=cast.actor("peer"), request_id=created.id, now=clock(), settings=settings)
    await service.close(
        db, actor=cast.actor("peer"), request_id=created.id, outcome="ongoing_support", now=clock(), settings=settings
    )
    await db.commit()
    from tests.helpers import checkins_of

    checkins = await checkins_of(session, cast.responder)
    assert [c.kind for c in checkins] == ["day3", "day28"] and {c.peer_id for c in checkins} == {cast.peer.id}
    support = (await session.exec(select(Incident))).one()
    assert support.source == "request"
    # The responder's supervisor sees no "incident" at their station.
    from trim.incidents import service as incidents

    listed, total = await incidents.list_incidents(db, actor=cast.actor("supervisor"))
    assert (listed, total) == ([], 0)


async def test_escalation_happens_once_after_the_limit(
    db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    created = await service.submit(db, actor=cast.actor("responder"), now=clock(), settings=settings, data=data())
    await db.commit()
    clock.advance(minutes=settings.request_escalate_minutes_today - 1)
    assert await jobs.escalate_unanswered(db, now=clock(), settings=settings) == []
    clock.advance(minutes=1)
    assert await jobs.escalate_unanswered(db, now=clock(), settings=settings) == [created.id]
    assert await jobs.escalate_unanswered(db, now=clock(), settings=settings) == []
    await db.commit()


async def api_request(client: AsyncTestClient[Litestar], person: Any, **kw: Any) -> dict[str, Any]:
    async with signed_in(client, person) as browser:
        response = await browser.post(
            "/api/requests",
            json={
                "urgency": "this_week",
                "contact_method": "text",
                "contact": "020 7946 0456",
                "safety_concern": False,
                "message": "Rough week.",
                **kw,
            },
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


async def test_only_the_right_people_see_a_request(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    colleague = await make_person(session, roles=["responder", "peer"], station=cast.station_a)
    await session.commit()
    created = await api_request(client, cast.responder, avoid_own_station=True)
    url = f"/api/requests/{created['id']}"
    async with signed_in(client, colleague) as same_station:  # a peer at the requester's own station
        assert (await same_station.get(url)).status_code == 404
        assert (await same_station.post(url + "/accept")).status_code == 404
        assert (await same_station.get("/api/requests")).json() == []
    for person in (cast.supervisor, cast.admin, cast.clinician):
        async with signed_in(client, person) as browser:
            assert (await browser.get(url)).status_code == 404, person.name
            assert (await browser.get(f"/requests/{created['id']}")).status_code == 404, person.name
    async with signed_in(client, cast.lead) as lead:
        seen = (await lead.get(url)).json()
        assert seen["access"] == "status" and seen["message"] is None and seen["requester"] is None
    async with signed_in(client, cast.peer) as peer:
        offered = (await peer.get(url)).json()
        assert offered["access"] == "offered" and offered["contact"] is None and offered["requester"] is None
        assert (await peer.post(url + "/accept")).status_code == 200
        taken = (await peer.get(url)).json()
        assert (taken["requester"], taken["contact"], taken["message"]) == (
            cast.responder.name,
            "020 7946 0456",
            "Rough week.",
        )
    async with signed_in(client, cast.other_peer) as other:
        assert (await other.post(url + "/accept")).status_code == 409
        assert (await other.get(url)).status_code == 404
    async with signed_in(client, cast.responder) as responder:
        mine = (await responder.get(url)).json()
        assert mine["status"] == "accepted" and mine["access"] == "own"
        page = await responder.get(f"/requests/{created['id']}")
        assert f"Accepted by {cast.peer.name}" in page.text


async def test_requester_withdraws(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    created = await api_request(client, cast.responder)
    async with signed_in(client, cast.peer) as peer:
        assert (await peer.post(f"/api/requests/{created['id']}/withdraw")).status_code == 404
    async with signed_in(client, cast.responder) as responder:
        done = await responder.post(f"/api/requests/{created['id']}/withdraw")
        assert done.json()["status"] == "withdrawn"
    async with signed_in(client, cast.peer) as peer:
        assert (await peer.get("/api/requests")).json() == []
        assert (await peer.post(f"/api/requests/{created['id']}/accept")).status_code == 409


async def test_safety_concern_raises_an_urgent_flag_and_shows_guidance(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    created = await api_request(client, cast.responder, safety_concern=True)
    assert "Samaritans" in created["crisis_guidance"]
    async with signed_in(client, cast.lead) as lead:
        flags = (await lead.get("/api/flags")).json()
        assert [(f["cause"], f["urgent"]) for f in flags] == [("request_safety", True)]
    async with signed_in(client, cast.peer) as peer:
        assert (await peer.get("/api/flags")).json() == []  # not theirs until they take it
        await peer.post(f"/api/requests/{created['id']}/accept")
        assert len((await peer.get("/api/flags")).json()) == 1


async def test_the_phone_form(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    async with signed_in(client, cast.responder) as responder:
        poster = await responder.get("/ask", follow_redirects=False)
        assert poster.headers["location"] == "/requests/new"
        form = await responder.get("/requests/new")
        assert cast.peer.name in form.text
        token = responder.cookies["csrftoken"]
        missing = await responder.post(
            "/requests/new",
            data={"_csrf_token": token, "urgency": "today", "contact_method": "phone", "contact": "020 7946 0123"},
        )
        assert missing.status_code == 422
        # The banner names the question, not "this question".
        assert "Your request was not sent: Answer the safety question, about harming yourself or others" in missing.text
        assert 'value="020 7946 0123"' in missing.text
        sent = await responder.post(
            "/requests/new",
            data={
                "_csrf_token": token,
                "urgency": "today",
                "contact_method": "in_person",
                "safety_concern": "no",
                "message": "After the fire.",
            },
        )
        assert "Thank you for asking" in sent.text and "Withdraw my request" in sent.text


async def test_the_ask_form_reports_every_problem_at_once(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    async with signed_in(client, cast.responder) as responder:
        await responder.get("/requests/new")
        refused = await responder.post(
            "/requests/new",
            data={"_csrf_token": responder.cookies["csrftoken"], "contact_method": "phone", "contact": "not a phone!!"},
        )
    assert refused.status_code == 422
    banner = re.search(r'<p class="flash flash-error" role="alert">(.*?)</p>', refused.text, flags=re.S)
    assert banner is not None
    for words in ("safety question", "Choose how soon", "Enter a phone number"):
        assert words in banner.group(1), words
    assert 'value="not a phone!!"' in refused.text


async def test_the_poster_link_says_what_asking_means_before_sign_in(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    """A station poster's /ask, opened by someone not signed in: confidential, its one limit,
    the crisis numbers as tap-to-call links, then the way in (which comes back to the form)."""
    async with signed_in(client, None) as stranger:
        page = await stranger.get("/ask", follow_redirects=False)
    assert page.status_code == 200
    assert "your supervisor is not told" in page.text and "The one exception:" in page.text
    assert '<a href="tel:999">999</a>' in page.text and '<a href="tel:116123">116 123</a>' in page.text
    assert 'href="/signin?next=/requests/new"' in page.text
    async with signed_in(client, cast.responder) as responder:
        assert (await responder.get("/ask", follow_redirects=False)).headers["location"] == "/requests/new"
