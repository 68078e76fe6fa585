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
    answers: dict[str, dict[str, bool]] = {}
    for inst in catalogue.offered_at(catalogue.load(), kind):
        # "Yes" to how they are now first: these are the answers that can change and persist.
        ordered = sorted(inst.items, key=lambda item: item.phase != "after")
        yes = {item.id for item in ordered[: counts.get(inst.id, 0)]}
        answers[inst.id] = {item.id: item.id in yes for item in inst.items}
    return answers


def phase_answers(kind: str, *, yes_phases: tuple[str, ...] = (), after_yes: int = 0) -> dict[str, dict[str, bool]]:
    """Risk answers "yes" for every item of `yes_phases` and for the first `after_yes` after
    items; every other item (and the TSQ) "no"."""
    from trim.assessments import instruments as catalogue

    answers = answers_for(kind)
    after = [i for i in catalogue.load()["trim_risk"].items if i.phase == "after"]
    for item in catalogue.load()["trim_risk"].items:
        answers["trim_risk"][item.id] = item.phase in yes_phases or item in after[:after_yes]
    return answers


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
