"""Idempotency keys expire (issue 26 item 10): the stored answer of a recorded check-in
holds its score and band, and was kept for ever. After TRIM_IDEMPOTENCY_TTL_HOURS (24)
the worker's sweep deletes it. A replay after that is never done twice: a check-in
refuses a second recording by itself (409), and an incident keeps a bare key (no
answer, no body hash) that answers 409 until the retention period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from tests.cast import Cast, sign_in
from tests.conftest import FakeClock
from tests.helpers import answers_for, assigned_peer, checkins_of, make_incident
from trim import idempotency
from trim.accounts.models import Person
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.db import AsyncSession
from trim.idempotency import IdempotencyKey
from trim.incidents.models import Incident
from trim.jobs import SWEEPS


async def keys(session: AsyncSession) -> list[IdempotencyKey]:
    stmt = select(IdempotencyKey).execution_options(populate_existing=True)
    return list(await session.exec(stmt))


async def count(session: AsyncSession, model: Any) -> int:
    return int((await session.exec(select(func.count()).select_from(model))).one())


async def sweep(session: AsyncSession, clock: FakeClock, settings: Settings) -> int:
    return await idempotency.sweep_expired(session, now=clock(), settings=settings)


def incident_body(cast: Cast, clock: FakeClock) -> dict[str, Any]:
    return {
        "occurred_at": (clock() - timedelta(days=1)).isoformat(),
        "kind": "difficult_rescue",
        "station_id": str(cast.station_a.id),
        "summary": "Long extrication.",
        "exposures": [{"person_id": str(cast.responder.id), "exposure": "direct"}],
    }


async def record_day3(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    clock: FakeClock,
    settings: Settings,
) -> tuple[str, dict[str, Any], Person]:
    await make_incident(
        db,
        actor=cast.actor("supervisor"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=4),
        now=clock(),
        settings=settings,
    )
    checkin = (await checkins_of(session, cast.responder))[0]
    peer = await assigned_peer(session, checkin)
    await sign_in(client, peer.email)
    url = f"/api/checkins/{checkin.id}/record"
    body = {"outcome": "completed", "answers": answers_for("day3", risk_yes=4), "safety_concern": False}
    first = await client.post(url, json=body, headers={"Idempotency-Key": "phone-1"})
    assert first.status_code == 201, first.text
    return url, body, peer


def test_the_sweep_runs_on_every_worker() -> None:
    assert "idempotency.expired" in [s.name for s in SWEEPS]


async def test_a_recorded_checkins_answer_is_forgotten_after_a_day_and_a_late_replay_is_409(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    clock: FakeClock,
    settings: Settings,
) -> None:
    url, body, peer = await record_day3(client, cast, db, session, clock, settings)
    (stored,) = await keys(session)
    assert stored.response is not None and stored.response["band"] == "elevated"  # what must not stay
    clock.advance(hours=23, minutes=59)
    await sign_in(client, peer.email)  # a day on, the first session has lapsed: the phone signs in again
    assert await sweep(session, clock, settings) == 0
    replay = await client.post(url, json=body, headers={"Idempotency-Key": "phone-1"})
    assert replay.status_code == 201 and replay.json()["band"] == "elevated"  # within the day: the same answer
    clock.advance(minutes=2)
    await sign_in(client, peer.email)
    # Expired, not yet swept: a new request, which the check-in itself refuses.
    late = await client.post(url, json=body, headers={"Idempotency-Key": "phone-1"})
    assert late.status_code == 409
    assert await count(session, Assessment) == 1
    assert await sweep(session, clock, settings) == 1
    assert await keys(session) == []  # the score and band are gone with the key
    swept = await client.post(url, json=body, headers={"Idempotency-Key": "phone-1"})
    assert swept.status_code == 409
    assert await count(session, Assessment) == 1
    assert await keys(session) == []  # the refused replay left nothing behind


async def test_an_incident_key_keeps_refusing_a_late_replay_without_its_answer(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock, settings: Settings
) -> None:
    await sign_in(client, cast.supervisor.email)
    body = incident_body(cast, clock)
    first = await client.post("/api/incidents", json=body, headers={"Idempotency-Key": "cad-77"})
    assert first.status_code == 201
    assert (
        await client.post("/api/incidents", json=body, headers={"Idempotency-Key": "cad-77"})
    ).json() == first.json()
    clock.advance(hours=25)
    await sign_in(client, cast.supervisor.email)
    unswept = await client.post("/api/incidents", json=body, headers={"Idempotency-Key": "cad-77"})
    assert unswept.status_code == 409 and "more than 24 hours ago" in unswept.json()["detail"]
    assert await sweep(session, clock, settings) == 1
    (bare,) = await keys(session)
    assert bare.response is None and bare.request_hash == "" and bare.expired_at == clock()
    for replay_body in (body, {**body, "summary": "Another"}):
        late = await client.post("/api/incidents", json=replay_body, headers={"Idempotency-Key": "cad-77"})
        assert late.status_code == 409, late.text
    assert await count(session, Incident) == 1  # never logged twice
    assert await sweep(session, clock, settings) == 0  # nothing more to do, run as often as you like
    # The bare key goes at the retention period.
    clock.advance(days=settings.retention_days)
    assert await sweep(session, clock, settings) == 1
    assert await keys(session) == []


@pytest.mark.parametrize("settings_overrides", [{"idempotency_ttl_hours": 1}])
async def test_the_lifetime_is_a_setting(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock, settings: Settings
) -> None:
    await sign_in(client, cast.supervisor.email)
    body = incident_body(cast, clock)
    assert (await client.post("/api/incidents", json=body, headers={"Idempotency-Key": "k"})).status_code == 201
    clock.advance(minutes=59)
    assert (await client.post("/api/incidents", json=body, headers={"Idempotency-Key": "k"})).status_code == 201
    clock.advance(minutes=2)
    assert (await client.post("/api/incidents", json=body, headers={"Idempotency-Key": "k"})).status_code == 409
    assert await sweep(session, clock, settings) == 1
