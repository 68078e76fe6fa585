"""The planning meeting and briefings through the API and pages, as each role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import Cast, make_person, signed_in
from tests.conftest import FakeClock
from tests.helpers import checkins_of
from trim.db import AsyncSession
from trim.planning.models import Briefing


def _z(when: Any) -> str:
    return str(when.isoformat().replace("+00:00", "Z"))


async def _log(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock) -> str:
    async with signed_in(client, cast.supervisor) as supervisor:
        response = await supervisor.post(
            "/api/incidents",
            json={
                "occurred_at": _z(clock() - timedelta(hours=20)),
                "kind": "child_death",
                "station_id": str(cast.station_a.id),
                "summary": "Cardiac arrest, infant.",
                "exposures": [
                    {"person_id": str(cast.responder.id), "exposure": "direct"},
                    {"person_id": str(cast.admin.id), "exposure": "witness"},
                ],
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


async def test_a_trim_manager_records_planning_and_a_stale_editor_gets_409(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    incident = await _log(client, cast, clock)
    manager = await make_person(session, roles=["responder", "peer", "trim_manager"], name="Tess Manager")
    await session.commit()
    async with signed_in(client, manager) as tm, signed_in(client, cast.lead) as lead:
        first = (await tm.get(f"/api/incidents/{incident}/planning")).json()
        assert first["version"] == 0 and first["held"] is False
        assert {r["route"] for r in first["routes"]} == {"risk_assessment"}
        read_by_lead = (await lead.get(f"/api/incidents/{incident}/planning")).json()
        saved = await tm.put(
            f"/api/incidents/{incident}/planning",
            json={
                "held_at": _z(clock()),
                "attendees": [str(manager.id), str(cast.lead.id)],
                "routes": [{"person_id": str(cast.responder.id), "route": "briefing_only"}],
                "version": 0,
            },
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == 1
        stale = await lead.put(
            f"/api/incidents/{incident}/planning",
            json={
                "held_at": _z(clock()),
                "attendees": [],
                "routes": [{"person_id": str(cast.admin.id), "route": "no_action", "reason": "Off shift"}],
                "version": read_by_lead["version"],
            },
        )
        assert stale.status_code == 409, stale.text
        assert stale.json()["changed_by"] == "Tess Manager"
        assert stale.json()["changed_routes"] == [
            {"person_id": str(cast.responder.id), "name": cast.responder.name, "route": "briefing_only", "reason": None}
        ]
        bad = await lead.put(
            f"/api/incidents/{incident}/planning",
            json={
                "held_at": _z(clock()),
                "routes": [{"person_id": str(cast.admin.id), "route": "no_action"}],
                "version": 1,
            },
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "routes[0].reason"
    day3, day28 = await checkins_of(session, cast.responder)
    assert (day3.outcome, day28.outcome) == ("cancelled", "cancelled")
    assert [c.outcome for c in await checkins_of(session, cast.admin)] == [None, None]


async def test_a_supervisor_sees_only_that_planning_was_held_and_the_peer_sees_the_route(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    incident = await _log(client, cast, clock)
    async with signed_in(client, cast.lead) as lead:
        page = (await lead.get(f"/incidents/{incident}")).text
        assert "Planning meeting" in page and "Save planning meeting" in page
        assert (
            await lead.put(
                f"/api/incidents/{incident}/planning",
                json={
                    "held_at": _z(clock()),
                    "routes": [{"person_id": str(cast.responder.id), "route": "no_action", "reason": "On leave"}],
                },
            )
        ).status_code == 200
    async with signed_in(client, cast.supervisor) as supervisor:
        assert (await supervisor.get(f"/api/incidents/{incident}/planning")).status_code == 404
        assert (await supervisor.get(f"/incidents/{incident}/planning")).status_code == 404
        page = (await supervisor.get(f"/incidents/{incident}")).text
        assert "Planning held on" in page
        assert "No action" not in page and "On leave" not in page and "Save planning meeting" not in page
    (mine, _) = await checkins_of(session, cast.responder)
    their_peer = cast.peer if mine.peer_id == cast.peer.id else cast.other_peer
    for who in (cast.responder, their_peer):  # the person, and the peer assigned to them
        async with signed_in(client, who) as browser:
            assert "Planning: no action (On leave)" in (await browser.get(f"/incidents/{incident}")).text


@pytest.mark.parametrize("field", ["notes", "summary", "reactions"])
async def test_a_briefing_refuses_any_content_field(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, field: str
) -> None:
    incident = await _log(client, cast, clock)
    body = {"held_at": _z(clock()), "facilitator_id": str(cast.peer.id), "attendee_ids": [str(cast.responder.id)]}
    async with signed_in(client, cast.lead) as lead:
        refused = await lead.post(f"/api/incidents/{incident}/briefings", json={**body, field: "They talked it over."})
        assert refused.status_code == 422
        assert "NICE NG116" in refused.json()["detail"]
        assert refused.json()["errors"] == [{"field": field, "message": "Not recorded for a briefing, by design."}]
        assert int((await session.exec(select(func.count()).select_from(Briefing))).one()) == 0
        made = await lead.post(f"/api/incidents/{incident}/briefings", json=body)
        assert made.status_code == 201, made.text
        assert made.json()["attendee_ids"] == [str(cast.responder.id)]
        page = (await lead.get(f"/incidents/{incident}")).text
        assert "single-session debriefing is advised against (NICE NG116)" in page


async def test_the_lead_records_planning_from_the_incident_page(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    incident = await _log(client, cast, clock)
    async with signed_in(client, cast.lead) as lead:
        form = {
            "_csrf_token": lead.cookies["csrftoken"],
            "version": "0",
            "back": "incident",
            "held_at": clock().strftime("%Y-%m-%dT%H:%M"),
            "attendee": str(cast.lead.id),
            "person": [str(cast.responder.id), str(cast.admin.id)],
            f"route_{cast.responder.id}": "briefing_only",
            f"route_{cast.admin.id}": "risk_assessment",
        }
        saved = await lead.post(f"/incidents/{incident}/planning", data=form, follow_redirects=False)
        assert saved.status_code == 303
        assert saved.headers["location"] == f"/incidents/{incident}#planning"
        page = (await lead.get(f"/incidents/{incident}")).text
        assert "Planning held on" in page and "Planning: briefing only" in page
        # The same form again (now stale) changes nothing and is not refused.
        again = await lead.post(f"/incidents/{incident}/planning", data=form, follow_redirects=False)
        assert again.status_code == 303
        listing = (await lead.get("/planning")).text
        assert "planning held" in listing
    assert [c.outcome for c in await checkins_of(session, cast.responder)] == ["cancelled", "cancelled"]


async def test_planning_due_is_at_the_top_of_the_overview_and_on_the_leads_home_until_recorded(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    incident = await _log(client, cast, clock)  # 20 hours ago: not due yet
    async with signed_in(client, cast.lead) as lead:
        assert "Planning due" not in (await lead.get("/overview")).text
        assert "planning due" not in (await lead.get("/")).text
    clock.advance(hours=29)  # 49 hours after the incident (a new sign-in: the last one lapsed)
    async with signed_in(client, cast.lead) as lead:
        overview = (await lead.get("/overview")).text
        assert "Planning due (1)" in overview
        assert overview.index("Planning due (1)") < overview.index('class="counts"')
        assert f'href="/incidents/{incident}#planning"' in overview
        home = (await lead.get("/")).text
        assert "incident with planning due" in home and 'href="/overview#planning-due"' in home
        saved = await lead.put(f"/api/incidents/{incident}/planning", json={"held_at": _z(clock())})
        assert saved.status_code == 200
        assert saved.json()["planning_due"] is False
        assert "Planning due" not in (await lead.get("/overview")).text
        assert "planning due" not in (await lead.get("/")).text
    async with signed_in(client, cast.supervisor) as supervisor:
        assert "planning due" not in (await supervisor.get("/")).text
