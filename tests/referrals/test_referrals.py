"""Flags become referrals with consent; clinicians see only what was consented; people
can withdraw; supervisors, admins, other peers and other clinicians see nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for

NOTE = "Spoke about the crash at length; wants help sleeping."


async def flagged(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock) -> tuple[dict[str, Any], Any]:
    """The responder's day3 recorded with a safety concern: one urgent flag. Returns (flag, peer)."""
    async with signed_in(client, cast.lead) as lead:
        await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=4)).isoformat(),
                "kind": "mass_casualty",
                "station_id": str(cast.station_a.id),
                "summary": "Coach crash.",
                "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
            },
        )
        day3 = next(c for c in (await lead.get("/api/checkins")).json() if c["kind"] == "day3")
    peer = cast.peer if day3["peer_id"] == str(cast.peer.id) else cast.other_peer
    async with signed_in(client, peer) as browser:
        recorded = await browser.post(
            f"/api/checkins/{day3['id']}/record",
            json={
                "outcome": "completed",
                "answers": answers_for("day3", risk_yes=4),
                "safety_concern": True,
                "notes": NOTE,
            },
        )
        assert recorded.status_code == 201, recorded.text
        (flag,) = (await browser.get("/api/flags")).json()
    return flag, peer


async def confirm_share(client: AsyncTestClient[Litestar], cast: Cast, referral_id: str) -> dict[str, Any]:
    """The responder, themselves, agrees to share their check-in answers."""
    async with signed_in(client, cast.responder) as responder:
        done = await responder.post(f"/api/referrals/{referral_id}/share")
        assert done.status_code == 200, done.text
        body: dict[str, Any] = done.json()
        return body


async def test_consented_shared_referral_reaches_only_its_clinician(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    assert (flag["cause"], flag["urgent"], flag["status"]) == ("safety_concern", True, "open")
    async with signed_in(client, peer) as browser:
        made = await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
        )
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "referred"
        again = await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
        )
        assert again.status_code == 409
    referral_id = made.json()["id"]
    async with signed_in(client, cast.clinician) as clinician:
        (inbox,) = (await clinician.get("/api/referrals")).json()
        assert inbox["shared"] is False and inbox["assessment"] is None  # until the person says so
    await confirm_share(client, cast, referral_id)
    async with signed_in(client, cast.clinician) as clinician:
        (inbox,) = (await clinician.get("/api/referrals")).json()
        assert inbox["person"]["name"] == cast.responder.name and inbox["shared"] is True
        assert inbox["assessment"][0]["notes"] == NOTE
        assert inbox["assessment"][0]["results"][0]["score"] == 4
        page = await clinician.get(f"/referrals/{referral_id}")
        assert NOTE in page.text
        updated = await clinician.post(f"/api/referrals/{referral_id}/status", json={"status": "taken_up"})
        assert updated.json()["status"] == "taken_up"
        bad = await clinician.post(f"/api/referrals/{referral_id}/status", json={"status": "cured"})
        assert bad.status_code == 400
    other_peer = cast.other_peer if peer is cast.peer else cast.peer
    for person in (cast.other_clinician, cast.supervisor, cast.admin, other_peer):
        async with signed_in(client, person) as browser:
            assert (await browser.get(f"/referrals/{referral_id}")).status_code == 404, person.name
            assert (await browser.get(f"/flags/{flag['id']}")).status_code == 404, person.name
            listed = await browser.get("/api/referrals")
            assert listed.status_code == 200 and listed.json() == [], person.name
            assert (await browser.get("/api/flags")).json() == [], person.name
    async with signed_in(client, cast.lead) as lead:
        flags_page = await lead.get("/flags")
        assert cast.responder.name in flags_page.text
        referrals = (await lead.get("/api/referrals")).json()
        assert referrals[0]["status"] == "taken_up" and referrals[0]["assessment"] is None
        detail = await lead.get(f"/referrals/{referral_id}")
        assert NOTE not in detail.text


async def test_shared_only_with_consent_to_share(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": False},
        )
    async with signed_in(client, cast.clinician) as clinician:
        (inbox,) = (await clinician.get("/api/referrals")).json()
        assert inbox["shared"] is False and inbox["assessment"] is None
        page = await clinician.get(f"/referrals/{inbox['id']}")
        assert NOTE not in page.text


async def test_a_declined_referral_is_recorded_and_nothing_is_sent(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = await browser.post(f"/api/flags/{flag['id']}/referral", json={"consent": False})
        assert made.json()["status"] == "declined"
        assert (await browser.get("/api/flags")).json()[0]["status"] == "declined"
    async with signed_in(client, cast.clinician) as clinician:
        assert (await clinician.get("/api/referrals")).json() == []


async def test_withdrawing_consent_ends_the_clinicians_access(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = (
            await browser.post(
                f"/api/flags/{flag['id']}/referral",
                json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
            )
        ).json()
    await confirm_share(client, cast, made["id"])
    async with signed_in(client, cast.clinician) as clinician:
        assert NOTE in (await clinician.get(f"/referrals/{made['id']}")).text
    async with signed_in(client, cast.responder) as responder:
        record = await responder.get("/me")
        assert "withdraw consent" in record.text
        done = await responder.post(f"/api/referrals/{made['id']}/withdraw")
        assert done.json()["status"] == "withdrawn"
    async with signed_in(client, cast.clinician) as clinician:
        assert (await clinician.get(f"/referrals/{made['id']}")).status_code == 404
        assert (await clinician.get("/api/referrals")).json() == []
    async with signed_in(client, cast.responder) as responder:
        again = await responder.post(f"/api/referrals/{made['id']}/share")
        assert again.status_code == 409  # nothing can be shared on a closed referral
        page = (await responder.get("/me")).text
        assert "You withdrew your consent on" in page and "nothing you shared can be seen any more" in page
    async with signed_in(client, peer) as browser:
        assert (await browser.post(f"/api/referrals/{made['id']}/withdraw")).status_code == 404


async def test_closing_a_flag_needs_a_reason(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock) -> None:
    flag, _peer = await flagged(client, cast, clock)
    async with signed_in(client, cast.lead) as lead:
        empty = await lead.post(f"/api/flags/{flag['id']}/close", json={"reason": ""})
        assert empty.status_code == 400
        page = await lead.post(
            f"/flags/{flag['id']}/close", data={"reason": " ", "_csrf_token": lead.cookies["csrftoken"]}
        )
        assert page.status_code == 422 and "Give a short reason" in page.text
        closed = await lead.post(f"/api/flags/{flag['id']}/close", json={"reason": "Already with their GP."})
        assert closed.json() == {"id": flag["id"], "status": "closed"}
        assert (await lead.post(f"/api/flags/{flag['id']}/close", json={"reason": "again"})).status_code == 409


async def test_urgent_flag_is_acknowledged_from_its_page(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    clock.advance(minutes=12)
    async with signed_in(client, cast.lead) as lead:
        # At the top of the lead's overview, with how long it has waited.
        overview = (await lead.get("/overview")).text
        assert "Urgent flags nobody has picked up (1)" in overview and "waiting 12 minutes" in overview
        assert overview.index("Urgent flags nobody") < overview.index('class="counts"')
    async with signed_in(client, peer) as browser:
        listing = await browser.get("/flags")
        assert "Urgent: not yet picked up" in listing.text
        page = await browser.get(f"/flags/{flag['id']}")
        assert "What did you do straight away?" in page.text
        token = browser.cookies["csrftoken"]
        # Saying nothing, or "something else" without the words, is refused and changes nothing.
        empty = await browser.post(f"/flags/{flag['id']}/acknowledge", data={"_csrf_token": token})
        assert empty.status_code == 422 and "Say what was done straight away." in empty.text
        vague = await browser.post(f"/flags/{flag['id']}/acknowledge", data={"_csrf_token": token, "action": "other"})
        assert vague.status_code == 422 and "Say in a few words what was done." in vague.text
        assert "Urgent: not yet picked up" in (await browser.get("/flags")).text
        done = await browser.post(
            f"/flags/{flag['id']}/acknowledge",
            data={"_csrf_token": token, "action": "other", "note": "Drove her to her sister's."},
        )
        assert "Acknowledged" in done.text and "Something else (Drove her to her sister&#39;s.)" in done.text
        assert "Urgent: not yet picked up" not in (await browser.get("/flags")).text
        # The first answer stands.
        again = await browser.post(f"/api/flags/{flag['id']}/acknowledge", json={"action": "crisis_line"})
        assert again.status_code == 200 and again.json()["action"] == "other"
    async with signed_in(client, cast.lead) as lead:
        # The lead sees what kind of action it was and how quickly, never the words.
        seen = await lead.get(f"/flags/{flag['id']}")
        assert "Something else" in seen.text and "Drove her" not in seen.text
        overview = (await lead.get("/overview")).text
        assert "Urgent flags nobody has picked up" not in overview
        assert "Urgent flags picked up in the last 30 days" in overview
        assert "<td>12 minutes</td>" in overview and "<td>Something else</td>" in overview
        assert "Drove her" not in overview


async def test_acknowledge_by_api_needs_a_known_action(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        bad = await browser.post(f"/api/flags/{flag['id']}/acknowledge", json={"action": "prayed"})
        assert bad.status_code == 422
        assert bad.json()["errors"] == [{"field": "action", "message": "Say what was done straight away."}]
        ok = await browser.post(f"/api/flags/{flag['id']}/acknowledge", json={"action": "told_on_call"})
        assert ok.status_code == 200 and ok.json()["action"] == "told_on_call"


async def test_own_record_holds_everything_and_who_read_it(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
        )
    await confirm_share(client, cast, made.json()["id"])
    async with signed_in(client, cast.clinician) as clinician:
        await clinician.get("/api/referrals")
    async with signed_in(client, cast.responder) as responder:
        record = (await responder.get("/api/me/record")).json()
        assert record["profile"]["email"] == cast.responder.email
        day3 = next(c for c in record["checkins"] if c["kind"] == "day3")
        assert day3["record"]["notes"] == NOTE and day3["record"]["results"][0]["score"] == 4
        assert record["flags"][0]["urgent"] is True
        assert record["referrals"][0]["to"] == cast.clinician.name
        readers = {(r["who"], r["action"]) for r in record["reads"]}
        assert (peer.name, "checkin.recorded") in readers
        assert (cast.clinician.name, "referral.assessment_read") in readers
        assert all(r["who"] != cast.responder.name for r in record["reads"])
        csv_text = (await responder.get("/me/record.csv")).text
        assert csv_text.startswith("section,item,field,value") and NOTE in csv_text
        page = await responder.get("/me")
        assert "Who has read your record" in page.text and cast.clinician.name in page.text
    async with signed_in(client, cast.supervisor) as supervisor:
        own = (await supervisor.get("/api/me/record")).json()
        assert own["checkins"] == [] and own["flags"] == []


async def test_admin_sees_audit_metadata_never_content(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    _flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, cast.admin) as admin:
        page = await admin.get("/admin/audit")
        assert page.status_code == 200
        assert "checkin.recorded" in page.text and peer.name in page.text
        assert NOTE not in page.text and cast.responder.name not in page.text and "safety" not in page.text
    for person in (cast.lead, cast.peer, cast.responder):
        async with signed_in(client, person) as browser:
            assert (await browser.get("/admin/audit")).status_code == 404
