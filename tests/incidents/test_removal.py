"""Support is not dismantled quietly (design 3a): taking someone off an incident once their
support has started (a completed check-in, an open flag) is for the lead alone; the
supervisor who logged it gets 404 and the page tells them to ask the lead. Open flags stay
with the person's peer and the lead even after a removal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of
from trim.accounts.models import Person
from trim.db import AsyncSession


async def logged_by_supervisor(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, people: list[Person]
) -> dict[str, Any]:
    async with signed_in(client, cast.supervisor) as supervisor:
        made = await supervisor.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=4)).isoformat(),
                "kind": "violence_against_staff",
                "station_id": str(cast.station_a.id),
                "summary": "Crew assaulted at a call-out.",
                "exposures": [{"person_id": str(p.id), "exposure": "direct"} for p in people],
            },
        )
        assert made.status_code == 201, made.text
        body: dict[str, Any] = made.json()
        return body


async def record_day3(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, *, safety_concern: bool
) -> Person:
    """The responder's day 3, held by their peer; returns the peer."""
    day3 = (await checkins_of(session, cast.responder))[0]
    peer = cast.peer if day3.peer_id == cast.peer.id else cast.other_peer
    async with signed_in(client, peer) as browser:
        recorded = await browser.post(
            f"/api/checkins/{day3.id}/record",
            json={"outcome": "completed", "answers": answers_for("day3"), "safety_concern": safety_concern},
        )
        assert recorded.status_code == 201, recorded.text
    return peer


async def open_outcomes(session: AsyncSession, person: Person) -> list[str | None]:
    return [c.outcome for c in await checkins_of(session, person)]


async def test_a_supervisor_cannot_remove_someone_with_an_open_urgent_flag(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    """The attack as reported: the supervisor's DELETE cancelled the remaining check-ins and
    hid the open urgent flag from the peer. Now it does not exist for them."""
    incident = await logged_by_supervisor(client, cast, clock, [cast.responder])
    peer = await record_day3(client, cast, session, safety_concern=True)
    path = f"/api/incidents/{incident['id']}/exposures/{cast.responder.id}"
    async with signed_in(client, cast.supervisor) as supervisor:
        assert (await supervisor.delete(path)).status_code == 404
        page = await supervisor.get(f"/incidents/{incident['id']}")
        assert f"/people/{cast.responder.id}/remove" not in page.text
        assert "Only the programme lead can remove them now: please ask the lead." in page.text
        form = await supervisor.post(
            f"/incidents/{incident['id']}/people/{cast.responder.id}/remove",
            data={"_csrf_token": supervisor.cookies["csrftoken"]},
        )
        assert form.status_code == 404
        still = (await supervisor.get(f"/api/incidents/{incident['id']}")).json()
        assert [e["person_id"] for e in still["exposures"]] == [str(cast.responder.id)]
    assert await open_outcomes(session, cast.responder) == ["completed", None]
    async with signed_in(client, peer) as browser:
        (flag,) = (await browser.get("/api/flags")).json()
        assert (flag["urgent"], flag["status"]) == (True, "open")


async def test_a_completed_checkin_alone_also_needs_the_lead(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    incident = await logged_by_supervisor(client, cast, clock, [cast.responder])
    await record_day3(client, cast, session, safety_concern=False)
    async with signed_in(client, cast.supervisor) as supervisor:
        path = f"/api/incidents/{incident['id']}/exposures/{cast.responder.id}"
        assert (await supervisor.delete(path)).status_code == 404
    assert await open_outcomes(session, cast.responder) == ["completed", None]


async def test_a_supervisor_still_removes_someone_added_in_error(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    """The allow twin: nothing has started, so the removal goes ahead and cancels what is
    open, as before. A flag born of their own request for a peer is no part of the
    incident: it neither blocks the removal nor is hinted at."""
    incident = await logged_by_supervisor(client, cast, clock, [cast.responder])
    async with signed_in(client, cast.responder) as responder:
        asked = await responder.post(
            "/api/requests",
            json={"urgency": "today", "contact_method": "in_person", "safety_concern": True},
        )
        assert asked.status_code == 201
    async with signed_in(client, cast.supervisor) as supervisor:
        page = await supervisor.get(f"/incidents/{incident['id']}")
        assert f"/people/{cast.responder.id}/remove" in page.text and "ask the lead" not in page.text
        removed = await supervisor.delete(f"/api/incidents/{incident['id']}/exposures/{cast.responder.id}")
        assert removed.status_code == 204
        assert (await supervisor.get(f"/api/incidents/{incident['id']}")).json()["exposures"] == []
    assert await open_outcomes(session, cast.responder) == ["cancelled", "cancelled"]


async def test_the_lead_removes_and_the_open_flag_stays_with_the_peer(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    incident = await logged_by_supervisor(client, cast, clock, [cast.responder])
    peer = await record_day3(client, cast, session, safety_concern=True)
    async with signed_in(client, cast.lead) as lead:
        page = await lead.get(f"/incidents/{incident['id']}")
        assert f"/people/{cast.responder.id}/remove" in page.text
        removed = await lead.delete(f"/api/incidents/{incident['id']}/exposures/{cast.responder.id}")
        assert removed.status_code == 204
        (flag,) = (await lead.get("/api/flags")).json()
    assert await open_outcomes(session, cast.responder) == ["completed", "cancelled"]
    other_peer = cast.other_peer if peer is cast.peer else cast.peer
    async with signed_in(client, peer) as browser:
        assert [f["id"] for f in (await browser.get("/api/flags")).json()] == [flag["id"]]
        assert (await browser.get(f"/flags/{flag['id']}")).status_code == 200
        assert cast.responder.name in (await browser.get("/flags")).text
        # The peer can still act on it: here, recording that they declined a referral.
        declined = await browser.post(f"/api/flags/{flag['id']}/referral", json={"consent": False})
        assert declined.status_code == 201
        # Once resolved, the removal takes its course: the flag was the peer's through it.
        assert (await browser.get(f"/flags/{flag['id']}")).status_code == 404
    async with signed_in(client, other_peer) as browser:
        assert (await browser.get("/api/flags")).json() == []
    async with signed_in(client, cast.lead) as lead:
        assert [f["status"] for f in (await lead.get("/api/flags")).json()] == ["declined"]
