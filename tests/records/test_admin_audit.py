"""The admin's audit view does not tie people to what they did about themselves (design
3a): asking for a peer, withdrawing, opting out, asking for another peer, reading their
own record, agreeing to share are not listed at all (nor found by filtering); they stay in
the chain, which still verifies, and on the person's own record. Times to the minute.
Sign-ins and account changes stay listed by name."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of, verified
from trim.config import Settings
from trim.db import AsyncSession
from trim.privacy.models import AuditEvent

SELF_ACTIONS = (
    "checkin.viewed",
    "request.created",
    "request.withdrawn",
    "referral.withdrawn",
    "referral.share_confirmed",
    "exposure.opted_out",
    "peer_change.requested",
    "record.viewed",
)
ROW = re.compile(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td><code>([^<]*)</code></td>")


async def the_responder_looks_after_themselves(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    """Everything a person can do about their own support, one after the other."""
    async with signed_in(client, cast.lead) as lead:
        made = await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=4)).isoformat(),
                "kind": "child_death",
                "station_id": str(cast.station_a.id),
                "summary": "Cardiac arrest of an infant.",
                "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
            },
        )
        assert made.status_code == 201
    day3, day28 = await checkins_of(session, cast.responder)
    peer = cast.peer if day3.peer_id == cast.peer.id else cast.other_peer
    async with signed_in(client, peer) as browser:
        recorded = await browser.post(
            f"/api/checkins/{day3.id}/record",
            json={"outcome": "completed", "answers": answers_for("day3", risk_yes=4), "safety_concern": True},
        )
        assert recorded.status_code == 201
        (flag,) = recorded.json()["flags"]
        referral = await browser.post(
            f"/api/flags/{flag['id']}/referral",
            json={"clinician_id": str(cast.clinician.id), "consent": True, "share_assessment": True},
        )
        assert referral.status_code == 201
    async with signed_in(client, cast.responder) as responder:
        token = {"_csrf_token": responder.cookies["csrftoken"]}
        assert (await responder.post(f"/api/referrals/{referral.json()['id']}/share")).status_code == 200
        assert (await responder.post(f"/api/referrals/{referral.json()['id']}/withdraw")).status_code == 200
        assert (await responder.post(f"/checkins/{day28.id}/different-peer", data=token)).status_code == 200
        assert (
            await responder.post(f"/checkins/{day28.id}/opt-out", data={**token, "confirm": "yes"})
        ).status_code == 200
        assert (await responder.get("/me")).status_code == 200
        # Opening their own check-in and the incident it belongs to reads their own record too.
        assert (await responder.get(f"/checkins/{day28.id}")).status_code == 200
        assert (await responder.get(f"/incidents/{made.json()['id']}")).status_code == 200
        asked = await responder.post(
            "/api/requests", json={"urgency": "today", "contact_method": "in_person", "safety_concern": True}
        )
        assert asked.status_code == 201
        again = await responder.post(
            "/api/requests", json={"urgency": "this_week", "contact_method": "in_person", "safety_concern": False}
        )
        assert (await responder.post(f"/api/requests/{again.json()['id']}/withdraw")).status_code == 200


async def test_the_admin_filtering_by_request_created_lists_nobody(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    """The attack as reported: filter the audit page by request.created to list every
    person who asked for a peer, and spot the flag raised in the same second."""
    await the_responder_looks_after_themselves(client, cast, clock, session)
    held = set(await session.exec(select(AuditEvent.action)))
    assert set(SELF_ACTIONS) <= held  # they happened, and are in the chain
    async with signed_in(client, cast.admin) as admin:
        for action in SELF_ACTIONS:
            page = html.unescape((await admin.get(f"/admin/audit?action={action}")).text)
            assert ROW.findall(page) == [], action
            assert "No events." in page and cast.responder.name not in page
            assert f'<option value="{action}"' not in page  # not even offered as a filter
        everything = html.unescape((await admin.get("/admin/audit")).text)
    rows = ROW.findall(everything)
    listed = [action for _when, _who, action in rows]
    assert not set(SELF_ACTIONS) & set(listed)
    # The flag raised by the request's safety "yes" is not listed; the check-in's is.
    assert listed.count("flag.raised") == 1
    # Sign-ins stay listed by name; nothing else names the responder.
    by_responder = {action for _when, who, action in rows if who == cast.responder.name}
    assert by_responder == {"session.started"}
    # What others did stays listed: the peer's check-in and referral, the lead's incident.
    assert {"checkin.recorded", "referral.offered", "referral.share_requested", "incident.logged"} <= set(listed)
    # To the minute, and no sequence numbers to line events up by.
    assert rows and all(re.fullmatch(r"\w{3} \d{1,2} \w{3} \d{4}, \d{2}:\d{2}", when) for when, _, _ in rows)
    assert '<th scope="col">#</th>' not in everything
    shown_total = int(re.search(r"(\d+) events\.", everything).group(1))  # type: ignore[union-attr]
    assert shown_total == len(rows)
    # The chain holds every event, the hidden ones too, and still verifies.
    report = await verified(session, settings)
    everything_held = int((await session.exec(select(func.count()).select_from(AuditEvent))).one())
    assert report.ok and report.checked == everything_held > len(rows)


async def test_what_the_admin_does_not_list_stays_on_the_persons_own_record(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    await the_responder_looks_after_themselves(client, cast, clock, session)
    async with signed_in(client, cast.responder) as responder:
        record = (await responder.get("/api/me/record")).json()
    assert sorted(r["status"] for r in record["requests"]) == ["open", "withdrawn"]
    (referral,) = record["referrals"]
    assert referral["status"] == "withdrawn" and referral["share_confirmed_at"] is not None
    (exposure,) = record["exposures"]
    assert exposure["opted_out_at"] is not None
    # Who else read or changed something about them is still theirs to see.
    assert {"checkin.recorded", "referral.offered"} <= {r["action"] for r in record["reads"]}


async def test_account_changes_by_the_admin_stay_listed_by_name(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.admin) as admin:
        changed = await admin.post(
            f"/admin/people/{cast.responder.id}",
            data={
                "name": "Responder Renamed",
                "email": cast.responder.email,
                "staff_number": cast.responder.staff_number,
                "station_id": str(cast.station_a.id),
                "roles": "responder",
                "_csrf_token": admin.cookies["csrftoken"],
            },
        )
        assert changed.status_code in (200, 303), changed.text
        page = html.unescape((await admin.get("/admin/audit?action=person.updated")).text)
    assert (cast.admin.name, "person.updated") in {(who, action) for _when, who, action in ROW.findall(page)}
    # The allow twin of the filter above: a listed action is offered and finds its events.
    assert '<option value="person.updated" selected>' in page
