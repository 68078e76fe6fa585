"""Anonymous feedback: offered after a request closes and after an exposure's last
check-in, given once, stored with nothing that points to the person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import Date, func
from sqlmodel import col, select

from tests.cast import actor_for, signed_in
from tests.conftest import FakeClock
from trim.config import Settings
from trim.db import AsyncSession, metadata
from trim.followups.models import CheckIn
from trim.incidents import service as incidents
from trim.reports.models import FeedbackAnswer, FeedbackReceipt
from trim.requests.models import PeerRequest

ANSWERS = {"helpful": "4", "ask_again": "5", "ease": "2"}


def test_the_feedback_tables_hold_nothing_that_identifies_a_person() -> None:
    answers, receipts = metadata.tables["feedback_answers"], metadata.tables["feedback_receipts"]
    for table in (answers, receipts):
        assert list(table.foreign_keys) == [], table.name
    assert {c.name for c in answers.columns} == {"id", "context", "answered_on", "helpful", "ask_again", "ease"}
    assert isinstance(answers.columns["answered_on"].type, Date)  # the day, never a time
    assert {c.name for c in receipts.columns} == {"key_hash"}
    # No table points at them either (nothing can join an answer to a request or a person).
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            assert fk.column.table.name not in ("feedback_answers", "feedback_receipts"), table.name


async def _closed_request(session: AsyncSession, person_id: Any, *, status: str = "closed") -> PeerRequest:
    made = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    request = PeerRequest(
        requester_id=person_id,
        urgency="today",
        contact_method="phone",
        status=status,
        created_at=made,
        accepted_at=made + timedelta(hours=1),
        closed_at=made + timedelta(days=1) if status == "closed" else None,
        outcome="supported" if status == "closed" else None,
    )
    session.add(request)
    await session.commit()
    return request


async def _count(session: AsyncSession, model: Any) -> int:
    return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_the_requester_answers_once_after_their_request_closes(
    client: AsyncTestClient[Litestar], session: AsyncSession, cast: Any, clock: FakeClock, settings: Settings
) -> None:
    request = await _closed_request(session, cast.responder.id)
    path = f"/feedback/request/{request.id}"
    async with signed_in(client, cast.responder) as responder:
        assert path in (await responder.get(f"/requests/{request.id}")).text
        form = await responder.get(path)
        assert form.status_code == 200 and "without your name" in form.text
        wrong = await responder.post(path, data={**ANSWERS, "ease": "7"})
        assert wrong.status_code == 422 and "Choose a number from 1 to 5." in wrong.text
        assert await _count(session, FeedbackAnswer) == 0
        sent = await responder.post(path, data=ANSWERS, follow_redirects=False)
        assert sent.status_code == 303
        again = await responder.post(path, data={**ANSWERS, "helpful": "1"}, follow_redirects=False)
        assert again.status_code == 303  # a second send is harmless ...
        stored = list(await session.exec(select(FeedbackAnswer)))
        assert len(stored) == 1  # ... and stores nothing
        assert (stored[0].helpful, stored[0].ask_again, stored[0].ease, stored[0].context) == (4, 5, 2, "request")
        assert stored[0].answered_on == clock.now.astimezone(settings.zone).date()  # the day only
        assert "your answers about" in (await responder.get(path)).text
        assert path not in (await responder.get(f"/requests/{request.id}")).text
        # Without the page's CSRF token nothing is taken.
        del responder.headers["x-csrftoken"]
        assert (await responder.post(path, data=ANSWERS)).status_code == 403
    receipts = list(await session.exec(select(FeedbackReceipt)))
    assert len(receipts) == 1
    assert str(request.id) not in receipts[0].key_hash and request.id.hex not in receipts[0].key_hash
    async with signed_in(client, cast.peer) as peer:
        assert (await peer.get(path)).status_code == 404
        assert (await peer.post(path, data=ANSWERS)).status_code == 404
    assert await _count(session, FeedbackAnswer) == 1


async def test_no_feedback_before_the_request_closes(
    client: AsyncTestClient[Litestar], session: AsyncSession, cast: Any
) -> None:
    request = await _closed_request(session, cast.responder.id, status="accepted")
    async with signed_in(client, cast.responder) as responder:
        assert (await responder.get(f"/feedback/request/{request.id}")).status_code == 404
        assert (await responder.post(f"/feedback/request/{request.id}", data=ANSWERS)).status_code == 404
        assert (await responder.get(f"/feedback/elsewhere/{request.id}")).status_code == 404
    assert await _count(session, FeedbackAnswer) == 0


async def test_after_the_last_check_in_the_person_is_offered_feedback(
    client: AsyncTestClient[Litestar], session: AsyncSession, db: AsyncSession, cast: Any, settings: Settings
) -> None:
    occurred = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
    data = incidents.IncidentInput(
        occurred_at=occurred,
        kind="difficult_rescue",
        station_id=cast.station_a.id,
        summary="Feedback test.",
        exposures=[incidents.ExposureRef("direct", cast.other_clinician.id)],
    )
    incident = await incidents.log_incident(
        db, actor=actor_for(cast.lead, ["lead"]), data=data, now=occurred, settings=settings
    )
    await db.commit()
    checkins = list(await session.exec(select(CheckIn).where(col(CheckIn.incident_id) == incident.id)))
    assert len(checkins) >= 2
    first, *rest = sorted(checkins, key=lambda c: c.due_at)
    first.outcome, first.recorded_at = "completed", first.due_at
    session.add(first)
    await session.commit()
    async with signed_in(client, cast.other_clinician) as person:
        assert "/feedback/exposure/" not in (await person.get("/me/checkins")).text  # one still to come
        for c in rest:
            c.outcome, c.recorded_at = "declined", c.due_at
            session.add(c)
        await session.commit()
        page = (await person.get("/me/checkins")).text
        assert f"/feedback/exposure/{first.exposure_id}" in page
        sent = await person.post(f"/feedback/exposure/{first.exposure_id}", data=ANSWERS, follow_redirects=False)
        assert sent.status_code == 303
        assert "/feedback/exposure/" not in (await person.get("/me/checkins")).text
    stored = list(await session.exec(select(FeedbackAnswer)))
    assert [a.context for a in stored] == ["checkins"]
    async with signed_in(client, cast.responder) as someone_else:
        assert (await someone_else.get(f"/feedback/exposure/{first.exposure_id}")).status_code == 404
