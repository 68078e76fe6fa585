"""'Who has read your record' reassures rather than frightens: one row per person and day,
in plain words why each could see it, below the record with a count first, and no row for
an opening that showed nothing about the person (issue 17 point 3)."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, make_person, signed_in
from tests.conftest import FakeClock
from tests.helpers import assigned_peer, checkins_of, make_incident
from trim.config import Settings
from trim.db import AsyncSession


async def test_reads_are_grouped_explained_and_only_those_that_showed_something(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    incident = await make_incident(
        session,
        actor=cast.actor("supervisor"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=4),
        now=clock(),
        settings=settings,
    )
    # Another watch manager at the same station sees the incident, but not who was on it.
    colleague = await make_person(session, roles=["supervisor"], station=cast.station_a, name="Other Watch Manager")
    await session.commit()
    peer = await assigned_peer(session, (await checkins_of(session, cast.responder))[0])
    day3 = (await checkins_of(session, cast.responder))[0]
    async with signed_in(client, cast.supervisor) as supervisor:
        for _ in range(5):  # five opens in a minute: one row
            assert (await supervisor.get(f"/incidents/{incident.id}")).status_code == 200
    async with signed_in(client, colleague) as other:
        assert (await other.get(f"/incidents/{incident.id}")).status_code == 200
    async with signed_in(client, cast.lead) as lead:
        assert (await lead.get(f"/incidents/{incident.id}")).status_code == 200
    async with signed_in(client, peer) as browser:
        assert (await browser.get(f"/checkins/{day3.id}")).status_code == 200

    async with signed_in(client, cast.responder) as me:
        html = (await me.get("/me")).text
        record = (await me.get("/api/me/record")).json()
    reads = html[html.index('id="h-reads"') :]
    assert "Other Watch Manager" not in html  # shown nothing of the person: not listed as if it had
    assert "Other Watch Manager" not in {r["who"] for r in record["reads"]}
    assert "3 people have</strong> opened something about you" in reads
    rows = re.findall(r"<tr><td>.*?</tr>", reads, flags=re.S)
    (sup,) = [r for r in rows if cast.supervisor.name in r]  # five opens, one row
    assert "logged the incident: saw your name only" in sup and "(5 times)" in sup
    assert any(peer.name in r and "your peer supporter" in r for r in rows)
    assert any(cast.lead.name in r and "the programme lead" in r for r in rows)
    # Below the record, not under the reassurance at the top.
    assert html.index('id="h-reads"') > html.index('id="h-profile"')
