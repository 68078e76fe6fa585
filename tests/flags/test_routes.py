"""Watchful waiting and the interim check-in through the API and the pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import phase_answers
from trim.db import AsyncSession


async def arrange(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, days_ago: int) -> list[Any]:
    """The lead logs an incident `days_ago` days back; returns the responder's check-ins and peer."""
    async with signed_in(client, cast.lead) as lead:
        await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=days_ago)).isoformat(),
                "kind": "mass_casualty",
                "station_id": str(cast.station_a.id),
                "summary": "Coach crash.",
                "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
            },
        )
        checkins = (await lead.get("/api/checkins")).json()
    day3 = next(c for c in checkins if c["kind"] == "day3")
    day28 = next(c for c in checkins if c["kind"] == "day28")
    peer = cast.peer if day3["peer_id"] == str(cast.peer.id) else cast.other_peer
    return [day3, day28, peer]


async def test_a_peer_puts_a_flag_on_watchful_waiting_through_the_api(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, day28, peer = await arrange(client, cast, clock, days_ago=30)
    async with signed_in(client, peer) as browser:
        for checkin in (day3, day28):
            body = {
                "outcome": "completed",
                "answers": phase_answers("day28" if checkin is day28 else "day3", after_yes=2),
                "safety_concern": False,
            }
            assert (await browser.post(f"/api/checkins/{checkin['id']}/record", json=body)).status_code == 201
        flag = next(f for f in (await browser.get("/api/flags")).json() if f["cause"] == "consecutive_elevated")
        too_long = await browser.post(f"/api/flags/{flag['id']}/monitor", json={"days": 29})
        assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "days"
        watched = await browser.post(f"/api/flags/{flag['id']}/monitor", json={})
        assert watched.status_code == 200
        assert watched.json()["status"] == "monitoring" and watched.json()["id"] == flag["id"]
        extra = (await browser.get(f"/api/checkins/{watched.json()['checkin_id']}")).json()
        assert extra["kind"] == "monitor" and extra["status"] == "upcoming" and extra["peer_id"] == str(peer.id)
        listed = {f["id"]: f["status"] for f in (await browser.get("/api/flags")).json()}
        assert listed[flag["id"]] == "monitoring"
        assert "Watchful waiting" in (await browser.get(f"/flags/{flag['id']}")).text
        again = await browser.post(f"/api/flags/{flag['id']}/monitor", json={"days": 14})
        assert again.status_code == 409


async def test_after_a_first_checkin_that_counts_the_peer_may_add_an_interim_one(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    day3, _, peer = await arrange(client, cast, clock, days_ago=3)
    async with signed_in(client, peer) as browser:
        body = {"outcome": "completed", "answers": phase_answers("day3", after_yes=2), "safety_concern": False}
        recorded = await browser.post(f"/api/checkins/{day3['id']}/record", json=body)
        assert recorded.status_code == 201 and recorded.json()["interim_offered"] is True
        page = (await browser.get(f"/checkins/{day3['id']}")).text
        assert "An interim check-in?" in page
        added = await browser.post(f"/api/checkins/{day3['id']}/interim", json={})
        assert added.status_code == 201
        assert added.json()["kind"] == "interim" and added.json()["already"] is False
        twice = await browser.post(f"/api/checkins/{day3['id']}/interim", json={"days": 5})
        assert twice.json() == {**added.json(), "already": True}
        assert "An interim check-in?" not in (await browser.get(f"/checkins/{day3['id']}")).text
        interim = (await browser.get(f"/api/checkins/{added.json()['id']}")).json()
        assert interim["status"] == "upcoming"
        assert "Interim check-in" in (await browser.get(f"/checkins/{interim['id']}")).text


async def test_no_interim_is_offered_when_only_history_was_yes(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    day3, _, peer = await arrange(client, cast, clock, days_ago=3)
    async with signed_in(client, peer) as browser:
        body = {
            "outcome": "completed",
            "answers": phase_answers("day3", yes_phases=("before", "during")),
            "safety_concern": False,
        }
        recorded = await browser.post(f"/api/checkins/{day3['id']}/record", json=body)
        assert recorded.json()["interim_offered"] is False
        refused = await browser.post(f"/api/checkins/{day3['id']}/interim", json={})
        assert refused.status_code == 422
        assert "An interim check-in?" not in (await browser.get(f"/checkins/{day3['id']}")).text
