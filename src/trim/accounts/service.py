"""Use cases for people and stations. Services never commit: the caller does, once."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole, Role, Station, WebSession
from trim.accounts.rules import (
    access_status,
    email_notice_addresses,
    is_valid_email,
    normalize_email,
    normalize_phone,
    privileged,
    privileged_grant_message,
    role_change_message,
)
from trim.config import ROLES, Settings
from trim.db import utcnow
from trim.errors import FieldError, InvalidInput, NotFound
from trim.notifications import service as notifications
from trim.privacy import audit, policy


@dataclass
class PersonView:
    """A person with their roles, as pages and the API show them."""

    id: uuid.UUID
    staff_number: str
    name: str
    email: str
    station_id: uuid.UUID | None
    roles: list[str]
    active: bool
    available: bool
    background: str | None
    has_password: bool
    invited_at: datetime | None = None
    manager_staff_number: str | None = None
    phone: str | None = None  # E.164
    joined_at: datetime | None = None
    # A change of sign-in email waiting for the new address to confirm it.
    pending_email: str | None = None
    pending_email_at: datetime | None = None

    def access(self, *, now: datetime, valid: timedelta) -> str:
        """joined, invited, expired or not_invited (see rules.access_status)."""
        return access_status(
            has_password=self.has_password, joined_at=self.joined_at, invited_at=self.invited_at, now=now, valid=valid
        )

    def as_api(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "name": self.name,
            "staff_number": self.staff_number,
            "email": self.email,
            "station_id": str(self.station_id) if self.station_id else None,
            "roles": self.roles,
        }


def _view(person: Person, roles: Iterable[str]) -> PersonView:
    ordered = [r for r in ROLES if r in set(roles)]
    return PersonView(
        id=person.id,
        staff_number=person.staff_number,
        name=person.name,
        email=person.email,
        station_id=person.station_id,
        roles=ordered,
        active=person.active,
        available=person.available,
        background=person.background,
        manager_staff_number=person.manager_staff_number,
        phone=person.phone,
        has_password=person.password_hash is not None,
        invited_at=person.invited_at,
        joined_at=person.joined_at,
        pending_email=person.pending_email,
        pending_email_at=person.pending_email_at,
    )


async def roles_by_person(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Roles of many people in one query."""
    result: dict[uuid.UUID, list[str]] = {pid: [] for pid in person_ids}
    if not person_ids:
        return result
    for chunk_start in range(0, len(person_ids), 900):
        chunk = list(person_ids[chunk_start : chunk_start + 900])
        rows = await session.exec(select(PersonRole).where(col(PersonRole.person_id).in_(chunk)))
        for row in rows:
            result.setdefault(row.person_id, []).append(row.role)
    for roles in result.values():
        roles[:] = in_role_order(roles)
    return result


ROLE_ORDER = {role: i for i, role in enumerate(ROLES)}


def in_role_order(roles: Iterable[str]) -> list[str]:
    """Roles as every screen lists them (the order of ROLES; unknown ones last)."""
    return sorted(roles, key=lambda r: ROLE_ORDER.get(r, len(ROLE_ORDER)))


async def roles_of(session: AsyncSession, person_id: uuid.UUID) -> list[str]:
    """The person's roles."""
    return (await roles_by_person(session, [person_id]))[person_id]


async def get_person(session: AsyncSession, person_id: uuid.UUID) -> Person:
    """The person with this id, or NotFound."""
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("No such person")
    return person


async def person_view(session: AsyncSession, person_id: uuid.UUID) -> PersonView:
    """The person with their roles, as the admin pages and API show them."""
    person = await get_person(session, person_id)
    return _view(person, await roles_of(session, person_id))


async def person_by_email(session: AsyncSession, email: str) -> Person | None:
    """The person signing in with this address (compared normalised), if any."""
    return (await session.exec(select(Person).where(Person.email == normalize_email(email)))).first()


async def person_by_staff_number(session: AsyncSession, staff_number: str) -> Person | None:
    """The person with this staff number (surrounding spaces ignored), if any."""
    return (await session.exec(select(Person).where(Person.staff_number == staff_number.strip()))).first()


ACCESS_FILTERS = ("joined", "invited", "expired", "not_invited")


def access_condition(access: str, *, now: datetime, valid: timedelta) -> ColumnElement[bool]:
    """SQL for rules.access_status(...) == access (a test holds the two together)."""
    joined = or_(col(Person.password_hash).is_not(None), col(Person.joined_at).is_not(None))
    if access == "joined":
        return joined
    waiting = and_(col(Person.password_hash).is_(None), col(Person.joined_at).is_(None))
    if access == "not_invited":
        return and_(waiting, col(Person.invited_at).is_(None))
    if access == "invited":
        return and_(waiting, col(Person.invited_at) > now - valid)
    if access == "expired":
        return and_(waiting, col(Person.invited_at) <= now - valid)
    raise InvalidInput.field("access", f"unknown filter {access!r}; use one of {', '.join(ACCESS_FILTERS)}")


async def search_people(
    session: AsyncSession,
    *,
    actor: Actor,
    q: str | None = None,
    role: str | None = None,
    station_id: uuid.UUID | None = None,
    include_inactive: bool = False,
    limit: int = 100,
    offset: int = 0,
    access: ColumnElement[bool] | None = None,
) -> list[PersonView]:
    """People the actor may pick, by name; name or staff number match `q`; `access` is an
    access_condition() to keep to."""
    stmt = policy.pickable_people(actor).where(col(Person.is_pseudonym).is_(False))
    if not include_inactive:
        stmt = stmt.where(col(Person.active).is_(True))
    if access is not None:
        stmt = stmt.where(access)
    if q:
        needle = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(Person.name).like(needle), func.lower(Person.staff_number).like(needle)))
    if role:
        if role not in ROLES:
            raise InvalidInput.field("role", f"unknown role {role!r}")
        stmt = stmt.where(col(Person.id).in_(select(PersonRole.person_id).where(PersonRole.role == role)))
    if station_id:
        stmt = stmt.where(Person.station_id == station_id)
    stmt = stmt.order_by(col(Person.name), col(Person.staff_number)).limit(limit).offset(offset)
    people = list(await session.exec(stmt))
    roles = await roles_by_person(session, [p.id for p in people])
    return [_view(p, roles[p.id]) for p in people]


async def count_people(
    session: AsyncSession, *, q: str | None = None, access: ColumnElement[bool] | None = None
) -> int:
    """How many real people (no purge stand-ins) match the search, within the access clause given."""
    stmt = select(func.count()).select_from(Person).where(col(Person.is_pseudonym).is_(False))
    if access is not None:
        stmt = stmt.where(access)
    if q:
        needle = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(Person.name).like(needle), func.lower(Person.staff_number).like(needle)))
    return int((await session.exec(stmt)).one())


# -- stations --------------------------------------------------------------


async def list_stations(session: AsyncSession, *, include_inactive: bool = False) -> list[Station]:
    """Stations by name; the inactive ones too only when asked."""
    stmt = select(Station).order_by(col(Station.name))
    if not include_inactive:
        stmt = stmt.where(col(Station.active).is_(True))
    return list(await session.exec(stmt))


async def get_station(session: AsyncSession, station_id: uuid.UUID) -> Station:
    """The station with this id, or NotFound."""
    station = await session.get(Station, station_id)
    if station is None:
        raise NotFound("No such station")
    return station


async def station_names(session: AsyncSession) -> dict[uuid.UUID, str]:
    """Every station's name by id, inactive ones included (for labels on old records)."""
    return {s.id: s.name for s in await list_stations(session, include_inactive=True)}


async def station_by_name(session: AsyncSession, name: str) -> Station | None:
    """The station with this name, case and surrounding spaces ignored, if any."""
    return (await session.exec(select(Station).where(func.lower(Station.name) == name.strip().lower()))).first()


def _clean_station_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput.field("name", "Give the station a name.")
    if len(cleaned) > 120:
        raise InvalidInput.field("name", "Keep the name under 120 characters.")
    return cleaned


async def create_station(session: AsyncSession, *, actor: Actor, name: str) -> Station:
    """Add a station; names are unique, whatever their case."""
    cleaned = _clean_station_name(name)
    if await station_by_name(session, cleaned):
        raise InvalidInput.field("name", f"There is already a station called {cleaned}.")
    station = Station(name=cleaned)
    session.add(station)
    await session.flush()
    audit.record(session, actor=actor, action="station.created", target_type="station", target_id=station.id)
    return station


async def update_station(
    session: AsyncSession, *, actor: Actor, station_id: uuid.UUID, name: str, active: bool
) -> Station:
    """Rename a station or take it out of use (its people keep it)."""
    station = await get_station(session, station_id)
    cleaned = _clean_station_name(name)
    other = await station_by_name(session, cleaned)
    if other and other.id != station.id:
        raise InvalidInput.field("name", f"There is already a station called {cleaned}.")
    changes: dict[str, object] = {}
    if station.name != cleaned:
        changes["renamed"] = True
    if station.active != active:
        changes["active"] = f"{station.active}->{active}"
    station.name, station.active = cleaned, active
    session.add(station)
    if changes:
        audit.record(
            session, actor=actor, action="station.updated", target_type="station", target_id=station.id, details=changes
        )
    return station


# -- people ----------------------------------------------------------------


@dataclass
class PersonInput:
    staff_number: str
    name: str
    email: str
    station_id: uuid.UUID | None
    roles: list[str]
    background: str | None = None
    # The line manager's staff number (design section 5); optional.
    manager_staff_number: str | None = None
    # As typed (a number without a country code is read in TRIM_PHONE_REGION); stored E.164.
    phone: str | None = None


def validate_person(data: PersonInput, *, phone_region: str) -> PersonInput:
    """The person's details tidied (trimmed, email and phone normalised), or every problem
    with them at once as an InvalidInput."""
    errors: list[FieldError] = []
    staff = data.staff_number.strip()
    name = " ".join(data.name.split())
    email = normalize_email(data.email)
    if not staff:
        errors.append(FieldError("staff_number", "Enter a staff number."))
    elif len(staff) > 40:
        errors.append(FieldError("staff_number", "Keep the staff number under 40 characters."))
    if not name:
        errors.append(FieldError("name", "Enter a name."))
    elif len(name) > 200:
        errors.append(FieldError("name", "Keep the name under 200 characters."))
    if not is_valid_email(email):
        errors.append(FieldError("email", "Enter an email address like name@example.org."))
    unknown = [r for r in data.roles if r not in ROLES]
    if unknown:
        errors.append(FieldError("roles", f"Unknown role {unknown[0]!r}."))
    background = (data.background or "").strip() or None
    if background and len(background) > 200:
        errors.append(FieldError("background", "Keep the background under 200 characters."))
    manager = (data.manager_staff_number or "").strip() or None
    if manager and len(manager) > 40:
        errors.append(FieldError("manager_staff_number", "Keep the manager's staff number under 40 characters."))
    elif manager and manager == staff:
        errors.append(FieldError("manager_staff_number", "A person cannot be their own line manager."))
    phone = (data.phone or "").strip() or None
    if phone:
        try:
            phone = normalize_phone(phone, region=phone_region)
        except ValueError as exc:
            errors.append(FieldError("phone", str(exc)))
    if errors:
        raise InvalidInput("Some details need attention.", errors)
    roles = [r for r in ROLES if r in data.roles]
    return PersonInput(staff, name, email, data.station_id, roles, background, manager, phone)


async def check_unique(session: AsyncSession, data: PersonInput, *, person_id: uuid.UUID | None) -> None:
    """Refuse a staff number or email address that another person (not `person_id`) has,
    and a station that does not exist."""
    errors = []
    other = await person_by_staff_number(session, data.staff_number)
    if other and other.id != person_id:
        errors.append(FieldError("staff_number", "Someone else already has this staff number."))
    other = await person_by_email(session, data.email)
    if other and other.id != person_id:
        errors.append(FieldError("email", "Someone else already uses this email address."))
    if data.station_id is not None and await session.get(Station, data.station_id) is None:
        errors.append(FieldError("station_id", "Choose a station from the list."))
    if errors:
        raise InvalidInput("Some details need attention.", errors)


async def tell_leads_of_privileged_grant(
    session: AsyncSession, *, person_ids: Sequence[uuid.UUID], roles: Sequence[str], created: bool, now: datetime
) -> int:
    """Email every active lead (but those granted, who are told apart) that a lead,
    clinician or admin role was granted to these people; returns how many were written.
    One email per lead however many people; no names (the overview has them)."""
    granted = privileged(list(roles))
    if not granted or not person_ids:
        return 0
    subject, body = privileged_grant_message(granted, created=created, accounts=len(set(person_ids)))
    leads = [pid for pid in await notifications.role_holders(session, "lead") if pid not in set(person_ids)]
    return await notifications.enqueue_many(
        session,
        [notifications.Message("account", subject, body, person_id=lead, link="/overview") for lead in leads],
        now=now,
    )


async def create_person(
    session: AsyncSession,
    *,
    actor: Actor,
    data: PersonInput,
    password_hash: str | None = None,
    now: datetime | None = None,
    phone_region: str = "GB",
) -> Person:
    """Add a person with their roles. A lead, clinician or admin role is also recorded as a
    role change (so the lead's overview lists it) and emailed to every lead."""
    now = now or utcnow()
    data = validate_person(data, phone_region=phone_region)
    await check_unique(session, data, person_id=None)
    person = Person(
        staff_number=data.staff_number,
        name=data.name,
        email=data.email,
        station_id=data.station_id,
        background=data.background,
        manager_staff_number=data.manager_staff_number,
        phone=data.phone,
        password_hash=password_hash,
    )
    session.add(person)
    await session.flush()
    for role in data.roles:
        session.add(PersonRole(person_id=person.id, role=role))
    audit.record(
        session,
        actor=actor,
        action="person.created",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        details={"roles": data.roles},
        at=now,
    )
    if privileged(data.roles):
        audit.record(
            session,
            actor=actor,
            action="person.roles_changed",
            target_type="person",
            target_id=person.id,
            subject_id=person.id,
            details={"added": data.roles, "removed": [], "created": True},
            at=now,
        )
    await session.flush()
    await tell_leads_of_privileged_grant(session, person_ids=[person.id], roles=data.roles, created=True, now=now)
    return person


async def set_roles(
    session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, roles: Sequence[str], now: datetime
) -> tuple[list[str], list[str]]:
    """Replace a person's roles; returns (added, removed). Admins cannot change their own."""
    wanted = [r for r in ROLES if r in set(roles)]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise InvalidInput.field("roles", f"Unknown role {unknown[0]!r}.")
    current = await roles_of(session, person_id)
    added = [r for r in wanted if r not in current]
    removed = [r for r in current if r not in wanted]
    if not added and not removed:
        return [], []
    if actor.id == person_id:
        raise InvalidInput.field("roles", "You cannot change your own roles; ask another administrator.")
    await session.exec(delete(PersonRole).where(col(PersonRole.person_id) == person_id))
    for role in wanted:
        session.add(PersonRole(person_id=person_id, role=role))
    audit.record(
        session,
        actor=actor,
        action="person.roles_changed",
        target_type="person",
        target_id=person_id,
        subject_id=person_id,
        details={"added": added, "removed": removed},
        at=now,
    )
    await session.flush()
    subject, body = role_change_message(added, removed)
    await notifications.enqueue(
        session, person_id=person_id, kind="account", subject=subject, body=body, link="/profile", now=now
    )
    await tell_leads_of_privileged_grant(session, person_ids=[person_id], roles=added, created=False, now=now)
    return added, removed


async def end_all_sessions(session: AsyncSession, *, person_id: uuid.UUID) -> None:
    """Sign the person out everywhere: delete every web session of theirs."""
    await session.exec(delete(WebSession).where(col(WebSession.person_id) == person_id))


async def set_active(
    session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, active: bool, now: datetime
) -> Person:
    """Deactivate (signs them out everywhere) or reactivate a person."""
    person = await get_person(session, person_id)
    if not active and actor.id == person_id:
        raise InvalidInput.field("active", "You cannot deactivate your own account.")
    if person.active == active:
        return person
    person.active = active
    person.deactivated_at = None if active else now
    person.updated_at = now
    session.add(person)
    if not active:
        await end_all_sessions(session, person_id=person.id)
    audit.record(
        session,
        actor=actor,
        action="person.reactivated" if active else "person.deactivated",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        at=now,
    )
    await session.flush()
    return person


async def set_password_hash(
    session: AsyncSession, *, actor: Actor | str, person_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    """Store a new password hash and end every session of that person."""
    person = await get_person(session, person_id)
    person.password_hash = password_hash
    person.updated_at = now
    session.add(person)
    await end_all_sessions(session, person_id=person.id)
    audit.record(
        session,
        actor=actor,
        action="person.password_set",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        at=now,
    )


async def notify_account(
    session: AsyncSession,
    *,
    person: Person,
    subject: str,
    body: str,
    link: str | None,
    now: datetime,
    settings: Settings,
) -> None:
    """An account notice ("password changed", "second factor reset") to the person, and to
    the other address of a pending or recent change of their sign-in email (design 3a)."""
    await notifications.enqueue(
        session, person_id=person.id, kind="account", subject=subject, body=body, link=link, now=now
    )
    extra = email_notice_addresses(
        current=person.email,
        pending=person.pending_email,
        previous=person.previous_email,
        changed_at=person.email_changed_at,
        now=now,
        notice=settings.email_change_notice,
    )
    for address in extra:
        await notifications.enqueue(
            session, email=address, kind="account", subject=subject, body=body, link=link, now=now
        )


async def set_availability(session: AsyncSession, *, actor: Actor, available: bool, now: datetime) -> Person:
    """A peer supporter marks themselves available or not for new work."""
    if not actor.is_peer:
        raise NotFound()
    person = await get_person(session, actor.person_id)
    if person.available != available:
        person.available = available
        person.updated_at = now
        session.add(person)
        audit.record(
            session,
            actor=actor,
            action="person.availability_changed",
            target_type="person",
            target_id=person.id,
            subject_id=person.id,
            details={"available": available},
            at=now,
        )
    return person


async def count_by_role(session: AsyncSession) -> dict[str, int]:
    """How many active people hold each role (every role listed, zero included)."""
    rows = await session.exec(
        select(PersonRole.role, func.count())
        .join(Person, col(Person.id) == col(PersonRole.person_id))
        .where(col(Person.active).is_(True))
        .group_by(col(PersonRole.role))
    )
    counts = dict.fromkeys(ROLES, 0)
    counts.update({role: int(n) for role, n in rows.all()})
    return counts


async def ensure_role_holder(session: AsyncSession, person_id: uuid.UUID, role: str) -> Person:
    """The active person if they hold the role, else a 422 naming the field."""
    person = await session.get(Person, person_id)
    if person is None or not person.active or role not in await roles_of(session, person_id):
        raise InvalidInput.field(f"{role}_id", f"Choose an active person with the {role} role.")
    return person


async def set_own_phone(
    session: AsyncSession, *, actor: Actor, phone: str, now: datetime, settings: Settings
) -> str | None:
    """The person sets (or, with an empty value, removes) their own phone; returns it as
    stored (E.164), or InvalidInput naming the field."""
    person = await get_person(session, actor.person_id)
    stored: str | None = None
    if phone.strip():
        try:
            stored = normalize_phone(phone, region=settings.phone_region)
        except ValueError as exc:
            raise InvalidInput.field("phone", str(exc)) from None
    if stored != person.phone:
        person.phone, person.updated_at = stored, now
        session.add(person)
        audit.record(
            session,
            actor=actor,
            action="person.updated",
            target_type="person",
            target_id=person.id,
            subject_id=person.id,
            details={"fields": ["phone"]},
            at=now,
        )
        await session.flush()
    return stored


@dataclass(frozen=True)
class PersonContact:
    """How to reach a person: their phone (E.164, optional) and email."""

    phone: str | None
    email: str


async def contact_of(session: AsyncSession, person_id: uuid.UUID) -> PersonContact:
    """The person's phone and email (no access check: callers ask privacy first)."""
    person = await get_person(session, person_id)
    return PersonContact(phone=person.phone, email=person.email)


async def names_of(session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Names for a set of person ids, in one query."""
    wanted = list({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await session.exec(select(Person.id, Person.name).where(col(Person.id).in_(wanted)))
    return {pid: name for pid, name in rows}


async def names_by_id(session: AsyncSession, ids: Sequence[object]) -> dict[str, str]:
    """Names for ids as strings (audit events hold ids as text); unknown ids are skipped."""
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = await session.exec(select(Person.id, Person.name).where(col(Person.id).in_(wanted)))
    return {str(pid): name for pid, name in rows}


async def peer_supporters(session: AsyncSession) -> list[PersonView]:
    """Active peer supporters, by name: anyone asking for a peer may name one."""
    stmt = (
        select(Person)
        .where(
            col(Person.active).is_(True),
            col(Person.is_pseudonym).is_(False),
            col(Person.id).in_(select(PersonRole.person_id).where(PersonRole.role == Role.peer)),
        )
        .order_by(col(Person.name))
    )
    people = list(await session.exec(stmt))
    roles = await roles_by_person(session, [p.id for p in people])
    return [_view(p, roles[p.id]) for p in people]


async def supervisors(session: AsyncSession) -> list[PersonView]:
    """Active station and watch managers, by name: a person picks one to share a note with."""
    stmt = (
        select(Person)
        .where(
            col(Person.active).is_(True),
            col(Person.is_pseudonym).is_(False),
            col(Person.id).in_(select(PersonRole.person_id).where(PersonRole.role == Role.supervisor.value)),
        )
        .order_by(col(Person.name))
    )
    people = list(await session.exec(stmt))
    roles = await roles_by_person(session, [p.id for p in people])
    return [_view(p, roles[p.id]) for p in people]
