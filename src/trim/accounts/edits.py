"""Editing a person's details: above the account service and the email change it may
start (a new address only takes effect once confirmed from that address)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import email_change, service
from trim.accounts.actor import Actor
from trim.accounts.models import Person
from trim.accounts.service import PersonInput
from trim.config import Settings
from trim.errors import InvalidInput
from trim.privacy import audit


async def update_person(
    session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, data: PersonInput, now: datetime, settings: Settings
) -> Person:
    """Edit a person's details and roles. A new email address is only pending: it takes
    effect when confirmed from that address (email_change), whoever typed it."""
    person = await service.get_person(session, person_id)
    data = service.validate_person(data, phone_region=settings.phone_region)
    await service.check_unique(session, data, person_id=person.id)
    if actor.id == person.id and set(data.roles) != set(await service.roles_of(session, person.id)):
        # Checked before anything is written, so a refused edit changes nothing at all.
        raise InvalidInput.field("roles", "You cannot change your own roles; ask another administrator.")
    changed = [
        name
        for name, old, new in (
            ("staff_number", person.staff_number, data.staff_number),
            ("name", person.name, data.name),
            ("station_id", person.station_id, data.station_id),
            ("background", person.background, data.background),
            ("manager_staff_number", person.manager_staff_number, data.manager_staff_number),
            ("phone", person.phone, data.phone),
        )
        if old != new
    ]
    person.staff_number, person.name = data.staff_number, data.name
    person.station_id, person.background = data.station_id, data.background
    person.manager_staff_number, person.phone = data.manager_staff_number, data.phone
    person.updated_at = now
    session.add(person)
    if changed:
        audit.record(
            session,
            actor=actor,
            action="person.updated",
            target_type="person",
            target_id=person.id,
            subject_id=person.id,
            details={"fields": changed},
            at=now,
        )
    await service.set_roles(session, actor=actor, person_id=person.id, roles=data.roles, now=now)
    if data.email != person.email:
        await email_change.start(
            session, actor=actor, person=person, new_email=data.email, now=now, settings=settings, via="admin"
        )
    return person
