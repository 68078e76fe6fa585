"""A referral from a flag raised by a request made without a name: the peer who took it
sees the pseudonym on the referral too (never the name or an id to look it up by), and a
clinician, who would need the name, cannot be chosen until the person shows it."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import Cast, signed_in
from trim.db import AsyncSession
from trim.referrals.models import Referral
from trim.requests.models import PeerRequest


async def test_a_referral_for_someone_who_asked_without_their_name_keeps_the_pseudonym(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    async with signed_in(client, cast.responder) as responder:
        asked = await responder.post(
            "/api/requests",
            json={
                "urgency": "today",
                "contact_method": "conversation",
                "safety_concern": True,
                "anonymous": True,
                "message": "Not sleeping.",
            },
        )
        assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    pseudonym = (await session.exec(select(PeerRequest.pseudonym))).one()
    assert pseudonym
    async with signed_in(client, cast.peer) as peer:
        assert (await peer.post(f"/api/requests/{request_id}/accept")).status_code == 200
        (flag,) = (await peer.get("/api/flags")).json()
        to_clinician = await peer.post(
            f"/api/flags/{flag['id']}/referral",
            json={"consent": True, "share_assessment": False, "clinician_id": str(cast.clinician.id)},
        )
        assert to_clinician.status_code == 422
        assert "needs their name" in to_clinician.json()["detail"]
        assert (await session.exec(select(func.count()).select_from(Referral))).one() == 0  # nothing stored
        declined = await peer.post(
            f"/api/flags/{flag['id']}/referral", json={"consent": False, "share_assessment": False}
        )
        assert declined.status_code == 201, declined.text
        (listed,) = (await peer.get("/api/referrals")).json()
        assert listed["person"] == {"id": None, "name": pseudonym}
        page = (await peer.get(f"/referrals/{declined.json()['id']}")).text
        assert pseudonym in page and cast.responder.name not in page
    async with signed_in(client, cast.lead) as lead:  # the lead, told of the safety concern, has the name
        (seen,) = (await lead.get("/api/referrals")).json()
        assert seen["person"] == {"id": str(cast.responder.id), "name": cast.responder.name}
