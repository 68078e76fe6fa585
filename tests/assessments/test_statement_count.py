"""What recording a check-in costs the database: the statements of one plain recording,
pinned, so a change that adds a round trip to the hot path shows here (issue 15: the
recording benchmark is bound by the cost of the request itself).

A plain recording (the API, an Idempotency-Key, a day-3 check-in held with nothing
raised) is, after the sign-in read: the key claimed, the check-in fetched through
policy, its exposure locked, the check-in claimed, the instrument snapshot, the
assessment and its results written, the exposure's history read (one statement), the
key's answer stored and the audit event inserted."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlmodel import func, select

from tests.assessments.test_routes import arrange
from tests.cast import Cast, sign_in
from tests.conftest import FakeClock
from tests.helpers import answers_for
from trim.assessments.models import Assessment, AssessmentResult, InstrumentSnapshot
from trim.db import AsyncSession
from trim.idempotency import IdempotencyKey
from trim.privacy.models import AuditEvent

# The sign-in read is one statement: session, person, second factor and roles together.
SIGN_IN = ["SELECT web_sessions"]
RECORDING = [
    "INSERT INTO idempotency_keys",
    "SELECT checkins",  # policy.access_checkin
    "SELECT exposures",  # the exposure's lock (FOR UPDATE)
    "UPDATE checkins",  # claimed once: WHERE outcome IS NULL
    "INSERT INTO instrument_snapshots",
    "INSERT INTO assessments",
    "INSERT INTO assessment_results",
    "SELECT checkins",  # the exposure's history: check-ins, current results, the risk phases
    "UPDATE idempotency_keys",  # the answer a replay gets
    "INSERT INTO audit_events",
]


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


def label(statement: str) -> str:
    """ "INSERT INTO t", "UPDATE t", "SELECT t" (its first table), or the bare verb."""
    words = statement.split()
    if words[0] == "INSERT":
        return f"INSERT INTO {words[2]}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1]}"
    if words[0] == "SELECT" and "FROM" in words:
        return f"SELECT {words[words.index('FROM') + 1]}"
    return words[0]


async def test_a_plain_recording_takes_ten_statements_after_the_sign_in(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession
) -> None:
    day3, peer = await arrange(client, cast, clock)
    await sign_in(client, peer.email)
    engine = client.app.state.engine.sync_engine
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append(label(statement))

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        body = {"outcome": "completed", "answers": answers_for("day3"), "safety_concern": False}
        answer = await client.post(f"/api/checkins/{day3['id']}/record", json=body, headers={"Idempotency-Key": "k1"})
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert answer.status_code == 201, answer.text

    assert seen == SIGN_IN + RECORDING
    # What those statements did is all there: one assessment with its result and snapshot,
    # the key holding its answer, the audit event waiting to be sealed.
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 1
    assert (await session.exec(select(func.count()).select_from(AssessmentResult))).one() == 1
    assert (await session.exec(select(func.count()).select_from(InstrumentSnapshot))).one() == 1
    key = (await session.exec(select(IdempotencyKey))).one()
    assert (key.status_code, key.response) == (201, answer.json())
    recorded = (await session.exec(select(AuditEvent).where(AuditEvent.action == "checkin.recorded"))).one()
    assert recorded.target_id == day3["id"]
