"""Incidents and check-ins through the API and pages, as each role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import Cast, sign_in, signed_in
from tests.conftest import FakeClock
from trim.cli import main
from trim.config import Settings
from trim.db import AsyncSession
from trim.followups.models import CheckIn
from trim.incidents.models import Incident


def body(cast: Cast, clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "occurred_at": (clock() - timedelta(hours=3)).isoformat().replace("+00:00", "Z"),
        "kind": "violence_against_staff",
        "station_id": str(cast.station_a.id),
        "summary": "Crew assaulted at a call-out.",
        "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
    }
    data.update(overrides)
    return data


async def _count(session: AsyncSession, model: type) -> int:
    return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_supervisor_logs_an_incident_and_sees_names_only(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    await sign_in(client, cast.supervisor.email)
    response = await client.post("/api/incidents", json=body(cast, clock))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["logged_by"] == cast.supervisor.name
    assert created["occurred_at"].endswith("Z")
    assert created["exposures"] == [
        {
            "person_id": str(cast.responder.id),
            "name": cast.responder.name,
            "exposure": "direct",
            "status_visible": False,
            "peer_id": None,
            "checkins": None,
        }
    ]
    again = await client.get(f"/api/incidents/{created['id']}")
    assert again.json()["exposures"][0]["checkins"] is None
    # Nothing about check-ins, by any route.
    assert (await client.get("/api/checkins")).json() == []
    checkin = (await session.exec(select(CheckIn))).first()
    assert checkin is not None
    assert (await client.get(f"/api/checkins/{checkin.id}")).status_code == 404
    for path in ("/checkins", "/overview", f"/checkins/{checkin.id}"):
        assert (await client.get(path)).status_code == 404, path


async def test_supervisor_sees_their_stations_incidents_but_not_others(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        mine = (await lead.post("/api/incidents", json=body(cast, clock))).json()
        elsewhere = (
            await lead.post("/api/incidents", json=body(cast, clock, station_id=str(cast.station_b.id)))
        ).json()
    await sign_in(client, cast.supervisor.email)
    station_incident = await client.get(f"/api/incidents/{mine['id']}")
    assert station_incident.status_code == 200
    # Their station's incident, logged by someone else: the facts, no names.
    assert station_incident.json()["exposures"] == []
    assert (await client.get(f"/api/incidents/{elsewhere['id']}")).status_code == 404
    listing = await client.get("/incidents")
    assert mine["id"] in listing.text and elsewhere["id"] not in listing.text


async def test_idempotency_key_creates_once_and_replays(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    await sign_in(client, cast.lead.email)
    headers = {"Idempotency-Key": "cad-2026-0001"}
    first = await client.post("/api/incidents", json=body(cast, clock), headers=headers)
    second = await client.post("/api/incidents", json=body(cast, clock), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert await _count(session, Incident) == 1
    assert await _count(session, CheckIn) == 2
    changed = await client.post("/api/incidents", json=body(cast, clock, summary="Different"), headers=headers)
    assert changed.status_code == 422
    assert "different request body" in changed.json()["detail"]
    assert await _count(session, Incident) == 1


async def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    await sign_in(client, cast.lead.email)
    cases = [
        (
            body(cast, clock, exposures=[{"person_id": "00000000-0000-0000-0000-000000000001", "exposure": "direct"}]),
            422,
            "exposures[0].person_id",
        ),
        (
            body(
                cast,
                clock,
                exposures=[
                    {"person_id": str(cast.responder.id), "exposure": "direct"},
                    {"staff_number": cast.responder.staff_number, "exposure": "witness"},
                ],
            ),
            422,
            "exposures[1].staff_number",
        ),
        (body(cast, clock, occurred_at=(clock() + timedelta(days=2)).isoformat()), 422, "occurred_at"),
        (body(cast, clock, station_id="00000000-0000-0000-0000-000000000002"), 422, "station_id"),
        (body(cast, clock, occurred_at="yesterday at ten"), 400, "occurred_at"),
        (body(cast, clock, occurred_at="2026-11-01T10:00:00"), 422, "occurred_at"),
        (body(cast, clock, kind="fire"), 400, "kind"),
    ]
    for payload, status, field in cases:
        response = await client.post("/api/incidents", json=payload)
        assert response.status_code == status, (field, response.text)
        answer = response.json()
        assert answer["detail"]
        assert any(field in e["field"] for e in answer["errors"]), (field, answer)
    bad_json = await client.post("/api/incidents", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert await _count(session, Incident) == 0
    assert await _count(session, CheckIn) == 0


async def test_integration_token_posts_by_staff_number(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, settings: Settings, session: AsyncSession
) -> None:
    env = {"TRIM_DATABASE_URL": settings.database_url}
    runner = CliRunner()
    result = await anyio.to_thread.run_sync(
        lambda: runner.invoke(main, ["tokens", "create", "--name", "cad", "--scope", "incidents:write"], env=env)
    )
    token = result.output.splitlines()[0]
    headers = {"Authorization": f"Bearer {token}"}
    payload = body(cast, clock, exposures=[{"staff_number": cast.responder.staff_number, "exposure": "witness"}])
    response = await client.post("/api/incidents", json=payload, headers=headers)  # no CSRF needed
    assert response.status_code == 201, response.text
    assert response.json()["logged_by"] == "cad"
    assert await _count(session, CheckIn) == 2
    # The token reaches nothing else.
    assert (await client.get(f"/api/incidents/{response.json()['id']}", headers=headers)).status_code == 404
    assert (await client.get("/api/checkins", headers=headers)).status_code == 404
    assert (await client.get("/api/me", headers=headers)).status_code == 404
    bad = await client.post("/api/incidents", json=payload, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


async def test_checkins_api_is_scoped_and_filtered(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        created = (await lead.post("/api/incidents", json=body(cast, clock))).json()
        everything = (await lead.get("/api/checkins")).json()
        assert len(everything) == 2
        assert [c["kind"] for c in everything] == ["day3", "day28"]
        assert (await lead.get("/api/checkins?status=upcoming")).json() == everything
        assert (await lead.get("/api/checkins?status=due,overdue")).json() == []
        assert (await lead.get("/api/checkins?status=late")).status_code == 422
    peer_id = everything[0]["peer_id"]
    assigned = cast.peer if peer_id == str(cast.peer.id) else cast.other_peer
    unassigned_peer = cast.other_peer if assigned is cast.peer else cast.peer
    async with signed_in(client, assigned) as peer:
        mine = (await peer.get("/api/checkins")).json()
        assert [c["id"] for c in mine] == [c["id"] for c in everything]
        assert mine[0]["person"] == {"id": str(cast.responder.id), "name": cast.responder.name}
        page = await peer.get("/checkins")
        assert cast.responder.name in page.text
        assert (await peer.get(f"/incidents/{created['id']}")).status_code == 200
    async with signed_in(client, unassigned_peer) as other:
        assert (await other.get("/api/checkins")).json() == []
        assert (await other.get(f"/api/checkins/{everything[0]['id']}")).status_code == 404
        assert (await other.get(f"/api/incidents/{created['id']}")).status_code == 404
    async with signed_in(client, cast.responder) as responder:
        own = (await responder.get("/api/checkins")).json()
        assert [c["id"] for c in own] == [c["id"] for c in everything]
        page = await responder.get("/me/checkins")
        assert "Day 3 check-in" in page.text
        assert "After a difficult incident" in page.text and "at regular times" not in page.text
        incident = (await responder.get(f"/api/incidents/{created['id']}")).json()
        assert [e["person_id"] for e in incident["exposures"]] == [str(cast.responder.id)]
    clock.advance(days=3)
    async with signed_in(client, cast.lead) as lead:
        due = (await lead.get("/api/checkins?status=due")).json()
        assert [c["kind"] for c in due] == ["day3"]


async def test_responder_asks_for_a_different_peer_and_the_lead_sees_it(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        await lead.post("/api/incidents", json=body(cast, clock))
    async with signed_in(client, cast.responder) as responder:
        checkin = (await responder.get("/api/checkins")).json()[0]
        page = await responder.get(f"/checkins/{checkin['id']}")
        assert "Ask for a different peer" in page.text
        done = await responder.post(
            f"/checkins/{checkin['id']}/different-peer", data={"_csrf_token": responder.cookies["csrftoken"]}
        )
        assert "The programme lead will arrange a different peer" in done.text
    async with signed_in(client, cast.lead) as lead:
        overview = await lead.get("/overview")
        assert "Asked for a different peer (1)" in overview.text


async def test_log_form_search_add_station_and_save(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.supervisor.email)
    form = await client.get("/incidents/new")
    assert form.status_code == 200
    token = client.cookies["csrftoken"]
    base = {
        "_csrf_token": token,
        "occurred_at": "2026-11-01T22:15",
        "station_id": str(cast.station_a.id),
        "kind": "child_death",
        "summary": "Cot death call.",
    }
    found = await client.post("/incidents/new", data={**base, "q": "respon", "action": "search"})
    assert f'value="add:{cast.responder.id}"' in found.text
    added = await client.post("/incidents/new", data={**base, "q": "respon", "action": f"add:{cast.responder.id}"})
    assert f'name="person" value="{cast.responder.id}"' in added.text
    # The search and its matches stay, so the next one is a tap away; the one added says so.
    assert 'value="respon"' in added.text and f'value="add:{cast.responder.id}"' not in added.text
    assert '<span class="muted">Added</span>' in added.text
    whole = await client.post(
        "/incidents/new",
        data={
            **base,
            "person": str(cast.responder.id),
            "whole_station": str(cast.station_b.id),
            "action": "add_station",
        },
    )
    assert f'name="person" value="{cast.peer.id}"' in whole.text
    fragment = await client.get("/incidents/people-search", params={"q": "other"})
    assert "Other Peer" in fragment.text and "<html" not in fragment.text
    missing = await client.post(
        "/incidents/new", data={**base, "summary": "", "person": str(cast.responder.id), "action": "save"}
    )
    assert missing.status_code == 422
    assert "Write a short summary" in missing.text
    assert f'name="person" value="{cast.responder.id}"' in missing.text  # nothing typed is lost
    saved = await client.post(
        "/incidents/new",
        data={**base, "person": [str(cast.responder.id)], f"exposure_{cast.responder.id}": "witness", "action": "save"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    incident = (await session.exec(select(Incident))).one()
    # 22:15 in London in November is 22:15 UTC.
    assert incident.occurred_at.isoformat() == "2026-11-01T22:15:00+00:00"
    detail = await client.get(saved.headers["location"])
    assert "will be offered peer check-ins" in detail.text
    assert cast.responder.name in detail.text and "badge-upcoming" not in detail.text


async def test_lead_overview_puts_unassigned_first(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    await sign_in(client, cast.lead.email)
    # Both peers exposed: nobody can support the responder.
    exposures = [{"person_id": str(p.id), "exposure": "direct"} for p in (cast.responder, cast.peer, cast.other_peer)]
    await client.post("/api/incidents", json=body(cast, clock, exposures=exposures))
    overview = await client.get("/overview")
    assert overview.status_code == 200
    assert "Without a peer (6)" in overview.text
    assert overview.text.index("Without a peer") < overview.text.index("Overdue (")


async def test_many_people_are_added_after_saving_by_name_and_by_a_pasted_list(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    """Ticked in one name search, or pasted as a list of staff numbers: each added, and each
    that could not be said why, by its number (issue 17 point 7)."""
    from tests.cast import make_person

    crew = [await make_person(session, station=cast.station_a, name=f"Crew Member {n}") for n in range(4)]
    await session.commit()
    async with signed_in(client, cast.lead) as lead:
        made = await lead.post("/api/incidents", json=body(cast, clock, exposures=[]))
        assert made.status_code == 201, made.text
        incident = made.json()["id"]
        found = await lead.get("/incidents/people-search", params={"q": "Crew Member", "pick": "1"})
        assert found.text.count('type="checkbox" name="pick"') == 4
        token = lead.cookies["csrftoken"]
        picked = await lead.post(
            f"/incidents/{incident}/people",
            data={"_csrf_token": token, "pick": [str(crew[0].id), str(crew[1].id)], "exposure": "witness"},
        )
        assert "Added Crew Member 0, Crew Member 1. Their check-ins are scheduled." in picked.text
        pasted = await lead.post(
            f"/incidents/{incident}/people",
            data={
                "_csrf_token": token,
                "staff_numbers": f"{crew[2].staff_number}\n{crew[3].staff_number}, NOBODY-1 {crew[0].staff_number}",
            },
        )
        assert "Added Crew Member 2, Crew Member 3." in pasted.text
        assert "Not added: NOBODY-1:" in pasted.text and "already recorded" in pasted.text
        # What was refused comes back in the box to correct; what was added is kept.
        assert pasted.status_code == 200
        assert f">NOBODY-1\n{crew[0].staff_number}</textarea>" in pasted.text
        detail = (await lead.get(f"/api/incidents/{incident}")).json()
        assert {e["person_id"] for e in detail["exposures"]} == {str(p.id) for p in crew}
        # Nothing added at all: 422, and the numbers and the kind of exposure are kept.
        refused = await lead.post(
            f"/incidents/{incident}/people",
            data={"_csrf_token": token, "staff_numbers": "NOBODY-2, NOBODY-3", "exposure": "witness"},
        )
        assert refused.status_code == 422
        assert ">NOBODY-2\nNOBODY-3</textarea>" in refused.text
        assert '<option value="witness" selected>' in refused.text
        again = (await lead.get(f"/api/incidents/{incident}")).json()
    assert len(again["exposures"]) == len(crew)
