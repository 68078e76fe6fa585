"""The email and calendar page, and the private calendar feed, as each role."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlmodel import col

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from tests.notifications.conftest import DISTINCT_NAMES, DISTINCT_STATIONS, SUMMARY
from trim.accounts import service as accounts
from trim.config import Settings
from trim.db import AsyncSession
from trim.followups.models import CheckIn
from trim.notifications import service as notifications


async def test_a_peer_chooses_per_kind_and_cannot_switch_urgent_off(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    async with signed_in(client, cast.peer) as browser:
        page = await browser.get("/profile/notifications")
        assert page.status_code == 200
        assert 'name="_csrf_token"' in page.text
        assert 'name="kind_checkin_due" value="digest"' in page.text
        assert 'name="kind_urgent_flag"' not in page.text  # no control to switch it off
        assert "urgent messages cannot be switched off" in page.text
        assert 'name="kind_escalation"' not in page.text  # not a peer's

        saved = await browser.post(
            "/profile/notifications", data={"kind_checkin_due": "digest", "kind_request_new": "none"}
        )
        assert "Your email choices are saved." in saved.text
        assert re.search(r'name="kind_request_new" value="none" checked', saved.text)

        refused = await browser.post("/profile/notifications", data={"kind_urgent_flag": "none"})
        assert refused.status_code == 422
        assert "Urgent messages cannot be switched off." in refused.text
    choices = {c.kind: c.channel for c in await notifications.preferences(session, actor=cast.actor("peer"))}
    assert choices["checkin_due"] == "digest" and choices["request_new"] == "none"
    assert choices["urgent_flag"] == "email"


async def test_the_lead_cannot_switch_escalations_off_and_has_no_digest(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    async with signed_in(client, cast.lead) as browser:
        page = await browser.get("/profile/notifications")
        assert 'name="kind_escalation"' not in page.text
        assert 'name="kind_checkin_due" value="none"' in page.text
        assert 'value="digest"' not in page.text
        assert "Calendar" not in page.text
        refused = await browser.post("/profile/notifications", data={"kind_escalation": "none"})
        assert refused.status_code == 422


async def test_everyone_reaches_the_page_but_only_peers_get_a_calendar(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    async with signed_in(client, None) as anonymous:
        assert (await anonymous.get("/profile/notifications", follow_redirects=False)).status_code == 303
    for who in ("responder", "clinician", "supervisor", "admin"):
        async with signed_in(client, cast.person(who)) as browser:
            page = await browser.get("/profile/notifications")
            assert page.status_code == 200
            assert "Your account: role changes" in page.text
            assert (await browser.post("/profile/notifications/calendar", data={"action": "new"})).status_code == 404


async def _calendar_url(browser: AsyncTestClient[Litestar]) -> str:
    page = await browser.post("/profile/notifications/calendar", data={"action": "new"})
    assert page.status_code == 200
    found = re.search(r'value="https://testserver\.local(/calendar/[^"]+\.ics)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_a_peers_calendar_has_times_only_and_stops_when_revoked(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, settings: Settings, session: AsyncSession
) -> None:
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder, cast.supervisor],
        occurred_at=clock() - timedelta(hours=2),
        now=clock(),
        settings=settings,
        summary=SUMMARY,
    )
    mine = [c for p in (cast.responder, cast.supervisor) for c in await checkins_of(session, p)]
    mine = [c for c in mine if c.peer_id == cast.peer.id]
    assert mine, "the peer supports someone"
    await session.exec(update(CheckIn).where(col(CheckIn.id) == mine[-1].id).values(outcome="completed"))
    open_ones = mine[:-1]

    async with signed_in(client, cast.peer) as browser:
        path = await _calendar_url(browser)
        feed = await client.get(path)  # no session needed: the link is the key
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("text/calendar")
        assert feed.headers["cache-control"] == "no-store"
        text = feed.text
        assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
        assert text.count("BEGIN:VEVENT") == len(open_ones)
        assert text.count("SUMMARY:Peer check-in\r\n") == len(open_ones)
        for checkin in open_ones:
            assert f"UID:checkin-{checkin.id}@testserver.local\r\n" in text
            assert f"DTSTART:{checkin.due_at:%Y%m%dT%H%M%SZ}\r\n" in text
        for word in [*DISTINCT_NAMES.values(), *DISTINCT_STATIONS.values(), "extrication", "@example.org"]:
            assert word.split()[0] not in text, word

        # A new link replaces the old; turning it off leaves none.
        newer = await _calendar_url(browser)
        assert (await client.get(path)).status_code == 404
        assert (await client.get(newer)).status_code == 200
        page = await browser.get("/profile/notifications")
        assert "You made your calendar link on" in page.text and newer not in page.text  # shown once
        revoked = await browser.post("/profile/notifications/calendar", data={"action": "revoke"})
        assert "no longer works" in revoked.text
    assert (await client.get(newer)).status_code == 404
    assert (await client.get("/calendar/not-a-token.ics")).status_code == 404
    assert (await client.get(newer.removesuffix(".ics"))).status_code == 404


async def test_a_deactivated_peers_calendar_link_stops_working(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    async with signed_in(client, cast.other_peer) as browser:
        path = await _calendar_url(browser)
    assert (await client.get(path)).status_code == 200
    await accounts.set_active(
        session, actor=cast.actor("admin"), person_id=cast.other_peer.id, active=False, now=clock()
    )
    await session.commit()
    assert (await client.get(path)).status_code == 404
