"""Consent to share is the person's own act (design 3a): whoever records a referral records
the person's consent to be referred, never to themselves; sharing the assessment waits
for the person's own OK, given on their record or through the API, and only by them."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from tests.cast import Cast, make_person, signed_in
from tests.conftest import FakeClock
from tests.helpers import verified
from tests.referrals.test_referrals import NOTE, flagged
from trim.accounts.models import Person
from trim.config import Settings
from trim.db import AsyncSession
from trim.notifications.models import OutboxMessage
from trim.privacy.models import AuditEvent
from trim.referrals.models import Referral

REFER = {"consent": True, "share_assessment": True}


async def refer(browser: AsyncTestClient[Litestar], flag: dict[str, Any], clinician: Person, **body: Any) -> Any:
    return await browser.post(
        f"/api/flags/{flag['id']}/referral", json={"clinician_id": str(clinician.id), **REFER, **body}
    )


async def referrals_of(session: AsyncSession, person: Person) -> list[Referral]:
    stmt = select(Referral).where(Referral.person_id == person.id)
    return list(await session.exec(stmt.execution_options(populate_existing=True)))


async def actions(session: AsyncSession) -> list[str]:
    return list(await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))


async def test_a_lead_who_is_also_a_clinician_cannot_refer_a_flag_to_themselves(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    """The attack as reported: refer to oneself with consent and sharing, then read the
    peer's notes and answers. Refused (422), and nothing is recorded."""
    flag, _peer = await flagged(client, cast, clock)
    dual = await make_person(session, roles=["lead", "clinician"], station=cast.station_a, name="Dual Role")
    async with signed_in(client, dual) as browser:
        refused = await refer(browser, flag, dual)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "clinician_id"
        assert "cannot refer someone to yourself" in refused.json()["detail"]
        # The page: the same refusal next to the field, what was chosen kept.
        form = await browser.post(
            f"/flags/{flag['id']}/referral",
            data={
                "consent": "yes",
                "to": f"clinician:{dual.id}",
                "share_assessment": "yes",
                "_csrf_token": browser.cookies["csrftoken"],
            },
        )
        assert form.status_code == 422
        assert 'class="field-error" id="clinician_id-error"' in form.text
        assert "You cannot refer someone to yourself" in form.text
        # They are not offered as a choice in the first place.
        page = await browser.get(f"/flags/{flag['id']}")
        assert f'value="clinician:{dual.id}"' not in page.text
        assert f'value="clinician:{cast.clinician.id}"' in page.text
        assert (await browser.get("/api/flags")).json()[0]["status"] == "open"
        listed = (await browser.get("/api/referrals")).json()
        assert listed == [] and NOTE not in page.text
    assert await referrals_of(session, cast.responder) == []
    # The allow twin: the same person refers to another clinician.
    async with signed_in(client, dual) as browser:
        made = await refer(browser, flag, cast.clinician)
        assert made.status_code == 201, made.text


async def test_sharing_waits_for_the_persons_own_ok(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = await refer(browser, flag, cast.clinician)
        assert made.status_code == 201 and made.json()["status"] == "referred"
    referral_id = made.json()["id"]
    # The clinician sees the referral, not shared, with nothing of the assessment.
    async with signed_in(client, cast.clinician) as clinician:
        (inbox,) = (await clinician.get("/api/referrals")).json()
        assert (inbox["shared"], inbox["share_pending"], inbox["assessment"]) == (False, True, None)
        page = await clinician.get(f"/referrals/{referral_id}")
        assert page.status_code == 200 and NOTE not in page.text and "Shared with consent" not in page.text
        assert "Not yet: waiting for the person" in page.text
    # The person's record says truthfully what waits and what they agreed to.
    async with signed_in(client, cast.responder) as responder:
        (entry,) = (await responder.get("/api/me/record")).json()["referrals"]
        assert (entry["shared_assessment"], entry["share_pending"], entry["share_confirmed_at"]) == (False, True, None)
        page = (await responder.get("/me")).text
        assert "Waiting for your OK" in page and f'action="/referrals/{referral_id}/share"' in page
        assert "You agreed" not in page and "agreed to share" not in page
    # The person was asked by email, with nothing in it but a link to their record.
    (asked,) = [
        m
        for m in await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "consent"))
        if m.to_address == cast.responder.email
    ]
    assert asked.subject == "Something is waiting for your OK" and asked.link == "/me#referrals"
    assert cast.clinician.name not in asked.body and NOTE not in asked.body
    assert "referral.share_requested" in await actions(session)

    # Nobody but the person can confirm: for everyone else the action does not exist.
    other_peer = cast.other_peer if peer is cast.peer else cast.peer
    for person in (peer, other_peer, cast.lead, cast.clinician, cast.other_clinician, cast.supervisor, cast.admin):
        async with signed_in(client, person) as browser:
            assert (await browser.post(f"/api/referrals/{referral_id}/share")).status_code == 404, person.name
            form = await browser.post(
                f"/referrals/{referral_id}/share", data={"_csrf_token": browser.cookies["csrftoken"]}
            )
            assert form.status_code == 404, person.name
    async with signed_in(client, cast.clinician) as clinician:
        assert (await clinician.get("/api/referrals")).json()[0]["shared"] is False

    # The person agrees: now, and only now, the clinician reads it.
    async with signed_in(client, cast.responder) as responder:
        done = await responder.post(f"/api/referrals/{referral_id}/share")
        assert done.status_code == 200
        assert (done.json()["shared"], done.json()["share_pending"]) == (True, False)
        assert (await responder.post(f"/api/referrals/{referral_id}/share")).json()["shared"] is True  # once is enough
        (entry,) = (await responder.get("/api/me/record")).json()["referrals"]
        assert entry["shared_assessment"] is True and entry["share_confirmed_at"] is not None
        page = (await responder.get("/me")).text
        assert "You agreed on" in page and "Waiting for your OK" not in page
    async with signed_in(client, cast.clinician) as clinician:
        (inbox,) = (await clinician.get("/api/referrals")).json()
        assert inbox["shared"] is True and inbox["assessment"][0]["notes"] == NOTE
    logged = await actions(session)
    assert logged.count("referral.share_confirmed") == 1
    confirmed = (await session.exec(select(AuditEvent).where(AuditEvent.action == "referral.share_confirmed"))).one()
    assert confirmed.actor_id == confirmed.subject_id == str(cast.responder.id)
    assert (await verified(session, settings)).ok


async def test_the_person_confirms_from_their_record_page(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = await browser.post(
            f"/flags/{flag['id']}/referral",
            data={
                "consent": "yes",
                "to": f"clinician:{cast.clinician.id}",
                "share_assessment": "yes",
                "_csrf_token": browser.cookies["csrftoken"],
            },
        )
        assert made.status_code == 200 and "nothing is shared until they do" in made.text
    async with signed_in(client, cast.responder) as responder:
        (entry,) = (await responder.get("/api/me/record")).json()["referrals"]
        done = await responder.post(
            f"/referrals/{entry['id']}/share", data={"_csrf_token": responder.cookies["csrftoken"]}
        )
        assert done.status_code == 200 and "The clinician can now see your check-in answers" in done.text
        assert "You agreed on" in done.text
        referral_page = await responder.get(f"/referrals/{entry['id']}")
        assert "you agreed on" in referral_page.text
    async with signed_in(client, cast.clinician) as clinician:
        assert NOTE in (await clinician.get(f"/referrals/{entry['id']}")).text


async def test_a_referral_without_sharing_asks_the_person_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = await refer(browser, flag, cast.clinician, share_assessment=False)
    async with signed_in(client, cast.responder) as responder:
        (entry,) = (await responder.get("/api/me/record")).json()["referrals"]
        assert (entry["share_pending"], entry["shared_assessment"]) == (False, False)
        assert "Your check-in answers are not shared." in (await responder.get("/me")).text
        # Nothing was asked, so there is nothing to agree to.
        assert (await responder.post(f"/api/referrals/{made.json()['id']}/share")).status_code == 409
    consent_mail = await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "consent"))
    assert list(consent_mail) == []
    async with signed_in(client, cast.clinician) as clinician:
        assert (await clinician.get("/api/referrals")).json()[0]["shared"] is False


async def test_sharing_with_a_directory_service_is_refused_clearly(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, cast.lead) as lead:
        await lead.post(
            "/services",
            data={"name": "EAP", "service": "Counselling", "contact": "0800", "_csrf_token": lead.cookies["csrftoken"]},
        )
        service_id = (await lead.get("/services")).text.split('action="/services/', 1)[1].split('"', 1)[0]
    async with signed_in(client, peer) as browser:
        refused = await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"service_id": service_id, "consent": True, "share_assessment": True},
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "share_assessment"
        form = await browser.post(
            f"/flags/{flag['id']}/referral",
            data={
                "consent": "yes",
                "to": f"service:{service_id}",
                "share_assessment": "yes",
                "_csrf_token": browser.cookies["csrftoken"],
            },
        )
        assert form.status_code == 422 and 'id="share_assessment-error"' in form.text
        assert await referrals_of(session, cast.responder) == []
        made = await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"service_id": service_id, "consent": True, "share_assessment": False},
        )
        assert made.status_code == 201
