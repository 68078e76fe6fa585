"""Peer care over HTTP: the contract's shapes, the 409 that names the date, and a TRiM
manager (a peer who supervises peers) who reaches supervision but never the person."""

from __future__ import annotations

from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, make_person, signed_in
from tests.conftest import FakeClock
from trim.config import Settings
from trim.db import AsyncSession


async def _incident(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock) -> tuple[str, list[dict]]:  # type: ignore[type-arg]
    async with signed_in(client, cast.lead) as lead:
        incident = (
            await lead.post(
                "/api/incidents",
                json={
                    "occurred_at": (clock() - timedelta(hours=1)).isoformat(),
                    "kind": "difficult_rescue",
                    "station_id": str(cast.station_a.id),
                    "summary": "Extrication.",
                    "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
                },
            )
        ).json()
        checkins = (await lead.get("/api/checkins")).json()
    return incident["id"], checkins


async def test_a_peer_rests_through_the_api_and_reads_their_profile(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    _, checkins = await _incident(client, cast, clock)
    first = checkins[0]["peer_id"]
    peer, other = (cast.peer, cast.other_peer) if first == str(cast.peer.id) else (cast.other_peer, cast.peer)
    until = (clock().astimezone(settings.zone).date() + timedelta(days=10)).isoformat()
    async with signed_in(client, peer) as p:
        profile = (await p.get("/api/me/peer-profile")).json()
        assert profile == {
            "available": True,
            "resting_until": None,
            "caseload_cap": settings.peer_caseload_cap,
            "open_people": 1,
            "courses": [],
            "supervision_due": profile["supervision_due"],
            "not_assigned_because": None,
        }
        rested = await p.put("/api/me/peer-profile", json={"resting_until": until})
        assert rested.status_code == 200, rested.text
        assert rested.json()["resting_until"] == until
        assert rested.json()["open_people"] == 0
        assert rested.json()["not_assigned_because"] == "resting"
        assert (await p.put("/api/me/peer-profile", json={"resting_until": "2020-01-01"})).status_code == 422
        assert (await p.put("/api/me/peer-profile", json={"reason": "tired"})).status_code == 400
    async with signed_in(client, cast.lead) as lead:
        moved = (await lead.get("/api/checkins")).json()
        assert {c["peer_id"] for c in moved if c["status"] in ("upcoming", "due", "overdue")} == {str(other.id)}
    async with signed_in(client, peer) as p:
        ended = await p.put("/api/me/peer-profile", json={"resting_until": None})
        assert ended.json()["resting_until"] is None and ended.json()["not_assigned_because"] is None


async def test_the_lead_keeps_training_and_a_manual_choice_of_a_lapsed_peer_is_409_naming_the_date(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    incident_id, checkins = await _incident(client, cast, clock)
    first = checkins[0]["peer_id"]
    other = cast.other_peer if first == str(cast.peer.id) else cast.peer
    today = clock().astimezone(settings.zone).date()
    async with signed_in(client, cast.lead) as lead:
        bad = await lead.put(
            f"/api/peers/{other.id}/courses",
            json=[
                {
                    "name": "TRiM",
                    "completed_on": today.isoformat(),
                    "refresher_due": (today - timedelta(days=9)).isoformat(),
                }
            ],
        )
        assert bad.status_code == 422
        saved = await lead.put(
            f"/api/peers/{other.id}/courses",
            json=[{"name": "TRiM", "completed_on": "2024-01-10", "refresher_due": today.isoformat()}],
        )
        assert saved.status_code == 200, saved.text
        refused = await lead.post(
            f"/api/incidents/{incident_id}/exposures/{cast.responder.id}/peer", json={"peer_id": str(other.id)}
        )
        assert refused.status_code == 409
        assert f"{today.day} {today.strftime('%B %Y')}" in refused.json()["detail"]
        cap = await lead.put(f"/api/peers/{other.id}/caseload", json={"cap": 2})
        assert cap.json() == {"person_id": str(other.id), "cap": 2, "default": False, "open_people": 0}
        assert (await lead.put(f"/api/peers/{other.id}/caseload", json={"cap": 0})).status_code == 400
        roster = {r["name"]: r for r in (await lead.get("/api/peers")).json()}
        assert roster[other.name]["not_assigned_because"] == "training lapsed"
        overview = (await lead.get("/overview")).text
        assert "Training lapsing soon (1)" in overview and other.name in overview
    async with signed_in(client, other) as o:
        assert (await o.get("/api/me/peer-profile")).json()["courses"] == [
            {"name": "TRiM", "completed_on": "2024-01-10", "refresher_due": today.isoformat()}
        ]


async def test_without_a_peer_sits_at_the_top_of_the_overview_with_the_reason(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        for who in (cast.peer, cast.other_peer):
            assert (await lead.put(f"/api/peers/{who.id}/caseload", json={"cap": 1})).status_code == 200
    await _incident(client, cast, clock)
    async with signed_in(client, cast.lead) as lead:
        await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(hours=1)).isoformat(),
                "kind": "other",
                "station_id": str(cast.station_a.id),
                "summary": "Second.",
                "exposures": [{"person_id": str(cast.supervisor.id), "exposure": "witness"}],
            },
        )
        await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(hours=1)).isoformat(),
                "kind": "other",
                "station_id": str(cast.station_a.id),
                "summary": "Third.",
                "exposures": [{"person_id": str(cast.admin.id), "exposure": "witness"}],
            },
        )
        page = (await lead.get("/overview")).text
    assert "Without a peer (" in page
    top = page.index("Without a peer (")
    for below in ('class="counts"', "Overdue (", "Due now (", 'id="h-peers"'):
        assert top < page.index(below), below
    assert "Every peer at Station B is at their cap; every peer at Station C is at their cap" in page


async def test_a_trim_manager_reaches_supervision_but_never_the_person(
    client: AsyncTestClient[Litestar], session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    manager = await make_person(session, roles=["responder", "peer", "trim_manager"], station=cast.station_c)
    await session.commit()
    incident_id, checkins = await _incident(client, cast, clock)
    day3 = next(c for c in checkins if c["kind"] == "day3")
    peer = cast.peer if day3["peer_id"] == str(cast.peer.id) else cast.other_peer
    async with signed_in(client, peer) as p:
        asked = await p.post(f"/api/checkins/{day3['id']}/debrief")
        assert asked.status_code == 201, asked.text
        task = asked.json()
        assert set(task) == {"id", "peer_id", "created_at", "due", "outcome"}
        tried = await p.post(f"/api/checkins/{day3['id']}/contact-attempt")
        assert tried.status_code == 201 and tried.json()["logged"] is True
        again = await p.post(f"/api/checkins/{day3['id']}/contact-attempt")
        assert again.status_code == 200 and again.json()["logged"] is False
    async with signed_in(client, manager) as m:
        listed = await m.get("/api/supervision")
        assert listed.status_code == 200
        body = listed.text
        assert task["id"] in body and str(peer.id) in body
        for secret in (str(cast.responder.id), incident_id, day3["id"], cast.responder.name):
            assert secret not in body
        assert cast.responder.name not in (await m.get("/supervision")).text
        for path in (
            f"/api/checkins/{day3['id']}",
            f"/checkins/{day3['id']}",
            f"/api/incidents/{incident_id}",
            f"/incidents/{incident_id}",
        ):
            assert (await m.get(path)).status_code == 404, path
        assert str(cast.responder.id) not in (await m.get("/api/checkins")).text
        done = await m.post(f"/api/supervision/{task['id']}/outcome", json={"outcome": "held"})
        assert done.status_code == 200 and done.json()["outcome"] == "held"
        assert (await m.post(f"/api/supervision/{task['id']}/outcome", json={"outcome": "held"})).status_code == 409
        assert (await m.get("/peers")).status_code == 200
        assert (await m.put(f"/api/peers/{peer.id}/caseload", json={"cap": 3})).status_code == 404
