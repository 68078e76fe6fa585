"""The person answers their own check-in through the API and on the phone form; their peer
sees the answers and completes the check-in (design section 14)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.assessments.test_routes import arrange
from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for
from trim.assessments.models import Assessment
from trim.db import AsyncSession
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.privacy.models import AuditEvent


def form_of(answers: dict[str, dict[str, bool]], *, safety: str = "no", **extra: str) -> dict[str, str]:
    fields = {f"a__{i}__{k}": "yes" if v else "no" for i, items in answers.items() for k, v in items.items()}
    return {**fields, "safety_concern": safety, **extra}


async def test_api_self_answer_replays_with_the_same_key_and_answers_once(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, _ = await arrange(client, cast, clock)
    body = {"answers": answers_for("day3", risk_yes=3), "safety_concern": False}
    path = f"/api/checkins/{day3['id']}/self"
    async with signed_in(client, cast.responder) as me:
        first = await me.post(path, json=body, headers={"Idempotency-Key": "s1"})
        assert first.status_code == 201, first.text
        answer = first.json()
        assert answer["flags"] == [] and answer["crisis_guidance"] is None
        assert "your peer may suggest talking to someone" in answer["summary"]
        assert "elevated" not in first.text  # band names are for the peer
        again = await me.post(path, json=body, headers={"Idempotency-Key": "s1"})
        assert (again.status_code, again.json()) == (201, answer)
        changed = await me.post(path, json={**body, "safety_concern": True}, headers={"Idempotency-Key": "s1"})
        assert changed.status_code == 422
        second = await me.post(path, json=body, headers={"Idempotency-Key": "s2"})
        assert second.status_code == 409 and "already answered" in second.json()["detail"]
        listed = (await me.get("/api/checkins")).json()
        assert next(c for c in listed if c["id"] == day3["id"])["self_answered"] is True
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 1
    event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "checkin.self_answered"))).one()
    assert event.actor_id == str(cast.responder.id) == event.subject_id


async def test_supervisor_peer_and_lead_get_404_on_someone_elses_self_answer(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, peer = await arrange(client, cast, clock)
    body = {"answers": answers_for("day3"), "safety_concern": True}
    for who in (cast.supervisor, peer, cast.lead, cast.other_peer, cast.admin):
        async with signed_in(client, who) as browser:
            assert (await browser.post(f"/api/checkins/{day3['id']}/self", json=body)).status_code == 404
            assert (await browser.get(f"/checkins/{day3['id']}/self")).status_code == 404
    assert (await session.exec(select(func.count()).select_from(Flag))).one() == 0
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 0


async def test_bad_self_answers_are_422_naming_each_and_change_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, _ = await arrange(client, cast, clock)
    partial = answers_for("day3")
    del partial["trim_risk"]["alcohol_coping"]
    async with signed_in(client, cast.responder) as me:
        missing = await me.post(
            f"/api/checkins/{day3['id']}/self", json={"answers": {**partial, "tsq": {}}, "safety_concern": False}
        )
        assert missing.status_code == 422
        fields = {e["field"]: e["message"] for e in missing.json()["errors"]}
        assert "Am I drinking alcohol to help me cope?" in fields["answers.trim_risk.alcohol_coping"]
        assert "not asked at a day3 check-in" in fields["answers.tsq"]
        not_bool = await me.post(
            f"/api/checkins/{day3['id']}/self",
            json={"answers": {"trim_risk": {"prior_trauma": "yes"}}, "safety_concern": False},
        )
        assert not_bool.status_code in (400, 422)
    stored = (await session.exec(select(CheckIn).where(CheckIn.kind == "day3"))).one()
    assert stored.self_answered_at is None
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 0


async def test_too_early_to_answer_is_409_with_the_date(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.lead) as lead:
        await lead.post(
            "/api/incidents",
            json={
                "occurred_at": (clock() - timedelta(days=1)).isoformat(),
                "kind": "other",
                "station_id": str(cast.station_a.id),
                "summary": "x",
                "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
            },
        )
    async with signed_in(client, cast.responder) as me:
        day3 = next(c for c in (await me.get("/api/checkins")).json() if c["kind"] == "day3")
        early = await me.post(
            f"/api/checkins/{day3['id']}/self", json={"answers": answers_for("day3"), "safety_concern": False}
        )
        assert early.status_code == 409 and early.json()["detail"].startswith("Not yet: this check-in is due on")
        listing = (await me.get("/me/checkins")).text
        assert "Answer the questions yourself" not in listing
        page = await me.get(f"/checkins/{day3['id']}/self")
        assert page.status_code == 200 and "Not yet" in page.text and "<form" not in page.text.split("<main")[-1]


async def test_the_person_answers_on_their_phone_form_in_their_own_words(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, _ = await arrange(client, cast, clock)
    async with signed_in(client, cast.responder) as me:
        listing = (await me.get("/me/checkins")).text
        assert f'href="/checkins/{day3["id"]}/self"' in listing and "Answer the questions yourself" in listing
        assert f'href="/checkins/{day3["id"]}/self"' in (await me.get(f"/checkins/{day3['id']}")).text
        form = await me.get(f"/checkins/{day3['id']}/self")
        assert "At the time, did I feel my own life was in danger?" in form.text
        assert "did they feel" not in form.text
        refused = await me.post(
            f"/checkins/{day3['id']}/self",
            data={"safety_concern": "no", "_csrf_token": me.cookies["csrftoken"]},
            follow_redirects=False,
        )
        assert refused.status_code == 422 and "Your answers were not saved" in refused.text
        sent = await me.post(
            f"/checkins/{day3['id']}/self",
            data={**form_of(answers_for("day3", risk_yes=1)), "_csrf_token": me.cookies["csrftoken"]},
            follow_redirects=False,
        )
        assert sent.status_code == 303 and sent.headers["location"] == f"/checkins/{day3['id']}/self/done"
        done = (await me.get(sent.headers["location"])).text
        assert "Thank you" in done and "often eases with time" in done and "tel:" not in done
        # A double tap finds the answers saved, and shows them again.
        twice = await me.post(
            f"/checkins/{day3['id']}/self",
            data={**form_of(answers_for("day3")), "_csrf_token": me.cookies["csrftoken"]},
            follow_redirects=False,
        )
        assert twice.headers["location"] == f"/checkins/{day3['id']}/self/done"
        after = (await me.get("/me/checkins")).text
        assert f'href="/checkins/{day3["id"]}/self"' not in after and "answered the questions yourself on" in after
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 1


async def test_a_safety_yes_shows_the_crisis_guidance_at_once_and_raises_the_urgent_flag(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, _ = await arrange(client, cast, clock)
    async with signed_in(client, cast.responder) as me:
        sent = await me.post(
            f"/checkins/{day3['id']}/self",
            data={**form_of(answers_for("day3"), safety="yes"), "_csrf_token": me.cookies["csrftoken"]},
        )
        assert sent.status_code == 200
        assert "You do not have to wait" in sent.text and 'href="tel:' in sent.text
    flag = (await session.exec(select(Flag))).one()
    assert (flag.cause, flag.urgent, flag.person_id) == ("safety_concern", True, cast.responder.id)


async def test_the_peer_sees_answers_and_band_then_records_that_they_preferred_not_to_talk(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, peer = await arrange(client, cast, clock)
    async with signed_in(client, cast.responder) as me:
        body: dict[str, Any] = {"answers": answers_for("day3", risk_yes=4), "safety_concern": False}
        assert (await me.post(f"/api/checkins/{day3['id']}/self", json=body)).status_code == 201
    async with signed_in(client, cast.lead) as lead:
        seen = (await lead.get(f"/checkins/{day3['id']}")).text
        assert "answered the questions themselves" in seen and "Elevated" not in seen
    async with signed_in(client, peer) as p:
        page = (await p.get(f"/checkins/{day3['id']}")).text
        assert "answered the questions themselves" in page and "Elevated" in page and "score 4" in page
        assert 'value="self_only"' in page
        assert 'name="a__trim_risk__acute_stress" value="yes" checked' in page  # pre-filled
        done = await p.post(
            f"/checkins/{day3['id']}/record",
            data={"outcome": "self_only", "_csrf_token": p.cookies["csrftoken"]},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        api = (await p.get(f"/api/checkins/{day3['id']}")).json()
        assert (api["status"], api["self_answered"], api["self_completed"]) == ("completed", True, True)
    current = (await session.exec(select(Assessment).where(Assessment.is_current))).one()
    assert (current.score, current.answered_by_person, current.recorded_by_id) == (4, True, peer.id)


async def test_the_peer_records_the_conversation_after_own_answers_through_the_api(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, peer = await arrange(client, cast, clock)
    async with signed_in(client, cast.responder) as me:
        body = {"answers": answers_for("day3", risk_yes=2), "safety_concern": False}
        assert (await me.post(f"/api/checkins/{day3['id']}/self", json=body)).status_code == 201
    async with signed_in(client, peer) as p:
        only = await p.post(
            f"/api/checkins/{day3['id']}/record",
            json={"outcome": "declined", "preferred_not_to_talk": True, "safety_concern": False},
        )
        assert only.status_code == 422
        talk = await p.post(
            f"/api/checkins/{day3['id']}/record",
            json={"outcome": "completed", "answers": answers_for("day3", risk_yes=3), "safety_concern": False},
        )
        assert talk.status_code == 201 and talk.json()["score"] == 3
        api = (await p.get(f"/api/checkins/{day3['id']}")).json()
        assert (api["self_answered"], api["self_completed"]) == (True, False)  # a conversation was held


async def test_the_persons_own_record_holds_the_answers_they_gave_in_their_words(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    day3, _ = await arrange(client, cast, clock)
    async with signed_in(client, cast.responder) as me:
        body = {"answers": answers_for("day3", risk_yes=1), "safety_concern": False}
        assert (await me.post(f"/api/checkins/{day3['id']}/self", json=body)).status_code == 201
        record = (await me.get("/api/me/record")).json()
    entry = next(c for c in record["checkins"] if c["id"] == day3["id"])
    assert "record" not in entry  # the peer has not recorded it yet
    (risk,) = entry["own_answers"]["results"]
    assert risk["instrument"] == "trim_risk" and sum(risk["answers"].values()) == 1
    assert "At the time, did I feel my own life was in danger?" in risk["answers"]
