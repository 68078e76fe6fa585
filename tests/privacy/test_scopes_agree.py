"""Each access rule exists once, in two shapes (a Python check for one row, a SQL scope for
lists): these tests hold them against each other over the whole cast, on a world with
every kind of flag and referral, including ones born of a request for a peer and an
open flag whose exposure was removed. And the hole that made this necessary: a peer saw a
referral whose flag was hidden from them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from tests.cast import CAST_ROLES, Cast, actor_for, make_person, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of
from trim.accounts.actor import Actor
from trim.accounts.models import ApiToken, Person
from trim.assessments.models import Assessment
from trim.db import AsyncSession
from trim.errors import NotFound
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure, Incident
from trim.privacy import policy
from trim.privacy.models import AuditEvent
from trim.referrals.models import Referral
from trim.requests import service as request_service
from trim.requests.models import ConversationMessage, PeerRequest
from trim.sharing.models import SharedNote


@dataclass
class World:
    incident_id: str
    exposure_peer: Person  # the responder's peer on the incident
    request_peer: Person  # the other peer, who took the responder's request
    exposure_flag: str
    exposure_referral: str
    request_flag: str
    request_referral: str
    dual: Person  # a lead who is also a clinician


async def _record(client: AsyncTestClient[Litestar], peer: Person, checkin: CheckIn, *, safety: bool) -> None:
    async with signed_in(client, peer) as browser:
        recorded = await browser.post(
            f"/api/checkins/{checkin.id}/record",
            json={"outcome": "completed", "answers": answers_for(checkin.kind, risk_yes=3), "safety_concern": safety},
        )
        assert recorded.status_code == 201, recorded.text


async def _peer_of(session: AsyncSession, cast: Cast, checkin: CheckIn) -> Person:
    return cast.peer if checkin.peer_id == cast.peer.id else cast.other_peer


async def build_world(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession) -> World:
    """An incident with the responder and the supervisor (who is a responder too): each
    day 3 raises an urgent flag; the responder's is referred and shared; the supervisor
    is then removed by the lead with their flag open. The responder also asks for a peer
    with a safety concern; the other peer takes it and refers that flag too."""
    async with signed_in(client, cast.lead) as lead:
        incident = await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=4)).isoformat(),
                "kind": "suicide",
                "station_id": str(cast.station_a.id),
                "summary": "Call to a railway line.",
                "exposures": [
                    {"person_id": str(cast.responder.id), "exposure": "direct"},
                    {"person_id": str(cast.supervisor.id), "exposure": "witness"},
                ],
            },
        )
        assert incident.status_code == 201, incident.text
    day3 = (await checkins_of(session, cast.responder))[0]
    exposure_peer = await _peer_of(session, cast, day3)
    request_peer = cast.other_peer if exposure_peer is cast.peer else cast.peer
    await _record(client, exposure_peer, day3, safety=True)
    supervisor_day3 = (await checkins_of(session, cast.supervisor))[0]
    await _record(client, await _peer_of(session, cast, supervisor_day3), supervisor_day3, safety=True)
    async with signed_in(client, cast.lead) as lead:
        removed = await lead.delete(f"/api/incidents/{incident.json()['id']}/exposures/{cast.supervisor.id}")
        assert removed.status_code == 204
    exposure_flag = (
        await session.exec(select(Flag).where(Flag.person_id == cast.responder.id, col(Flag.exposure_id).is_not(None)))
    ).one()
    async with signed_in(client, exposure_peer) as browser:
        referral = await browser.post(
            f"/api/flags/{exposure_flag.id}/referral",
            json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
        )
        assert referral.status_code == 201, referral.text
    async with signed_in(client, cast.responder) as responder:
        assert (await responder.post(f"/api/referrals/{referral.json()['id']}/share")).status_code == 200
        asked = await responder.post(
            "/api/requests", json={"urgency": "today", "contact_method": "in_person", "safety_concern": True}
        )
        assert asked.status_code == 201, asked.text
    async with signed_in(client, request_peer) as browser:
        assert (await browser.post(f"/api/requests/{asked.json()['id']}/accept")).status_code == 200
        request_flag = (await session.exec(select(Flag).where(col(Flag.source_request_id).is_not(None)))).one()
        request_referral = await browser.post(
            f"/api/flags/{request_flag.id}/referral",
            json={"clinician_id": str(cast.other_clinician.id), "consent": True, "share_assessment": False},
        )
        assert request_referral.status_code == 201, request_referral.text
    dual = await make_person(session, roles=["lead", "clinician"], name="Lead And Clinician")
    return World(
        incident_id=incident.json()["id"],
        exposure_peer=exposure_peer,
        request_peer=request_peer,
        exposure_flag=str(exposure_flag.id),
        exposure_referral=referral.json()["id"],
        request_flag=str(request_flag.id),
        request_referral=request_referral.json()["id"],
        dual=dual,
    )


def everyone(cast: Cast, world: World) -> dict[str, Actor]:
    actors = {who: cast.actor(who) for who in CAST_ROLES}
    actors["dual"] = actor_for(world.dual, ["lead", "clinician"])
    actors["token"] = Actor(id=None, name="integration", email="", roles=frozenset(), token_id=world.dual.id)
    return actors


async def flag_facts(session: AsyncSession, flag: Flag) -> policy.FlagFacts:
    exposures = list(await session.exec(select(Exposure).where(Exposure.person_id == flag.person_id)))
    taken_by = None
    if flag.source_request_id is not None:
        request = await session.get(PeerRequest, flag.source_request_id)
        taken_by = request.accepted_by_id if request else None
    periodic = select(CheckIn.peer_id).where(CheckIn.person_id == flag.person_id, CheckIn.kind == "periodic")
    peers = [p for p in await session.exec(periodic) if p is not None]
    return policy.FlagFacts(flag=flag, exposures=exposures, request_taken_by=taken_by, periodic_peers=peers)


async def test_can_view_flag_agrees_with_flag_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    flags = list(await session.exec(select(Flag)))
    assert len(flags) == 3  # the responder's exposure flag, the removed supervisor's, the request's
    facts = {f.id: await flag_facts(session, f) for f in flags}
    seen: dict[str, set[Any]] = {}
    for who, actor in everyone(cast, world).items():
        in_scope = set(await session.exec(select(Flag.id).where(policy.flag_scope(actor))))
        by_rule = {f.id for f in flags if policy.can_view_flag(actor, facts[f.id])}
        assert in_scope == by_rule, who
        seen[who] = {str(i) for i in by_rule}
    # What the two shapes agree on is the contract.
    assert seen["token"] == seen["admin"] == seen["clinician"] == seen["other_clinician"] == set()
    assert len(seen["lead"]) == len(seen["dual"]) == 3
    exposure_peer = "peer" if world.exposure_peer is cast.peer else "other_peer"
    request_peer = "other_peer" if exposure_peer == "peer" else "peer"
    assert world.exposure_flag in seen[exposure_peer] and world.request_flag not in seen[exposure_peer]
    assert world.request_flag in seen[request_peer]
    assert seen["responder"] == {world.exposure_flag, world.request_flag}
    (supervisor_flag,) = {str(f.id) for f in flags if f.person_id == cast.supervisor.id}
    assert seen["supervisor"] == {supervisor_flag}  # their own, never anyone else's
    # The supervisor's open flag stays with their peer though their exposure was removed.
    supervisor_facts = facts[next(f.id for f in flags if f.person_id == cast.supervisor.id)]
    (removed,) = supervisor_facts.exposures
    assert removed.removed_at is not None
    their_peer = "peer" if removed.peer_id == cast.peer.id else "other_peer"
    assert supervisor_flag in seen[their_peer]


async def test_can_view_referral_agrees_with_referral_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    referrals = list(await session.exec(select(Referral)))
    flags = {f.id: await flag_facts(session, f) for f in await session.exec(select(Flag))}
    for who, actor in everyone(cast, world).items():
        in_scope = set(await session.exec(select(Referral.id).where(policy.referral_scope(actor))))
        by_rule = {
            r.id for r in referrals if policy.can_view_referral(actor, r, flags.get(r.flag_id) if r.flag_id else None)
        }
        assert in_scope == by_rule, who
        # A peer sees a referral exactly when they see its flag.
        if actor.is_peer and not actor.is_lead:
            for r in referrals:
                assert r.flag_id is not None
                sees_flag = policy.can_view_flag(actor, flags[r.flag_id])
                assert (r.id in by_rule) == (sees_flag or r.person_id == actor.id), (who, r.id)


async def test_can_view_checkin_agrees_with_checkin_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    checkins = list(await session.exec(select(CheckIn)))
    assert checkins
    for who, actor in everyone(cast, world).items():
        in_scope = set(await session.exec(select(CheckIn.id).where(policy.checkin_scope(actor))))
        assert in_scope == {c.id for c in checkins if policy.can_view_checkin(actor, c)}, who


async def test_admin_may_list_agrees_with_the_admin_audit_scope(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    await build_world(client, cast, clock, session)
    events = list(await session.exec(select(AuditEvent)))
    listed = set(await session.exec(select(AuditEvent.id).where(policy.admin_audit_scope())))
    assert listed == {e.id for e in events if policy.admin_may_list(e)}
    hidden = {e.action for e in events if not policy.admin_may_list(e)}
    assert {"request.created", "referral.share_confirmed", "flag.raised"} <= hidden
    assert {"session.started", "checkin.recorded", "flag.raised", "referral.offered"} <= {
        e.action for e in events if policy.admin_may_list(e)
    }


async def test_a_peer_cannot_open_a_referral_born_of_a_request_they_did_not_take(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    """The hole as reported: the responder's peer on an incident got 404 on the flag raised
    when the responder asked for a peer, but 200 on its referral page."""
    world = await build_world(client, cast, clock, session)
    async with signed_in(client, world.exposure_peer) as browser:
        assert (await browser.get(f"/flags/{world.request_flag}")).status_code == 404
        assert (await browser.get(f"/referrals/{world.request_referral}")).status_code == 404
        listed = {r["id"] for r in (await browser.get("/api/referrals")).json()}
        assert listed == {world.exposure_referral}
        # Their own person's referral from the incident stays theirs.
        assert (await browser.get(f"/referrals/{world.exposure_referral}")).status_code == 200
    async with signed_in(client, world.request_peer) as browser:
        assert (await browser.get(f"/flags/{world.request_flag}")).status_code == 200
        page = await browser.get(f"/referrals/{world.request_referral}")
        assert page.status_code == 200 and "Safety concern raised when asking for a peer" in page.text
        assert (await browser.get(f"/referrals/{world.exposure_referral}")).status_code == 404


async def test_can_read_assessment_agrees_with_assessment_content_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    assessments = list(await session.exec(select(Assessment)))
    assert len(assessments) == 2  # the responder's day 3 and the removed supervisor's
    seen = {}
    for who, actor in everyone(cast, world).items():
        in_scope = set(await session.exec(select(Assessment.id).where(policy.assessment_content_scope(actor))))
        by_rule = {a.id for a in assessments if policy.can_read_assessment(actor, a)}
        assert in_scope == by_rule, who
        seen[who] = by_rule
    # Answers and notes: the person and the peer who held it; never the lead nor a clinician.
    assert seen["lead"] == seen["dual"] == seen["clinician"] == seen["admin"] == seen["token"] == set()
    assert seen["responder"] == {a.id for a in assessments if a.person_id == cast.responder.id}
    held = {a.id for a in assessments if a.recorded_by_id == world.exposure_peer.id}
    assert held and held <= seen["peer" if world.exposure_peer is cast.peer else "other_peer"]


async def test_can_view_incident_agrees_with_incident_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    incidents = list(await session.exec(select(Incident)))
    exposures = list(await session.exec(select(Exposure)))
    assert any(e.removed_at is not None for e in exposures)  # the removed supervisor
    seen = {}
    for who, actor in everyone(cast, world).items():
        in_scope = set(await session.exec(select(Incident.id).where(policy.incident_scope(actor))))
        by_rule = {i.id for i in incidents if policy.can_view_incident(actor, i, exposures)}
        assert in_scope == by_rule, who
        seen[who] = {str(i) for i in by_rule}
    assert world.incident_id in seen["lead"] and world.incident_id in seen["responder"]
    assert seen["token"] == seen["clinician"] == set()
    # The supervisor, removed, still sees their station's logged incident (by the station rule).
    assert world.incident_id in seen["supervisor"]


async def test_a_token_sees_exactly_the_incidents_it_logged(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    logger = ApiToken(name="dispatch", token_hash="0" * 64, scopes="incidents:write")
    other = ApiToken(name="other", token_hash="1" * 64, scopes="incidents:write")
    session.add_all([logger, other])
    await session.flush()
    logged = await session.get(Incident, uuid.UUID(world.incident_id))
    assert logged is not None
    logged.logged_by_token_id = logger.id
    session.add(logged)
    await session.commit()
    incidents = list(await session.exec(select(Incident)))
    tokens = {
        "logger": Actor(
            id=None,
            name="dispatch",
            email="",
            roles=frozenset(),
            token_id=logger.id,
            token_scopes=frozenset({"incidents:write"}),
        ),
        "other": Actor(
            id=None,
            name="other",
            email="",
            roles=frozenset(),
            token_id=other.id,
            token_scopes=frozenset({"incidents:write"}),
        ),
        "unscoped": Actor(id=None, name="dispatch", email="", roles=frozenset(), token_id=logger.id),
    }
    people = everyone(cast, world)
    for who, actor in {**tokens, **people}.items():
        in_scope = set(await session.exec(select(Incident.id).where(policy.token_incident_scope(actor))))
        assert in_scope == {i.id for i in incidents if policy.token_may_view_incident(actor, i)}, who
        if who != "logger":
            assert in_scope == set(), who
    assert {
        str(i) for i in await session.exec(select(Incident.id).where(policy.token_incident_scope(tokens["logger"])))
    } == {world.incident_id}
    assert (await policy.access_token_incident(session, tokens["logger"], logged.id)).id == logged.id
    with pytest.raises(NotFound):
        await policy.access_token_incident(session, tokens["other"], logged.id)


async def test_request_access_agrees_with_request_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    # A second, open request, so matching peers have something offered to them.
    async with signed_in(client, cast.supervisor) as supervisor:
        asked = await supervisor.post(
            "/api/requests", json={"urgency": "today", "contact_method": "in_person", "safety_concern": False}
        )
        assert asked.status_code == 201, asked.text
    requests = list(await session.exec(select(PeerRequest)))
    assert {r.status for r in requests} >= {"open", "accepted"}
    now = clock()
    levels: dict[str, set[str]] = {}
    for who, actor in everyone(cast, world).items():
        peer = await request_service.peer_facts(session, actor)
        in_scope = set(
            await session.exec(select(PeerRequest.id).where(policy.request_scope(actor, peer=peer, now=now)))
        )
        by_rule = {r.id for r in requests if policy.request_access(actor, r, peer=peer, now=now) is not None}
        assert in_scope == by_rule, who
        levels[who] = {policy.request_access(actor, r, peer=peer, now=now) or "" for r in requests} - {""}
        for r in requests:
            if r.id in by_rule:
                found, level = await policy.access_request(session, actor, r.id, peer=peer, now=now)
                assert found.id == r.id and level == policy.request_access(actor, r, peer=peer, now=now)
            else:
                with pytest.raises(NotFound):
                    await policy.access_request(session, actor, r.id, peer=peer, now=now)
    assert levels["lead"] == {"status"} and levels["token"] == levels["admin"] == set()
    assert levels["responder"] == {"own"}
    assert "taken" in levels["peer" if world.request_peer is cast.peer else "other_peer"]


async def test_exposure_access_status_agrees_with_exposure_scope_for_people_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    rows = list(
        await session.exec(select(Exposure, Incident).join(Incident, col(Incident.id) == col(Exposure.incident_id)))
    )
    for who, actor in everyone(cast, world).items():
        in_scope = set(await session.exec(select(Exposure.id).where(policy.exposure_scope_for_people(actor))))
        assert in_scope == {e.id for e, i in rows if policy.exposure_access(actor, i, e).status}, who


async def test_can_pick_people_agrees_with_pickable_people_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    everybody = set(await session.exec(select(Person.id)))
    for who, actor in everyone(cast, world).items():
        picked = policy.pickable_people(actor).subquery()
        listed = set(await session.exec(select(picked.c.id)))
        assert listed == (everybody if policy.can_pick_people(actor) else set()), who


async def test_shared_note_access_agrees_with_shared_note_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    """A note shared with the supervisor, one withdrawn, and a peer's suggestion waiting."""
    world = await build_world(client, cast, clock, session)
    day3 = (await checkins_of(session, cast.responder))[0]
    async with signed_in(client, world.exposure_peer) as peer:
        form = {"text": "Lighter duties, please.", "_csrf_token": peer.cookies["csrftoken"]}
        assert (await peer.post(f"/checkins/{day3.id}/note-suggestion", data=form, follow_redirects=False)).is_redirect
    async with signed_in(client, cast.responder) as responder:
        for text in ("Back on nights from Monday.", "Off until Friday."):
            form = {"text": text, "manager_id": str(cast.supervisor.id), "_csrf_token": responder.cookies["csrftoken"]}
            assert (await responder.post("/me/notes", data=form, follow_redirects=False)).status_code == 303
        withdrawn = (await session.exec(select(SharedNote).where(SharedNote.status == "shared"))).first()
        assert withdrawn is not None
        token = {"_csrf_token": responder.cookies["csrftoken"]}
        assert (await responder.post(f"/me/notes/{withdrawn.id}/withdraw", data=token)).status_code in (200, 303)
    notes = list(await session.exec(select(SharedNote).execution_options(populate_existing=True)))
    assert sorted(n.status for n in notes) == ["shared", "suggested", "withdrawn"]
    seen: dict[str, dict[str, str]] = {}
    for who, actor in everyone(cast, world).items():
        in_scope = set(await session.exec(select(SharedNote.id).where(policy.shared_note_scope(actor))))
        levels = {n.status: level for n in notes if (level := policy.shared_note_access(actor, n)) is not None}
        assert in_scope == {n.id for n in notes if policy.shared_note_access(actor, n) is not None}, who
        seen[who] = levels
    assert seen["responder"] == {"shared": "own", "suggested": "own", "withdrawn": "own"}
    assert seen["supervisor"] == {"shared": "manager"}  # never the withdrawn one, never a suggestion
    assert seen["lead"] == seen["dual"] == {"shared": "status", "withdrawn": "status"}
    for who in ("peer", "other_peer", "clinician", "other_clinician", "admin", "token"):
        assert seen[who] == {}, who


async def test_can_view_conversation_agrees_with_conversation_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    # The world's request (the responder's, taken by request_peer) gets a message each way,
    # and an open request of the supervisor's, which nobody has taken, stays without any.
    (taken,) = list(await session.exec(select(PeerRequest).where(col(PeerRequest.status) == "accepted")))
    for person in (cast.responder, world.request_peer):
        async with signed_in(client, person) as browser:
            sent = await browser.post(
                f"/api/conversations/{taken.id}/messages", json={"client_id": "agree-1", "body": "hello"}
            )
            assert sent.status_code == 201, sent.text
    async with signed_in(client, cast.supervisor) as supervisor:
        asked = await supervisor.post(
            "/api/requests", json={"urgency": "today", "contact_method": "in_person", "safety_concern": False}
        )
        assert asked.status_code == 201
    request_peer = "peer" if world.request_peer is cast.peer else "other_peer"
    requests = {r.id: r for r in await session.exec(select(PeerRequest))}
    messages = list(await session.exec(select(ConversationMessage)))
    assert len(messages) == 2
    readers = set()
    for who, actor in everyone(cast, world).items():
        in_scope = set(await session.exec(select(policy.visible_messages(actor).subquery().c.id)))
        by_rule = {m.id for m in messages if policy.can_view_conversation(actor, requests[m.request_id])}
        assert in_scope == by_rule, who
        if by_rule:
            readers.add(who)
        for r in requests.values():
            if policy.can_view_conversation(actor, r):
                assert (await policy.access_conversation(session, actor, r.id)).id == r.id
            else:
                with pytest.raises(NotFound):
                    await policy.access_conversation(session, actor, r.id)
    assert readers == {"responder", request_peer}


async def test_can_plan_incident_agrees_with_planning_scope_over_the_cast(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    world = await build_world(client, cast, clock, session)
    contact = Incident(
        occurred_at=clock(),
        kind="other",
        kind_other="Support contact",
        summary="Ongoing support after a request for a peer.",
        logged_by_label="Peer",
        source="request",
    )
    session.add(contact)
    manager = await make_person(session, roles=["responder", "peer", "trim_manager"])
    await session.commit()
    actors = everyone(cast, world)
    actors["trim_manager"] = actor_for(manager, ["responder", "peer", "trim_manager"])
    incidents = list(await session.exec(select(Incident)))
    seen = {}
    for who, actor in actors.items():
        in_scope = set(await session.exec(select(Incident.id).where(policy.planning_scope(actor))))
        by_rule = {i.id for i in incidents if policy.can_plan_incident(actor, i)}
        assert in_scope == by_rule, who
        seen[who] = {str(i) for i in by_rule}
    assert world.incident_id in seen["lead"] and world.incident_id in seen["trim_manager"]
    assert str(contact.id) not in seen["lead"] | seen["trim_manager"]  # a support contact has no planning
    for who in ("responder", "peer", "other_peer", "supervisor", "clinician", "admin", "token"):
        assert seen[who] == set(), who
