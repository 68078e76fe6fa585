"""Words on the flag and check-in pages say one thing once, and say who can read what."""

from __future__ import annotations

from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.referrals.test_referrals import flagged


async def test_a_referred_flag_states_its_status_once_in_words(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": False},
        )
        assert made.status_code == 201, made.text
        html = (await browser.get(f"/flags/{flag['id']}")).text
    assert "Referral: Referred, waiting for contact" in html
    assert "<dt>Referral</dt>" not in html and ">referred<" not in html


async def test_the_notes_label_says_the_person_and_perhaps_a_clinician_can_read_them(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=4)).isoformat(),
                "kind": "suicide",
                "station_id": str(cast.station_a.id),
                "summary": "Attended a suicide.",
                "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
            },
        )
        day3 = next(c for c in (await lead.get("/api/checkins")).json() if c["kind"] == "day3")
    peer = cast.peer if day3["peer_id"] == str(cast.peer.id) else cast.other_peer
    async with signed_in(client, peer) as browser:
        html = (await browser.get(f"/checkins/{day3['id']}")).text
    name = cast.responder.name
    assert f"{name} can read them, and a clinician too if {name} agrees to share them" in html
    assert "only you and" not in html
