"""A return-to-work follow-up (design section 18, issue 24 point 2): the person or their
peer says the day they are back at work; check-ins follow a week and four weeks after it,
with the same peer, the same instruments and the same rules. Bad input changes nothing;
twice is harmless."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for, assigned_peer, checkins_of, make_incident
from trim.assessments import instruments as catalogue
from trim.config import Settings
from trim.db import AsyncSession
from trim.followups import rules
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure, Incident
from trim.privacy.models import AuditEvent

LONDON = ZoneInfo("Europe/London")


async def _form(browser: AsyncTestClient[Litestar], path: str, **fields: str) -> Any:
    data = {**fields, "_csrf_token": browser.cookies["csrftoken"]}
    return await browser.post(path, data=data, follow_redirects=False)


async def _responder_with_peer(session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings) -> Any:
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=4),
        now=clock(),
        settings=settings,
    )
    day3 = (await checkins_of(session, cast.responder))[0]
    return day3, await assigned_peer(session, day3)


async def _returns(session: AsyncSession, cast: Cast) -> list[CheckIn]:
    return [c for c in await checkins_of(session, cast.responder) if rules.is_return_kind(c.kind)]


def test_return_kinds_read_as_weeks_back_at_work() -> None:
    assert rules.kind_label("rtw7") == "1 week back at work"
    assert rules.kind_label("rtw28") == "4 weeks back at work"
    assert rules.kind_label("rtw10") == "10 days back at work"
    assert rules.kind_label("day28") == "Day 28"
    assert not rules.is_return_kind("day7") and not rules.is_return_kind("rtw")


def test_a_return_date_is_checked_against_the_incident_and_today() -> None:
    def problem(day: date) -> str | None:
        return rules.return_date_problem(
            day, incident_day=date(2026, 10, 1), today=date(2026, 11, 2), past=90, future=60
        )

    assert problem(date(2026, 11, 2)) is None
    assert problem(date(2026, 10, 1)) is None
    assert "before the incident" in (problem(date(2026, 9, 30)) or "")
    assert "ahead" in (problem(date(2027, 1, 2)) or "")
    assert problem(date(2027, 1, 1)) is None
    far_past = rules.return_date_problem(
        date(2026, 1, 1), incident_day=date(2025, 1, 1), today=date(2026, 11, 2), past=90, future=60
    )
    assert "90 days ago" in (far_past or "")


def test_a_return_check_in_keeps_the_incident_time_of_day_across_the_clock_change() -> None:
    occurred = datetime(2026, 10, 20, 14, 30, tzinfo=UTC)  # 15:30 in London (summer time)
    due = rules.return_scheduled_time(date(2026, 10, 26), occurred, 7, LONDON)
    assert due.astimezone(LONDON).replace(tzinfo=None) == datetime(2026, 11, 2, 15, 30)


def test_return_check_ins_ask_the_follow_up_instruments() -> None:
    known = catalogue.load()
    # The TSQ only four weeks after the return: a week after it can be inside the event's first month.
    assert [i.id for i in catalogue.offered_at(known, "rtw7")] == ["trim_risk"]
    assert [i.id for i in catalogue.offered_at(known, "rtw28")] == ["trim_risk", "tsq"]


async def test_the_person_starts_it_and_their_peer_follows_it_up(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    day3, peer = await _responder_with_peer(session, cast, clock, settings)
    back = date(2026, 11, 9)
    async with signed_in(client, cast.responder) as browser:
        page = (await browser.get(f"/checkins/{day3.id}")).text
        assert f"/checkins/{day3.id}/return-to-work" in page
        answer = await _form(browser, f"/checkins/{day3.id}/return-to-work", returned_on=back.isoformat())
        assert answer.status_code == 303
    made = await _returns(session, cast)
    assert [c.kind for c in made] == ["rtw7", "rtw28"]
    incident_time = day3.scheduled_for.astimezone(LONDON).time()
    for checkin, days in zip(made, (7, 28), strict=True):
        assert checkin.peer_id == peer.id
        assert checkin.exposure_id == day3.exposure_id
        local = checkin.due_at.astimezone(LONDON)
        assert local.date() == back + timedelta(days=days)
        assert local.time() == incident_time
        assert checkin.outcome is None
    (event,) = list(await session.exec(select(AuditEvent).where(AuditEvent.action == "return_to_work.started")))
    assert event.subject_id == str(cast.responder.id)

    # The same peer records it with the follow-up instruments, as any check-in.
    clock.now = made[0].due_at
    async with signed_in(client, peer) as browser:
        listed = (await browser.get(f"/checkins/{day3.id}")).text
        assert "1 week back at work" in listed and "4 weeks back at work" in listed
        recorded = await browser.post(
            f"/api/checkins/{made[0].id}/record",
            json={"outcome": "completed", "answers": answers_for("rtw7"), "safety_concern": False},
        )
        assert recorded.status_code == 201, recorded.text


async def test_twice_is_harmless(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    day3, peer = await _responder_with_peer(session, cast, clock, settings)
    async with signed_in(client, peer) as browser:
        first = await browser.post(f"/api/checkins/{day3.id}/return-to-work", json={"returned_on": "2026-11-09"})
        assert first.status_code == 201, first.text
        assert [c["kind"] for c in first.json()["checkins"]] == ["rtw7", "rtw28"]
        again = await browser.post(f"/api/checkins/{day3.id}/return-to-work", json={"returned_on": "2026-11-16"})
        assert again.status_code == 200
        assert again.json()["already_started"] is True
        assert again.json()["checkins"] == first.json()["checkins"]
    async with signed_in(client, cast.responder) as browser:
        page = await _form(browser, f"/checkins/{day3.id}/return-to-work", returned_on="2026-11-20")
        assert page.status_code == 303
    made = await _returns(session, cast)
    assert len(made) == 2
    assert made[0].due_at.astimezone(LONDON).date() == date(2026, 11, 16)


async def test_bad_input_gets_a_clear_message_and_changes_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    day3, peer = await _responder_with_peer(session, cast, clock, settings)
    async with signed_in(client, peer) as browser:
        for when, words in (("2025-01-01", "before the incident"), ("2027-06-01", "days ahead")):
            answer = await browser.post(f"/api/checkins/{day3.id}/return-to-work", json={"returned_on": when})
            assert answer.status_code == 422 and words in answer.text, answer.text
        assert (await browser.post(f"/api/checkins/{day3.id}/return-to-work", json={})).status_code == 400
    async with signed_in(client, cast.responder) as browser:
        answer = await _form(browser, f"/checkins/{day3.id}/return-to-work", returned_on="next week")
        assert answer.status_code == 303
        shown = (await browser.get(answer.headers["location"])).text
        assert "Give the date back at work" in shown
    # Nobody to follow it up: refused in words, nothing made.
    exposure = await session.get(Exposure, day3.exposure_id)
    assert exposure is not None
    exposure.peer_id = None
    session.add(exposure)
    for checkin in await checkins_of(session, cast.responder):
        checkin.peer_id = None
        session.add(checkin)
    await session.commit()
    async with signed_in(client, cast.responder) as browser:
        answer = await browser.post(f"/api/checkins/{day3.id}/return-to-work", json={"returned_on": "2026-11-09"})
        assert answer.status_code == 422 and "no peer supporter" in answer.text
    assert await _returns(session, cast) == []


async def test_nobody_else_can_start_it(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    day3, peer = await _responder_with_peer(session, cast, clock, settings)
    everyone = (
        cast.lead,
        cast.peer,
        cast.other_peer,
        cast.supervisor,
        cast.clinician,
        cast.other_clinician,
        cast.admin,
    )
    for someone in [p for p in everyone if p.id != peer.id]:
        async with signed_in(client, someone) as browser:
            answer = await browser.post(f"/api/checkins/{day3.id}/return-to-work", json={"returned_on": "2026-11-09"})
            assert answer.status_code == 404, someone.name
    assert await _returns(session, cast) == []


async def test_moving_the_incident_time_leaves_the_return_check_ins_where_they_are(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    day3, peer = await _responder_with_peer(session, cast, clock, settings)
    async with signed_in(client, peer) as browser:
        started = await browser.post(f"/api/checkins/{day3.id}/return-to-work", json={"returned_on": "2026-11-09"})
        assert started.status_code == 201
    before = [c.due_at for c in await _returns(session, cast)]
    incident = await session.get(Incident, day3.incident_id)
    assert incident is not None
    incident.occurred_at = incident.occurred_at - timedelta(days=1)
    session.add(incident)
    await followups.move_open(session, incident=incident, now=clock(), settings=settings)
    await session.commit()
    after = await checkins_of(session, cast.responder)
    assert [c.due_at for c in after if rules.is_return_kind(c.kind)] == before
    day28 = next(c for c in after if c.kind == "day28")
    assert day28.scheduled_for == rules.scheduled_time(incident.occurred_at, 28, LONDON)
