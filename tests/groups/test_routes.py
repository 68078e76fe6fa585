"""The groups API on both databases: the lead tags a group and its members; the member sees
their group and opts out; a supervisor gets 404 on anyone's membership but their own."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for
from trim.config import Settings
from trim.db import AsyncSession
from trim.followups import periodic


async def test_member_sees_their_group_and_opts_out(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    async with signed_in(client, cast.lead) as lead:
        made = await lead.post("/api/groups", json={"name": "Control room", "cadence_days": 180})
        assert made.status_code == 201, made.text
        group = made.json()
        twin = await lead.post("/api/groups", json={"name": "control room", "cadence_days": 30})
        assert twin.status_code == 409
        bad = await lead.post("/api/groups", json={"name": "CSI", "cadence_days": 1})
        assert bad.status_code == 422
        put = await lead.put(f"/api/groups/{group['id']}/members", json={"person_ids": [str(cast.responder.id)]})
        assert [m["person_id"] for m in put.json()] == [str(cast.responder.id)]
        listed = (await lead.get("/api/groups")).json()
        assert [(g["name"], g["cadence_days"], g["members"]) for g in listed] == [("Control room", 180, 1)]
    async with signed_in(client, cast.responder) as me:
        mine = (await me.get("/api/me/periodic")).json()
        assert [g["name"] for g in mine["groups"]] == ["Control room"] and mine["opted_out"] is False
        assert (await me.put("/api/me/periodic", json={"opted_out": True})).json()["opted_out"] is True
        assert (await me.get(f"/api/people/{cast.responder.id}/groups")).json()["opted_out"] is True
    async with signed_in(client, cast.lead) as lead:
        assert (await lead.get(f"/api/people/{cast.responder.id}/groups")).json()["opted_out"] is True


async def test_supervisor_gets_404_on_group_membership_of_anyone_but_themselves(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    async with signed_in(client, cast.supervisor) as s:
        assert (await s.get(f"/api/people/{cast.responder.id}/groups")).status_code == 404
        own = await s.get(f"/api/people/{cast.supervisor.id}/groups")
        assert own.status_code == 200 and own.json() == {"groups": [], "opted_out": False}
        assert (await s.get("/api/groups")).status_code == 404


async def test_periodic_checkin_has_no_incident_in_the_api_and_is_recorded_like_any_other(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        group = (await lead.post("/api/groups", json={"name": "Control room", "cadence_days": 180})).json()
        await lead.put(f"/api/groups/{group['id']}/members", json={"person_ids": [str(cast.responder.id)]})
    assert await periodic.sweep_periodic(session, now=clock(), settings=settings) == 1
    async with signed_in(client, cast.responder) as me:
        [mine] = (await me.get("/api/checkins")).json()
        assert (mine["kind"], mine["incident_id"], mine["status"]) == ("periodic", None, "due")
        one = (await me.get(f"/api/checkins/{mine['id']}")).json()
        assert one["incident_id"] is None
        listed = await me.get("/me/checkins")
        assert "Periodic check-in (Control room)" in listed.text
        assert "checks in with you at regular times, whether or not there has been an incident" in listed.text
        record = (await me.get("/api/me/record")).json()
        assert [(c["kind"], c["incident_id"]) for c in record["checkins"]] == [("periodic", None)]
        assert (await me.get("/me")).status_code == 200
        assert record["checkins"][0]["answers_kept_days"] == settings.answer_retention_days
        assert (await me.get("/me/record.csv")).status_code == 200
        page = await me.get(f"/checkins/{mine['id']}")
        assert page.status_code == 200 and "No more periodic check-ins" in page.text
        assert "logged late" not in page.text
    peer = cast.peer if mine["peer_id"] == str(cast.peer.id) else cast.other_peer
    async with signed_in(client, peer) as p:
        assert [c["id"] for c in (await p.get("/api/checkins")).json()] == [mine["id"]]
        assert (await p.get(f"/checkins/{mine['id']}")).status_code == 200
        body = {"outcome": "completed", "answers": answers_for("periodic", risk_yes=2), "safety_concern": False}
        done = await p.post(f"/api/checkins/{mine['id']}/record", json=body, headers={"Idempotency-Key": "p1"})
        assert done.status_code == 201, done.text
        assert [r["instrument"] for r in done.json()["results"]] == ["trim_risk", "tsq"]
    async with signed_in(client, cast.supervisor) as s:
        assert (await s.get(f"/api/checkins/{mine['id']}")).status_code == 404


async def test_asking_for_a_different_peer_moves_a_periodic_checkin_at_once(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        group = (await lead.post("/api/groups", json={"name": "Image review", "cadence_days": 30})).json()
        await lead.put(f"/api/groups/{group['id']}/members", json={"person_ids": [str(cast.responder.id)]})
    assert await periodic.sweep_periodic(session, now=clock(), settings=settings) == 1
    async with signed_in(client, cast.responder) as me:
        [before] = (await me.get("/api/checkins")).json()
        asked = await me.post(f"/checkins/{before['id']}/different-peer", data={"_csrf_token": me.cookies["csrftoken"]})
        assert asked.status_code == 200 and "Another peer will check in with you" in asked.text
        [after] = (await me.get("/api/checkins")).json()
    assert after["id"] == before["id"] and after["peer_id"] not in (before["peer_id"], str(cast.responder.id), None)
    async with signed_in(client, cast.other_clinician) as stranger:
        refused = await stranger.post(
            f"/checkins/{before['id']}/different-peer", data={"_csrf_token": stranger.cookies["csrftoken"]}
        )
        assert refused.status_code == 404


async def test_the_lead_reassigns_a_periodic_checkin_from_its_page_by_the_usual_rules(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        group = (await lead.post("/api/groups", json={"name": "Family liaison", "cadence_days": 60})).json()
        await lead.put(f"/api/groups/{group['id']}/members", json={"person_ids": [str(cast.responder.id)]})
        assert await periodic.sweep_periodic(session, now=clock(), settings=settings) == 1
        [checkin] = (await lead.get("/api/checkins")).json()
        other = cast.other_peer if checkin["peer_id"] == str(cast.peer.id) else cast.peer
        page = await lead.get(f"/checkins/{checkin['id']}")
        assert 'action="/checkins/' in page.text and "Give this check-in to" in page.text
        token = {"_csrf_token": lead.cookies["csrftoken"]}
        own = await lead.post(f"/checkins/{checkin['id']}/peer", data={**token, "peer_id": str(cast.responder.id)})
        assert "Choose an active peer supporter" in own.text  # the responder is no peer
        done = await lead.post(f"/checkins/{checkin['id']}/peer", data={**token, "peer_id": str(other.id)})
        assert done.status_code == 200 and "Reassigned." in done.text
        [moved] = (await lead.get("/api/checkins")).json()
        assert moved["peer_id"] == str(other.id)
    async with signed_in(client, other) as peer:
        token = {"_csrf_token": peer.cookies["csrftoken"]}
        refused = await peer.post(f"/checkins/{checkin['id']}/peer", data={**token, "peer_id": str(other.id)})
        assert refused.status_code == 404


async def test_the_person_stops_periodic_checkins_from_one_of_them(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        group = (await lead.post("/api/groups", json={"name": "Crime scene", "cadence_days": 90})).json()
        await lead.put(f"/api/groups/{group['id']}/members", json={"person_ids": [str(cast.responder.id)]})
    await periodic.sweep_periodic(session, now=clock(), settings=settings)
    async with signed_in(client, cast.responder) as me:
        [mine] = (await me.get("/api/checkins")).json()
        token = {"_csrf_token": me.cookies["csrftoken"]}
        asked = await me.post(f"/checkins/{mine['id']}/opt-out", data=token)
        assert "No more periodic check-ins?" in asked.text
        [still] = (await me.get("/api/checkins")).json()
        assert still["status"] == "due"  # nothing changes until they confirm
        done = await me.post(f"/checkins/{mine['id']}/opt-out", data={**token, "confirm": "yes"})
        assert "There will be no more periodic check-ins" in done.text
        [stopped] = (await me.get("/api/checkins")).json()
        assert stopped["status"] == "cancelled"
        assert (await me.get("/api/me/periodic")).json()["opted_out"] is True
    clock.advance(days=200)
    assert await periodic.sweep_periodic(session, now=clock(), settings=settings) == 0
