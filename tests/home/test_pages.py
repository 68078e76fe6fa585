"""Each person's home lists what needs them now, with counts and links, per role."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import assigned_peer, checkins_of, make_incident
from trim.config import Settings
from trim.db import AsyncSession
from trim.flags.models import Flag


def needs(html: str) -> list[tuple[str, str]]:
    """(href, the words of the link) for each thing the home lists."""
    found = re.findall(r'<a href="([^"]+)" class="need-link">(.*?)</a>', html, flags=re.S)
    return [(href, " ".join(re.sub(r"<[^>]+>", " ", text).split())) for href, text in found]


async def _home(client: AsyncTestClient[Litestar], person: object) -> str:
    async with signed_in(client, person) as browser:  # type: ignore[arg-type]
        response = await browser.get("/")
        assert response.status_code == 200
        return response.text


async def test_home_says_kindly_when_nothing_needs_the_person(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    for who in ("responder", "peer", "lead", "clinician", "supervisor", "admin"):
        html = await _home(client, cast.person(who))
        assert "Nothing needs you today." in html, who
        assert needs(html) == [], who


async def test_home_lists_what_waits_for_each_role(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now
    incident = await make_incident(
        session,
        actor=cast.actor("supervisor"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=now - timedelta(days=4),
        now=now,
        settings=settings,
    )
    checkin = (await checkins_of(session, cast.responder))[0]
    peer = await assigned_peer(session, checkin)
    session.add(
        Flag(
            person_id=cast.responder.id,
            cause="safety_concern",
            cause_key="home-test",
            urgent=True,
            raised_at=now - timedelta(days=6),
        )
    )
    await session.commit()

    lead = needs(await _home(client, cast.lead))
    assert ("/flags", "1 urgent flag open the oldest has waited 6 days") in lead
    assert ("/overview", "1 check-in due now") in lead

    assert needs(await _home(client, peer)) == [("/checkins", "1 check-in due today")]

    responder = needs(await _home(client, cast.responder))
    assert [href for href, _ in responder] == ["/me/checkins"]
    assert responder[0][1].startswith(f"Your next check-in with {peer.name}")

    supervisor = needs(await _home(client, cast.supervisor))
    assert supervisor == [(f"/incidents/{incident.id}", supervisor[0][1])]
    assert supervisor[0][1].startswith("Prolonged or difficult rescue at Station A")

    # The other peer, not assigned, is told of nothing; three days on, the check-in is overdue.
    other = cast.other_peer if peer.id == cast.peer.id else cast.peer
    assert needs(await _home(client, other)) == []
    clock.advance(days=3)
    lead = needs(await _home(client, cast.lead))
    assert ("/overview", "1 check-in overdue") in lead
    assert ("/flags", "1 urgent flag open the oldest has waited 9 days") in lead
    assert needs(await _home(client, peer)) == [("/checkins", "1 check-in overdue")]


async def test_requests_referrals_and_shares_reach_the_homes_of_those_who_act_on_them(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    """A request waits (lead: waiting; each matching peer: could take; the asker: waiting for
    a peer); a referral waits (lead: for contact; clinician: new; the person: a share to OK)."""
    from tests.referrals.test_referrals import flagged

    async with signed_in(client, cast.responder) as me:
        asked = await me.post(
            "/api/requests",
            json={"urgency": "this_week", "contact_method": "in_person", "safety_concern": False},
        )
        assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    assert ("/requests", "1 request for a peer waiting") in needs(await _home(client, cast.lead))
    assert ("/requests", "1 request you could take") in needs(await _home(client, cast.peer))
    assert (f"/requests/{request_id}", "Your request for a peer waiting for a peer") in needs(
        await _home(client, cast.responder)
    )

    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
        )
        assert made.status_code == 201, made.text
    referral_id = made.json()["id"]
    clinician = needs(await _home(client, cast.clinician))
    assert [href for href, _ in clinician] == ["/referrals"]
    assert clinician[0][1].startswith("1 new referral waiting for contact the oldest sent")
    assert ("/flags", "1 referral waiting for contact") in needs(await _home(client, cast.lead))
    mine = needs(await _home(client, cast.responder))
    assert (f"/referrals/{referral_id}", "A referral asks to share your check-ins: yours to decide") in mine
    # Nobody else's home mentions any of it.
    for other in (cast.other_clinician, cast.supervisor, cast.admin):
        assert needs(await _home(client, other)) == [], other.name
