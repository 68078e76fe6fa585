"""Logging incidents and who was exposed; reading them as each role may."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.models import Person, Station
from trim.config import Settings
from trim.errors import FieldError, InvalidInput, NotFound
from trim.flags import service as flags
from trim.followups import service as followups
from trim.followups.service import CheckinView
from trim.incidents.models import EXPOSURE_LABELS, KIND_LABELS, Exposure, ExposureKind, Incident, IncidentKind
from trim.privacy import audit, policy

MAX_EXPOSURES = 1000
SUMMARY_MAX = 1000


@dataclass
class ExposureRef:
    """One exposed person as submitted: by id, or by staff number (integrations)."""

    exposure: str
    person_id: uuid.UUID | None = None
    staff_number: str | None = None


@dataclass
class IncidentInput:
    occurred_at: datetime | None
    kind: str
    station_id: uuid.UUID | None
    summary: str
    kind_other: str | None = None
    exposures: list[ExposureRef] = field(default_factory=list)


def _check_facts(data: IncidentInput, *, now: datetime, settings: Settings, errors: list[FieldError]) -> None:
    if data.occurred_at is None:
        errors.append(FieldError("occurred_at", "Enter when it happened."))
    elif data.occurred_at.tzinfo is None:
        errors.append(FieldError("occurred_at", "Give the time with its zone, e.g. 2026-11-26T09:00:00Z."))
    elif data.occurred_at > now + timedelta(hours=settings.max_future_incident_hours):
        errors.append(FieldError("occurred_at", "That time is in the future; check the date."))
    elif data.occurred_at < now - timedelta(days=settings.max_past_incident_days):
        errors.append(FieldError("occurred_at", "That date is very long ago; check the year."))
    if data.kind not in IncidentKind.__members__:
        errors.append(FieldError("kind", "Choose what kind of incident it was."))
    if data.kind_other and len(data.kind_other) > 120:
        errors.append(FieldError("kind_other", "Keep the description under 120 characters."))
    summary = (data.summary or "").strip()
    if not summary:
        errors.append(FieldError("summary", "Write a short summary (no clinical details)."))
    elif len(summary) > SUMMARY_MAX:
        errors.append(FieldError("summary", f"Keep the summary under {SUMMARY_MAX} characters."))
    if data.station_id is None:
        errors.append(FieldError("station_id", "Choose the station."))


async def _resolve_people(
    session: AsyncSession, refs: Sequence[ExposureRef], errors: list[FieldError], *, prefix: str = "exposures"
) -> list[tuple[Person, str]]:
    """Find each referenced person; report unknown, inactive and duplicate ones by position."""
    ids = [r.person_id for r in refs if r.person_id]
    numbers = [r.staff_number.strip() for r in refs if r.staff_number and not r.person_id]
    by_id: dict[uuid.UUID, Person] = {}
    by_number: dict[str, Person] = {}
    for start in range(0, len(ids), 500):
        for found in await session.exec(select(Person).where(col(Person.id).in_(ids[start : start + 500]))):
            by_id[found.id] = found
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        for found in await session.exec(select(Person).where(col(Person.staff_number).in_(chunk))):
            by_number[found.staff_number] = found
    resolved: list[tuple[Person, str]] = []
    seen: dict[uuid.UUID, int] = {}
    for index, ref in enumerate(refs):
        where = f"{prefix}[{index}]"
        person: Person | None = None
        if ref.person_id:
            person = by_id.get(ref.person_id)
            missing = f"{where}.person_id"
        elif ref.staff_number:
            person = by_number.get(ref.staff_number.strip())
            missing = f"{where}.staff_number"
        else:
            errors.append(FieldError(where, "Name the person by person_id or staff_number."))
            continue
        if person is None:
            errors.append(FieldError(missing, "No such person."))
            continue
        if not person.active:
            errors.append(FieldError(missing, f"{person.name} is no longer active."))
            continue
        if ref.exposure not in ExposureKind.__members__:
            errors.append(FieldError(f"{where}.exposure", "Use direct, witness or support."))
            continue
        if person.id in seen:
            errors.append(FieldError(missing, f"{person.name} is listed twice (also at {prefix}[{seen[person.id]}])."))
            continue
        seen[person.id] = index
        resolved.append((person, ref.exposure))
    return resolved


async def log_incident(
    session: AsyncSession, *, actor: Actor, data: IncidentInput, now: datetime, settings: Settings
) -> Incident:
    """Log an incident and its exposed people; schedule everyone's check-ins. One transaction."""
    if not policy.can_log_incident(actor):
        raise NotFound()
    errors: list[FieldError] = []
    _check_facts(data, now=now, settings=settings, errors=errors)
    if data.station_id is not None and await session.get(Station, data.station_id) is None:
        errors.append(FieldError("station_id", "No such station."))
    if len(data.exposures) > MAX_EXPOSURES:
        errors.append(FieldError("exposures", f"Log at most {MAX_EXPOSURES} people at once."))
    people = await _resolve_people(session, data.exposures[:MAX_EXPOSURES], errors)
    if errors:
        raise InvalidInput("The incident was not logged: " + errors[0].message, errors)
    assert data.occurred_at is not None and data.station_id is not None
    incident = Incident(
        occurred_at=data.occurred_at,
        kind=data.kind,
        kind_other=(data.kind_other or "").strip() or None if data.kind == IncidentKind.other else None,
        station_id=data.station_id,
        summary=data.summary.strip(),
        logged_by_person_id=actor.id,
        logged_by_token_id=actor.token_id,
        logged_by_label=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(incident)
    await session.flush()
    # Not flushed yet: the schedule chooses each peer first, so each row is written once.
    exposures = [
        Exposure(incident_id=incident.id, person_id=person.id, exposure=kind, added_at=now) for person, kind in people
    ]
    audit.record(
        session,
        actor=actor,
        action="incident.logged",
        target_type="incident",
        target_id=incident.id,
        details={"exposures": len(exposures)},
        at=now,
    )
    await followups.schedule_exposures(
        session,
        actor=actor,
        incident=incident,
        exposures=exposures,
        person_stations={p.id: p.station_id for p, _ in people},
        now=now,
        settings=settings,
    )
    await flags.check_cumulative(session, person_ids=[p.id for p, _ in people], now=now, settings=settings)
    return incident


async def _managed_incident(session: AsyncSession, actor: Actor, incident_id: uuid.UUID) -> Incident:
    incident = await policy.access_incident(session, actor, incident_id)
    if not policy.can_manage_incident(actor, incident):
        raise NotFound()
    return incident


async def add_exposure(
    session: AsyncSession,
    *,
    actor: Actor,
    incident_id: uuid.UUID,
    ref: ExposureRef,
    now: datetime,
    settings: Settings,
) -> Exposure:
    """Add a person later: their check-ins are scheduled from the incident time."""
    incident = await _managed_incident(session, actor, incident_id)
    errors: list[FieldError] = []
    people = await _resolve_people(session, [ref], errors, prefix="exposure")
    if errors:
        raise InvalidInput(
            errors[0].message, [FieldError(e.field.replace("exposure[0].", ""), e.message) for e in errors]
        )
    person, kind = people[0]
    existing = (
        await session.exec(select(Exposure).where(Exposure.incident_id == incident.id, Exposure.person_id == person.id))
    ).first()
    if existing is not None and existing.removed_at is None:
        raise InvalidInput.field("person_id", f"{person.name} is already recorded as exposed to this incident.")
    if existing is not None:
        existing.removed_at = None
        existing.exposure = kind
        session.add(existing)
        exposure = existing
        await followups.assign_exposure(session, exposure=exposure, now=now, settings=settings)
        await followups.reschedule_missing(session, exposure=exposure, incident=incident, now=now, settings=settings)
    else:
        exposure = Exposure(incident_id=incident.id, person_id=person.id, exposure=kind, added_at=now)
        session.add(exposure)
        await session.flush()
        await followups.schedule_exposures(
            session,
            actor=actor,
            incident=incident,
            exposures=[exposure],
            person_stations={person.id: person.station_id},
            now=now,
            settings=settings,
        )
    incident.updated_at = now
    session.add(incident)
    audit.record(
        session,
        actor=actor,
        action="exposure.added",
        target_type="incident",
        target_id=incident.id,
        subject_id=person.id,
        details={"exposure_id": exposure.id},
        at=now,
    )
    await flags.check_cumulative(session, person_ids=[person.id], now=now, settings=settings)
    return exposure


async def remove_exposure(
    session: AsyncSession, *, actor: Actor, incident_id: uuid.UUID, person_id: uuid.UUID, now: datetime
) -> None:
    """Remove a person added in error: open check-ins are cancelled, done ones kept. Once
    their support has started (a completed check-in, an open flag) only the lead may: to
    anyone else the removal does not exist (404); the incident page says to ask the lead."""
    incident = await _managed_incident(session, actor, incident_id)
    exposure = (
        await session.exec(
            select(Exposure).where(
                Exposure.incident_id == incident.id, Exposure.person_id == person_id, col(Exposure.removed_at).is_(None)
            )
        )
    ).first()
    if exposure is None:
        raise NotFound()
    started = not actor.is_lead and bool(await flags.support_started(session, exposures=[exposure]))
    if not policy.can_remove_exposure(actor, incident, support_started=started):
        raise NotFound()
    exposure.removed_at = now
    session.add(exposure)
    cancelled = await followups.cancel_open(session, exposure=exposure, now=now, reason="removed from the incident")
    await flags.release_monitors(session, exposure_id=exposure.id, now=now)
    audit.record(
        session,
        actor=actor,
        action="exposure.removed",
        target_type="incident",
        target_id=incident.id,
        subject_id=person_id,
        details={"exposure_id": exposure.id, "cancelled": cancelled},
        at=now,
    )


async def change_incident(
    session: AsyncSession,
    *,
    actor: Actor,
    incident_id: uuid.UUID,
    data: IncidentInput,
    now: datetime,
    settings: Settings,
) -> Incident:
    """Correct the facts. A new time moves open check-ins, never recorded ones."""
    incident = await _managed_incident(session, actor, incident_id)
    errors: list[FieldError] = []
    _check_facts(data, now=now, settings=settings, errors=errors)
    if data.station_id is not None and await session.get(Station, data.station_id) is None:
        errors.append(FieldError("station_id", "No such station."))
    if errors:
        raise InvalidInput("The incident was not changed: " + errors[0].message, errors)
    assert data.occurred_at is not None and data.station_id is not None
    changed = [
        name
        for name, old, new in (
            ("occurred_at", incident.occurred_at, data.occurred_at),
            ("kind", incident.kind, data.kind),
            ("station_id", incident.station_id, data.station_id),
            ("summary", incident.summary, data.summary.strip()),
        )
        if old != new
    ]
    moved_time = incident.occurred_at != data.occurred_at
    incident.occurred_at = data.occurred_at
    incident.kind = data.kind
    incident.kind_other = (data.kind_other or "").strip() or None if data.kind == IncidentKind.other else None
    incident.station_id = data.station_id
    incident.summary = data.summary.strip()
    incident.updated_at = now
    session.add(incident)
    moved = 0
    if moved_time:
        moved = await followups.move_open(session, incident=incident, now=now, settings=settings)
    audit.record(
        session,
        actor=actor,
        action="incident.changed",
        target_type="incident",
        target_id=incident.id,
        details={"fields": changed, "checkins_moved": moved},
        at=now,
    )
    return incident


# -- reading -----------------------------------------------------------------------------


@dataclass
class IncidentSummary:
    id: uuid.UUID
    occurred_at: datetime
    kind: str
    kind_other: str | None
    station_id: uuid.UUID | None
    station_name: str
    summary: str
    logged_by_label: str
    logged_by_person_id: uuid.UUID | None

    @property
    def kind_label(self) -> str:
        if self.kind == IncidentKind.other and self.kind_other:
            return f"Other: {self.kind_other}"
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass
class ExposureLine:
    exposure_id: uuid.UUID
    person_id: uuid.UUID
    name: str
    exposure: str
    show_status: bool
    peer_id: uuid.UUID | None = None
    peer_name: str | None = None
    opted_out: bool = False
    checkins: list[CheckinView] = field(default_factory=list)
    # May the actor take them off the incident? When they manage it but may not (support
    # has started), the page says to ask the lead.
    removable: bool = False

    @property
    def exposure_label(self) -> str:
        return EXPOSURE_LABELS.get(self.exposure, self.exposure)

    def as_api(self) -> dict[str, object]:
        body: dict[str, object] = {"person_id": str(self.person_id), "name": self.name, "exposure": self.exposure}
        if self.show_status:
            body["peer_id"] = str(self.peer_id) if self.peer_id else None
            body["checkins"] = [
                {"id": str(c.id), "kind": c.kind, "due_at": c.due_at, "status": c.status} for c in self.checkins
            ]
        return body


@dataclass
class IncidentDetail:
    incident: IncidentSummary
    exposures: list[ExposureLine]
    can_manage: bool
    hidden_people: int  # exposed people the actor may not see (never shown as a number to them)

    def as_api(self) -> dict[str, object]:
        i = self.incident
        return {
            "id": str(i.id),
            "occurred_at": i.occurred_at,
            "kind": i.kind,
            "kind_other": i.kind_other,
            "station_id": str(i.station_id),
            "summary": i.summary,
            "logged_by": i.logged_by_label,
            "exposures": [e.as_api() for e in self.exposures],
        }


async def _summaries(session: AsyncSession, incidents: Sequence[Incident]) -> list[IncidentSummary]:
    stations = {s.id: s.name for s in await session.exec(select(Station))}
    return [
        IncidentSummary(
            id=i.id,
            occurred_at=i.occurred_at,
            kind=i.kind,
            kind_other=i.kind_other,
            station_id=i.station_id,
            station_name=stations.get(i.station_id, "") if i.station_id else "",
            summary=i.summary,
            logged_by_label=i.logged_by_label,
            logged_by_person_id=i.logged_by_person_id,
        )
        for i in incidents
    ]


async def incident_detail(
    session: AsyncSession, *, actor: Actor, incident_id: uuid.UUID, now: datetime, settings: Settings
) -> IncidentDetail:
    """An incident as the actor may see it (404 if not at all). Reading it is audited."""
    incident = await policy.access_incident(session, actor, incident_id)
    rows = list(
        await session.exec(
            select(Exposure, Person.name)
            .join(Person, col(Person.id) == col(Exposure.person_id))
            .where(Exposure.incident_id == incident.id, col(Exposure.removed_at).is_(None))
            .order_by(col(Person.name))
        )
    )
    lines: list[ExposureLine] = []
    hidden = 0
    for exposure, name in rows:
        access = policy.exposure_access(actor, incident, exposure)
        if not access.name:
            hidden += 1
            continue
        lines.append(
            ExposureLine(
                exposure_id=exposure.id,
                person_id=exposure.person_id,
                name=name,
                exposure=exposure.exposure,
                show_status=access.status,
                peer_id=exposure.peer_id if access.status else None,
                opted_out=exposure.opted_out_at is not None if access.status else False,
            )
        )
    can_manage = policy.can_manage_incident(actor, incident)
    if can_manage:
        shown = {line.exposure_id for line in lines}
        started = (
            set()
            if actor.is_lead
            else await flags.support_started(session, exposures=[e for e, _ in rows if e.id in shown])
        )
        for line in lines:
            line.removable = policy.can_remove_exposure(actor, incident, support_started=line.exposure_id in started)
    with_status = [line for line in lines if line.show_status]
    grouped = await followups.checkins_for_exposures(
        session,
        actor=actor,
        incident=incident,
        exposures=[e for e, _ in rows if e.id in {line.exposure_id for line in with_status}],
        now=now,
        settings=settings,
    )
    peer_names = await accounts.names_of(session, [line.peer_id for line in with_status])
    for line in with_status:
        line.checkins = grouped.get(line.exposure_id, [])
        line.peer_name = peer_names.get(line.peer_id) if line.peer_id else None
    # A person opening an incident they were part of reads their own record: it is about them.
    own = any(line.person_id == actor.id for line in lines)
    audit.record(
        session,
        actor=actor,
        action="incident.viewed",
        target_type="incident",
        target_id=incident.id,
        subject_id=actor.id if own else None,
        at=now,
    )
    summary = (await _summaries(session, [incident]))[0]
    return IncidentDetail(incident=summary, exposures=lines, can_manage=can_manage, hidden_people=hidden)


async def incidents_by_id(
    session: AsyncSession, *, actor: Actor, incident_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, IncidentSummary]:
    """The facts of those of these incidents the actor may see (the others are left out)."""
    wanted = list(set(incident_ids))
    if not wanted:
        return {}
    rows = await session.exec(select(Incident).where(policy.incident_scope(actor), col(Incident.id).in_(wanted)))
    return {s.id: s for s in await _summaries(session, list(rows))}


async def list_incidents(
    session: AsyncSession,
    *,
    actor: Actor,
    station_id: uuid.UUID | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[IncidentSummary], int]:
    """Incidents the actor may see, newest first, with the total for paging."""
    where = [policy.incident_scope(actor)]
    if station_id:
        where.append(col(Incident.station_id) == station_id)
    if kind:
        where.append(col(Incident.kind) == kind)
    total = int((await session.exec(select(func.count()).select_from(Incident).where(*where))).one())
    incidents = list(
        await session.exec(
            select(Incident).where(*where).order_by(col(Incident.occurred_at).desc()).limit(limit).offset(offset)
        )
    )
    return await _summaries(session, incidents), total


async def exposure_counts(session: AsyncSession, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many people are recorded on each incident (for the lead's lists)."""
    if not incident_ids:
        return {}
    rows = await session.exec(
        select(Exposure.incident_id, func.count())
        .where(col(Exposure.incident_id).in_(list(incident_ids)), col(Exposure.removed_at).is_(None))
        .group_by(col(Exposure.incident_id))
    )
    return {r[0]: int(r[1]) for r in rows}


async def exposure_id_for(
    session: AsyncSession, *, actor: Actor, incident_id: uuid.UUID, person_id: uuid.UUID
) -> uuid.UUID:
    """The live exposure of a person on an incident the actor may see (404 otherwise)."""
    incident = await policy.access_incident(session, actor, incident_id)
    exposure = (
        await session.exec(
            select(Exposure).where(
                Exposure.incident_id == incident.id, Exposure.person_id == person_id, col(Exposure.removed_at).is_(None)
            )
        )
    ).first()
    if exposure is None or not policy.exposure_access(actor, incident, exposure).status:
        raise NotFound()
    return exposure.id


async def incident_detail_for_token(session: AsyncSession, *, actor: Actor, incident_id: uuid.UUID) -> IncidentDetail:
    """What an integration gets back after posting: the facts and names it sent, no status."""
    incident = await policy.access_token_incident(session, actor, incident_id)
    rows = await session.exec(
        select(Exposure, Person.name)
        .join(Person, col(Person.id) == col(Exposure.person_id))
        .where(Exposure.incident_id == incident.id, col(Exposure.removed_at).is_(None))
        .order_by(col(Person.name))
    )
    lines = [
        ExposureLine(exposure_id=e.id, person_id=e.person_id, name=name, exposure=e.exposure, show_status=False)
        for e, name in rows
    ]
    summary = (await _summaries(session, [incident]))[0]
    return IncidentDetail(incident=summary, exposures=lines, can_manage=False, hidden_people=0)


async def open_support_contact(
    session: AsyncSession,
    *,
    actor: Actor,
    person_id: uuid.UUID,
    station_id: uuid.UUID | None,
    started_at: datetime,
    now: datetime,
    settings: Settings,
) -> Incident:
    """A request for a peer becomes ongoing support: check-ins on the usual schedule, with
    the peer who took it. It is not a critical incident: supervisors never see it and it
    is not counted as one."""
    incident = Incident(
        occurred_at=now,
        kind="other",
        kind_other="Support contact",
        station_id=station_id,
        summary="Ongoing support after a request for a peer.",
        logged_by_person_id=actor.id,
        logged_by_label=actor.name,
        source="request",
        created_at=now,
        updated_at=now,
    )
    session.add(incident)
    await session.flush()
    exposure = Exposure(
        incident_id=incident.id, person_id=person_id, exposure="support", peer_id=actor.id, added_at=now
    )
    session.add(exposure)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="support_contact.opened",
        target_type="incident",
        target_id=incident.id,
        subject_id=person_id,
        details={"started_at": started_at},
        at=now,
    )
    await followups.schedule_exposures(
        session,
        actor=actor,
        incident=incident,
        exposures=[exposure],
        person_stations={person_id: station_id},
        now=now,
        settings=settings,
    )
    return incident
