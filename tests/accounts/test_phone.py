"""Phone numbers: checked with phonenumbers, stored E.164, shown as tap-to-call links to the
person's own peer (check-in page) and clinician (referral), and to nobody else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, sign_in, signed_in
from tests.conftest import FakeClock
from tests.referrals.test_referrals import flagged
from trim.accounts import service
from trim.accounts.actor import SYSTEM
from trim.accounts.models import Person
from trim.accounts.roster import import_roster
from trim.accounts.rules import normalize_phone, parse_roster, phone_display
from trim.config import Settings
from trim.db import AsyncSession, utcnow


@pytest.mark.parametrize(
    ("typed", "region", "stored"),
    [
        ("020 7946 0123", "GB", "+442079460123"),
        ("+44 (0)20 7946 0123", "GB", "+442079460123"),
        ("0044 20 7946 0123", "GB", "+442079460123"),
        ("+353 1 234 5678", "GB", "+35312345678"),
        ("(202) 555-0143", "US", "+12025550143"),
    ],
)
def test_numbers_people_type_are_stored_e164(typed: str, region: str, stored: str) -> None:
    assert normalize_phone(typed, region=region) == stored


@pytest.mark.parametrize("typed", ["not a phone!!", "0770", "12", "020 7946 01234567", "+44 20", ""])
def test_what_is_not_a_phone_number_is_refused_in_words(typed: str) -> None:
    with pytest.raises(ValueError, match=r"phone number|dialled"):
        normalize_phone(typed, region="GB")


def test_numbers_are_shown_national_at_home_and_international_abroad() -> None:
    assert phone_display("+442079460123", region="GB") == "020 7946 0123"
    assert phone_display("+35312345678", region="GB") == "+353 1 234 5678"


def test_roster_phone_column_is_checked_per_line() -> None:
    parsed = parse_roster(
        [
            (2, {"staff_number": "F1", "name": "Ana", "email": "a@example.org", "phone": "020 7946 0001"}),
            (3, {"staff_number": "F2", "name": "Ben", "email": "b@example.org", "phone": "not a phone!!"}),
            (4, {"staff_number": "F3", "name": "Cy", "email": "c@example.org", "phone": ""}),
        ],
        phone_region="GB",
    )
    assert [(r.staff_number, r.phone) for r in parsed.rows] == [("F1", "+442079460001"), ("F3", "")]
    assert [(p.line, p.reason) for p in parsed.problems] == [(3, "phone 'not a phone!!' is not a phone number")]


async def test_roster_import_sets_and_keeps_phones(session: AsyncSession, settings: Settings) -> None:
    data = b"staff_number,name,email,station,roles,phone\nF9,Ana Lopez,ana@example.org,North,,020 7946 0009\n"
    await import_roster(session, actor=SYSTEM, data=data, now=utcnow(), settings=settings)
    await session.commit()
    person = await service.person_by_staff_number(session, "F9")
    assert person is not None and person.phone == "+442079460009"
    # A roster without the column leaves the phone as it was.
    await import_roster(
        session,
        actor=SYSTEM,
        data=b"staff_number,name,email,station,roles\nF9,Ana Lopez,ana@example.org,North,\n",
        now=utcnow(),
        settings=settings,
    )
    await session.commit()
    await session.refresh(person)
    assert person.phone == "+442079460009"


async def test_admin_form_refuses_a_non_number_kindly_and_keeps_what_was_typed(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.admin.email)
    form = {
        "name": "Nia Okoro",
        "staff_number": "F-2001",
        "email": "nia@example.org",
        "roles": ["responder"],
        "_csrf_token": client.cookies["csrftoken"],
    }
    refused = await client.post("/admin/people", data={**form, "phone": "not a phone!!"})
    assert refused.status_code == 422
    assert "Enter a phone number in digits" in refused.text
    assert 'value="not a phone!!"' in refused.text and 'value="Nia Okoro"' in refused.text
    assert await service.person_by_email(session, "nia@example.org") is None
    saved = await client.post("/admin/people", data={**form, "phone": "020 7946 0555"}, follow_redirects=False)
    assert saved.status_code == 303
    person = await service.person_by_email(session, "nia@example.org")
    assert person is not None and person.phone == "+442079460555"
    shown = await client.get(saved.headers["location"])
    assert 'value="020 7946 0555"' in shown.text
    # The people list shows it too, as a number to tap, found by the person's name.
    listed = await client.get("/admin/people", params={"q": "Nia Okoro"})
    assert '<a href="tel:+442079460555">020 7946 0555</a>' in listed.text


async def test_a_person_sets_their_own_phone_on_their_profile(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    async with signed_in(client, cast.responder) as me:
        token = me.cookies["csrftoken"]
        refused = await me.post("/profile/phone", data={"phone": "call me!!", "_csrf_token": token})
        assert refused.status_code == 422
        assert "Enter a phone number in digits" in refused.text and 'value="call me!!"' in refused.text
        saved = await me.post("/profile/phone", data={"phone": "020 7946 0777", "_csrf_token": token})
        assert "Your phone number is saved." in saved.text and 'value="020 7946 0777"' in saved.text
        person = await session.get(Person, cast.responder.id, populate_existing=True)
        assert person is not None and person.phone == "+442079460777"
        removed = await me.post("/profile/phone", data={"phone": "", "_csrf_token": token})
        assert "Your phone number is removed." in removed.text
        person = await session.get(Person, cast.responder.id, populate_existing=True)
        assert person is not None and person.phone is None


async def test_a_request_with_a_phone_that_is_not_one_is_refused_naming_the_field(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    async with signed_in(client, cast.responder) as me:
        refused = await me.post(
            "/api/requests",
            json={"urgency": "today", "contact_method": "phone", "contact": "not a phone!!", "safety_concern": False},
        )
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["contact"]
        email = await me.post(
            "/api/requests",
            json={"urgency": "today", "contact_method": "email", "contact": "nobody", "safety_concern": False},
        )
        assert email.status_code == 422


async def _give_phone(session: AsyncSession, person: Person, phone: str) -> None:
    row = await session.get(Person, person.id)
    assert row is not None
    row.phone = phone
    session.add(row)
    await session.commit()


async def test_the_assigned_peer_can_tap_to_call_from_the_checkin_page_and_nobody_else_sees_it(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    await _give_phone(session, cast.responder, "+442079460123")
    async with signed_in(client, cast.lead) as lead:
        made = await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=4)).isoformat(),
                "kind": "difficult_rescue",
                "station_id": str(cast.station_a.id),
                "summary": "Long extrication.",
                "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
            },
        )
        assert made.status_code == 201, made.text
        day3 = next(c for c in (await lead.get("/api/checkins")).json() if c["kind"] == "day3")
        as_lead = (await lead.get(f"/checkins/{day3['id']}")).text
    peer = cast.peer if day3["peer_id"] == str(cast.peer.id) else cast.other_peer
    async with signed_in(client, peer) as browser:
        html = (await browser.get(f"/checkins/{day3['id']}")).text
        assert 'href="tel:+442079460123"' in html and "020 7946 0123" in html
        assert f'href="mailto:{cast.responder.email}"' in html
    # The lead sees that the check-in is due, not how to ring the person; nor does the person.
    assert "tel:+442079460123" not in as_lead and f"mailto:{cast.responder.email}" not in as_lead
    async with signed_in(client, cast.responder) as me:
        assert "tel:+442079460123" not in (await me.get(f"/checkins/{day3['id']}")).text


async def test_the_clinician_sees_the_contact_on_a_consented_referral_only(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    await _give_phone(session, cast.responder, "+442079460124")
    flag, peer = await flagged(client, cast, clock)
    async with signed_in(client, peer) as browser:
        made = (
            await browser.post(
                f"/api/flags/{flag['id']}/referral",
                json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": False},
            )
        ).json()
        as_peer = (await browser.get(f"/referrals/{made['id']}")).text
    assert "tel:+442079460124" not in as_peer  # the peer reaches them from the check-in page
    async with signed_in(client, cast.clinician) as clinician:
        html = (await clinician.get(f"/referrals/{made['id']}")).text
        assert 'href="tel:+442079460124"' in html and f'href="mailto:{cast.responder.email}"' in html
        # The status picker starts on nothing: one tap cannot record contact that did not happen.
        assert '<option value="" selected disabled>Choose what happened</option>' in html
        empty = await clinician.post(
            f"/referrals/{made['id']}/status", data={"status": "", "_csrf_token": clinician.cookies["csrftoken"]}
        )
        assert "Choose what happened with this referral; nothing was recorded." in empty.text
    async with signed_in(client, cast.other_clinician) as other:
        assert (await other.get(f"/referrals/{made['id']}")).status_code == 404
