"""Small makers for arranging data (each takes overrides), beside tests/cast.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from trim.accounts.actor import Actor
from trim.accounts.models import Person, Station
from trim.config import Settings
from trim.db import AsyncSession, utcnow
from trim.followups.models import CheckIn
from trim.incidents import service as incidents
from trim.incidents.models import Incident
from trim.privacy import audit, sealing


async def make_incident(
    session: AsyncSession,
    *,
    actor: Actor,
    station: Station,
    people: list[Person],
    occurred_at: datetime,
    now: datetime,
    settings: Settings,
    exposure: str = "direct",
    **overrides: Any,
) -> Incident:
    data = incidents.IncidentInput(
        occurred_at=occurred_at,
        kind=overrides.pop("kind", "difficult_rescue"),
        station_id=station.id,
        summary=overrides.pop("summary", "Prolonged extrication on the bypass."),
        exposures=[incidents.ExposureRef(exposure, p.id) for p in people],
        **overrides,
    )
    incident = await incidents.log_incident(session, actor=actor, data=data, now=now, settings=settings)
    await session.commit()
    return incident


async def checkins_of(session: AsyncSession, person: Person) -> list[CheckIn]:
    stmt = select(CheckIn).where(CheckIn.person_id == person.id).order_by(col(CheckIn.offset_days))
    return list(await session.exec(stmt.execution_options(populate_existing=True)))


def answers_for(kind: str, *, risk_yes: int = 0, tsq_yes: int = 0) -> dict[str, dict[str, bool]]:
    """Complete answers for every instrument offered at this kind of check-in."""
    from trim.assessments import instruments as catalogue

    counts = {"trim_risk": risk_yes, "tsq": tsq_yes}
    return {
        inst.id: {item.id: i < counts.get(inst.id, 0) for i, item in enumerate(inst.items)}
        for inst in catalogue.offered_at(catalogue.load(), kind)
    }


async def assigned_peer(session: AsyncSession, checkin: CheckIn) -> Person:
    peer = await session.get(Person, checkin.peer_id)
    assert peer is not None
    return peer


async def seal_audit(session: AsyncSession, settings: Settings, *, now: datetime | None = None) -> int:
    """Seal every audit event that may be sealed, as the worker's round does; commits."""
    keys = audit.keyring(settings)
    report = await session.run_sync(
        lambda sync: sealing.seal_pending(sync, keys=keys, now=now or utcnow(), limit=1_000_000)
    )
    await session.commit()
    return report.sealed


async def verified(session: AsyncSession, settings: Settings) -> audit.ChainReport:
    """Seal what waits, then walk the chain."""
    await seal_audit(session, settings)
    return await audit.verify_chain(session, keys=audit.keyring(settings))
