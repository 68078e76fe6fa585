"""Recording check-ins through the API and the phone form, and who sees what of them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import Cast, sign_in, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for
from trim.assessments.models import Assessment
from trim.db import AsyncSession
from trim.idempotency import IdempotencyKey
from trim.incidents.models import KIND_LABELS
from trim.privacy.models import AuditEvent


async def arrange(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock) -> tuple[dict[str, Any], Any]:
    """The lead logs an incident 30 days ago; returns the responder's day3 check-in and its peer."""
    async with signed_in(client, cast.lead) as lead:
        await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=30)).isoformat(),
                "kind": "mass_casualty",
                "station_id": str(cast.station_a.id),
                "summary": "Coach crash.",
                "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
            },
        )
        checkins = (await lead.get("/api/checkins")).json()
    day3 = next(c for c in checkins if c["kind"] == "day3")
    peer = cast.peer if day3["peer_id"] == str(cast.peer.id) else cast.other_peer
    return day3, peer


async def test_instruments_are_listed(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await sign_in(client, cast.peer.email)
    listed = (await client.get("/api/instruments")).json()
    assert [i["id"] for i in listed] == ["trim_risk", "tsq"]
    assert listed[1]["offered_at"] == ["day28", "day90", "rtw28", "periodic"]
    assert {"id", "text", "phase"} <= set(listed[0]["items"][0])
    assert {i["phase"] for i in listed[0]["items"]} == {"before", "during", "after"}
    assert {i["phase"] for i in listed[1]["items"]} == {"after"}


async def test_api_record_replays_with_the_same_key(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, peer = await arrange(client, cast, clock)
    await sign_in(client, peer.email)
    body = {
        "outcome": "completed",
        "answers": answers_for("day3", risk_yes=3),
        "safety_concern": True,
        "notes": "Private words.",
    }
    first = await client.post(f"/api/checkins/{day3['id']}/record", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201, first.text
    answer = first.json()
    assert (answer["score"], answer["band"]) == (3, "elevated")
    assert answer["results"] == [{"instrument": "trim_risk", "score": 3, "band": "elevated"}]
    assert [(f["cause"], f["urgent"]) for f in answer["flags"]] == [("safety_concern", True)]
    assert "Samaritans" in answer["crisis_guidance"]
    again = await client.post(f"/api/checkins/{day3['id']}/record", json=body, headers={"Idempotency-Key": "k1"})
    assert (again.status_code, again.json()) == (201, answer)
    other_body = await client.post(
        f"/api/checkins/{day3['id']}/record", json={**body, "notes": "changed"}, headers={"Idempotency-Key": "k1"}
    )
    assert other_body.status_code == 422
    other_key = await client.post(f"/api/checkins/{day3['id']}/record", json=body, headers={"Idempotency-Key": "k2"})
    assert other_key.status_code == 409
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 1


async def test_api_bad_record_is_a_clear_4xx(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock) -> None:
    day3, peer = await arrange(client, cast, clock)
    await sign_in(client, peer.email)
    url = f"/api/checkins/{day3['id']}/record"
    missing = await client.post(
        url, json={"outcome": "completed", "answers": {"trim_risk": {}}, "safety_concern": False}
    )
    assert missing.status_code == 422
    errors = {e["field"]: e["message"] for e in missing.json()["errors"]}
    assert errors["answers.trim_risk.life_threat"].startswith("Risk indicators, question ")
    assert errors["answers.trim_risk.life_threat"].endswith("has no answer yet.")
    no_safety = await client.post(url, json={"outcome": "declined"})
    assert no_safety.status_code == 400
    wrong_type = await client.post(url, json={"outcome": "completed", "safety_concern": "yes"})
    assert wrong_type.status_code == 400
    assert (await client.get("/api/checkins?status=completed")).json() == []


async def test_someone_elses_checkin_is_404(client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock) -> None:
    day3, peer = await arrange(client, cast, clock)
    other = cast.other_peer if peer is cast.peer else cast.peer
    body = {"outcome": "completed", "answers": answers_for("day3"), "safety_concern": False}
    for person in (other, cast.supervisor, cast.lead, cast.admin):
        async with signed_in(client, person) as browser:
            response = await browser.post(f"/api/checkins/{day3['id']}/record", json=body)
            assert response.status_code == 404, person.name


async def test_phone_form_records_and_shows_the_result(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    day3, peer = await arrange(client, cast, clock)
    await sign_in(client, peer.email)
    form_page = await client.get(f"/checkins/{day3['id']}")
    assert "Record this check-in" in form_page.text
    assert 'name="a__trim_risk__prior_trauma"' in form_page.text and "a__tsq__" not in form_page.text
    token = client.cookies["csrftoken"]
    fields = {
        "_csrf_token": token,
        "idempotency_key": "form-1",
        "outcome": "completed",
        "safety_concern": "yes",
        "notes": "Calm, tired.",
    }
    for item_id, value in answers_for("day3", risk_yes=4)["trim_risk"].items():
        fields[f"a__trim_risk__{item_id}"] = "yes" if value else "no"
    incomplete = {k: v for k, v in fields.items() if k != "a__trim_risk__avoidance"}
    refused = await client.post(f"/checkins/{day3['id']}/record", data=incomplete)
    assert refused.status_code == 422
    assert "has no answer yet." in refused.text
    assert 'value="yes" checked' in refused.text  # what was ticked is still ticked
    done = await client.post(f"/checkins/{day3['id']}/record", data=fields)
    assert done.status_code == 200
    assert "Check-in recorded. A flag was raised" in done.text
    assert "Safety concern recorded" in done.text and "Samaritans" in done.text
    assert "Elevated" in done.text and "score 4" in done.text and "Calm, tired." in done.text
    twice = await client.post(f"/checkins/{day3['id']}/record", data=fields)  # a double tap
    assert twice.status_code == 200 and "Record this check-in" not in twice.text


async def test_who_sees_answers_notes_and_bands(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    day3, peer = await arrange(client, cast, clock)
    async with signed_in(client, peer) as browser:
        body = {
            "outcome": "completed",
            "answers": answers_for("day3", risk_yes=2),
            "safety_concern": False,
            "notes": "Mentioned the dog.",
        }
        assert (await browser.post(f"/api/checkins/{day3['id']}/record", json=body)).status_code == 201
    async with signed_in(client, cast.lead) as lead:
        page = await lead.get(f"/checkins/{day3['id']}")
        assert "Low" in page.text  # the band
        assert "Mentioned the dog." not in page.text and "score 2" not in page.text
        assert "Answers" not in page.text
    async with signed_in(client, cast.responder) as responder:
        page = await responder.get(f"/checkins/{day3['id']}")
        assert "Mentioned the dog." in page.text and "Your answers" in page.text
        assert "score 2" not in page.text  # plain words for the person, no scores or bands
    for person in (cast.supervisor, cast.clinician, cast.admin, cast.other_peer if peer is cast.peer else cast.peer):
        async with signed_in(client, person) as browser:
            assert (await browser.get(f"/checkins/{day3['id']}")).status_code == 404


async def test_person_can_opt_out_of_further_checkins(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    day3, _ = await arrange(client, cast, clock)
    await sign_in(client, cast.responder.email)
    token = client.cookies["csrftoken"]
    before = {c["id"]: c["status"] for c in (await client.get("/api/checkins")).json()}
    # One tap asks first, naming the incident; nothing is stopped yet.
    asked = await client.post(f"/checkins/{day3['id']}/opt-out", data={"_csrf_token": token})
    assert asked.status_code == 200 and "No more check-ins about this incident?" in asked.text
    assert f"<strong>{KIND_LABELS['mass_casualty']}</strong>" in asked.text
    assert {c["id"]: c["status"] for c in (await client.get("/api/checkins")).json()} == before
    response = await client.post(f"/checkins/{day3['id']}/opt-out", data={"_csrf_token": token, "confirm": "yes"})
    assert "There will be no more check-ins about this incident" in response.text
    assert "Undo: keep my check-ins" in response.text  # the page it lands on offers the undo
    statuses = {c["status"] for c in (await client.get("/api/checkins")).json()}
    assert statuses == {"cancelled"}
    assert (await client.get("/api/flags")).json() == []
    # Within the day it can be taken back: the same check-ins open again, with the same peer.
    clock.advance(hours=11)
    undone = await client.post(f"/checkins/{day3['id']}/opt-in", data={"_csrf_token": token})
    assert "Your check-ins about this incident are back on, with the same peer." in undone.text
    after = {c["id"]: c for c in (await client.get("/api/checkins")).json()}
    assert set(after) == set(before) and "cancelled" not in {c["status"] for c in after.values()}
    # Stopped again and left for more than a day, it is no longer offered, and refused kindly.
    await client.post(f"/checkins/{day3['id']}/opt-out", data={"_csrf_token": token, "confirm": "yes"})
    clock.advance(hours=25)
    await sign_in(client, cast.responder.email)  # a day on, the session has ended
    token = client.cookies["csrftoken"]
    listing = await client.get("/me/checkins")
    assert "Undo: keep my check-ins" not in listing.text
    late = await client.post(f"/checkins/{day3['id']}/opt-in", data={"_csrf_token": token})
    assert "It is too late to undo this here" in late.text
    assert {c["status"] for c in (await client.get("/api/checkins")).json()} == {"cancelled"}


async def test_check_ins_for_you_name_the_incident_each_belongs_to(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    await arrange(client, cast, clock)
    await sign_in(client, cast.responder.email)
    listing = (await client.get("/me/checkins")).text
    day = (clock() - timedelta(days=30)).astimezone(ZoneInfo("Europe/London")).strftime("%-d %b %Y")
    assert f"About the {KIND_LABELS['mass_casualty']} on {day}" in listing


async def test_refused_checkin_form_writes_no_audit_event_and_keeps_what_was_typed(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, peer = await arrange(client, cast, clock)
    await sign_in(client, peer.email)
    await client.get(f"/checkins/{day3['id']}")
    fields = {
        "_csrf_token": client.cookies["csrftoken"],
        "idempotency_key": "form-refused",
        "outcome": "completed",
        "safety_concern": "no",
        "notes": "Typed before the mistake.",
    }
    for item_id, value in answers_for("day3", risk_yes=1)["trim_risk"].items():
        fields[f"a__trim_risk__{item_id}"] = "yes" if value else "no"
    incomplete = {k: v for k, v in fields.items() if k != "a__trim_risk__avoidance"}

    async def counts() -> tuple[int, int]:
        events = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
        keys = (await session.exec(select(func.count()).select_from(IdempotencyKey))).one()
        return events, keys

    before = await counts()
    refused = await client.post(f"/checkins/{day3['id']}/record", data=incomplete)
    assert refused.status_code == 422
    assert "has no answer yet." in refused.text
    assert "Typed before the mistake." in refused.text and 'value="form-refused"' in refused.text
    assert refused.text.count('value="yes" checked') == 1  # the one "yes" ticked is still ticked
    assert await counts() == before  # no audit event, no claimed key: nothing was written
    no_safety = await client.post(
        f"/checkins/{day3['id']}/record", data={k: v for k, v in fields.items() if k != "safety_concern"}
    )
    assert no_safety.status_code == 422 and "Answer the safety question" in no_safety.text
    assert await counts() == before
    # The same key is still free for the corrected form.
    done = await client.post(f"/checkins/{day3['id']}/record", data=fields)
    assert done.status_code == 200 and "Check-in recorded." in done.text
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 1


async def test_refused_correction_changes_nothing_and_writes_no_audit_event(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, peer = await arrange(client, cast, clock)
    await sign_in(client, peer.email)
    body = {"outcome": "completed", "answers": answers_for("day3", risk_yes=1), "safety_concern": False}
    assert (await client.post(f"/api/checkins/{day3['id']}/record", json=body)).status_code == 201
    await client.get(f"/checkins/{day3['id']}/correct")
    fields = {
        "_csrf_token": client.cookies["csrftoken"],
        "correction_reason": "",
        "outcome": "declined",
        "safety_concern": "no",
        "notes": "Kept on the page.",
    }
    before = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    refused = await client.post(f"/checkins/{day3['id']}/correct", data=fields)
    assert refused.status_code == 422
    assert "Say what is being corrected and why." in refused.text and "Kept on the page." in refused.text
    assert (await session.exec(select(func.count()).select_from(AuditEvent))).one() == before
    versions = (await session.exec(select(Assessment.version, Assessment.outcome))).all()
    assert list(versions) == [(1, "completed")]


async def test_the_person_sees_plain_words_not_a_red_elevated_badge(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    day3, peer = await arrange(client, cast, clock)
    async with signed_in(client, peer) as browser:
        body = {"outcome": "completed", "answers": answers_for("day3", risk_yes=5), "safety_concern": False}
        assert (await browser.post(f"/api/checkins/{day3['id']}/record", json=body)).status_code == 201
        assert "Elevated" in (await browser.get(f"/checkins/{day3['id']}")).text  # bands stay for the peer
    async with signed_in(client, cast.responder) as responder:
        page = (await responder.get(f"/checkins/{day3['id']}")).text
    assert "can make the weeks after an incident harder" in page
    assert "Elevated" not in page and "badge-overdue" not in page
    assert 'class="threshold"' not in page and "elevated threshold" not in page


async def test_recording_before_the_early_window_answers_409_with_the_date_and_the_page_says_when(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    async with signed_in(client, cast.lead) as lead:
        await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(hours=1)).isoformat(),
                "kind": "mass_casualty",
                "station_id": str(cast.station_a.id),
                "summary": "Coach crash.",
                "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
            },
        )
        day3 = next(c for c in (await lead.get("/api/checkins")).json() if c["kind"] == "day3")
    peer = cast.peer if day3["peer_id"] == str(cast.peer.id) else cast.other_peer
    async with signed_in(client, peer) as browser:
        body = {"outcome": "completed", "answers": answers_for("day3"), "safety_concern": False}
        refused = await browser.post(f"/api/checkins/{day3['id']}/record", json=body)
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith("Not yet: this check-in is due on ")
        assert refused.json()["due_at"] == day3["due_at"]
        page = (await browser.get(f"/checkins/{day3['id']}")).text
        assert "Not yet" in page and "Save check-in" not in page
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 0


async def test_the_limits_of_confidentiality_are_said_before_anyone_answers(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    day3, peer = await arrange(client, cast, clock)
    async with signed_in(client, peer) as browser:
        page = (await browser.get(f"/checkins/{day3['id']}")).text
    assert page.index("confidentiality-limits") < page.index('name="outcome"')
    assert "passed to the programme lead and on-call" in page
    assert "not the licensed TRiM tool" in page and "Brewin et al., 2002" in page  # what the instrument is
    async with signed_in(client, cast.responder) as responder:
        form = (await responder.get("/requests/new")).text
    assert "your supervisor is not told" in form and "the programme lead (and whoever is on call) is told" in form
    assert form.index("confidentiality-limits") < form.index('name="safety_concern"')


async def test_every_problem_on_the_form_is_shown_at_once_each_naming_its_question(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    """No more one round at a time: the missing safety answer and every unanswered question
    are reported together, each by its question, and what was ticked stays ticked."""
    day3, peer = await arrange(client, cast, clock)
    await sign_in(client, peer.email)
    await client.get(f"/checkins/{day3['id']}")
    items = list(answers_for("day3")["trim_risk"])
    fields = {"_csrf_token": client.cookies["csrftoken"], "idempotency_key": "all-at-once", "outcome": "completed"}
    fields[f"a__trim_risk__{items[0]}"] = "yes"  # one answered, the rest and the safety question not
    refused = await client.post(f"/checkins/{day3['id']}/record", data=fields)
    assert refused.status_code == 422
    html = refused.text
    assert "Answer the safety question (yes or no)." in html
    for number, _ in enumerate(items[1:], start=2):
        assert f"Risk indicators, question {number} (" in html
    assert f"{len(items)} answers need attention, each marked below." in html
    assert html.count('value="yes" checked') == 1
