"""A change of sign-in email: pending until the new address confirms it (design 3a).

Whoever types a new address (an admin on the person's page, a roster import, the person
themselves), `Person.email` keeps the old one until someone opens the single-use link
emailed to the new address and confirms. So until then every path that reads `email`
(signing in, a password reset, a second-factor reset notice, single sign-on matching)
still uses the old, proven address, and an admin cannot take over an account by typing
their own address and asking for a reset. The old address is told at once; once
confirmed, both are told. For TRIM_EMAIL_CHANGE_NOTICE_DAYS after that, "password
changed" and "second factor reset" notices go to the old address too
(service.notify_account). Nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import links, signin
from trim.accounts.actor import Actor
from trim.accounts.models import AccountLink, Person
from trim.accounts.rules import email_change_messages, normalize_email
from trim.accounts.service import get_person, person_by_email
from trim.config import Settings
from trim.errors import Conflict, NotFound
from trim.notifications import service as notifications
from trim.privacy import audit

TAKEN = (
    "Another account uses this address now, so it cannot become your sign-in email. "
    "Ask your administrator to sort it out; you keep signing in with your old address."
)


def _by_admin(started_by: str | None, person: Person) -> bool:
    """True unless the person started the change themselves."""
    return started_by != str(person.id)


async def _drop_links(session: AsyncSession, person_id: uuid.UUID) -> None:
    await session.exec(
        delete(AccountLink).where(
            col(AccountLink.person_id) == person_id,
            col(AccountLink.purpose) == links.EMAIL,
            col(AccountLink.used_at).is_(None),
        )
    )


async def start(
    session: AsyncSession,
    *,
    actor: Actor,
    person: Person,
    new_email: str,
    now: datetime,
    settings: Settings,
    via: str,
) -> None:
    """Hold `new_email` as pending (replacing any earlier pending one), email it a link to
    confirm, and tell the current address at once. The caller has checked the address is
    valid and no one else's; typing the current address again cancels a pending change."""
    new_email = normalize_email(new_email)
    if new_email == person.email:
        await cancel(session, actor=actor, person_id=person.id, now=now)
        return
    by_admin = actor.id != person.id
    person.pending_email, person.pending_email_at, person.pending_email_by = new_email, now, actor.audit_id
    session.add(person)
    token = await links._issue(session, person=person, purpose=links.EMAIL, now=now, settings=settings, email=new_email)
    words = email_change_messages(by_admin=by_admin, hours=settings.email_change_valid_hours)
    subject, body = words["confirm"]
    await notifications.enqueue(
        session,
        email=new_email,
        kind="account",
        subject=subject,
        body=body,
        link=links.PATHS[links.EMAIL] + token,
        now=now,
    )
    subject, body = words["started"]
    await notifications.enqueue(
        session, person_id=person.id, kind="account", subject=subject, body=body, link="/me", now=now
    )
    audit.record(
        session,
        actor=actor,
        action="person.email_change_started",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        details={"by_admin": by_admin, "via": via},
        at=now,
    )
    await session.flush()


async def cancel(session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, now: datetime) -> bool:
    """Drop a pending change (its link stops working) and tell the current address; False
    when none was pending."""
    person = await get_person(session, person_id)
    if person.pending_email is None:
        return False
    by_admin = _by_admin(person.pending_email_by, person)
    person.pending_email = person.pending_email_at = person.pending_email_by = None
    session.add(person)
    await _drop_links(session, person.id)
    subject, body = email_change_messages(by_admin=by_admin, hours=1)["cancelled"]
    await notifications.enqueue(
        session, person_id=person.id, kind="account", subject=subject, body=body, link="/me", now=now
    )
    audit.record(
        session,
        actor=actor,
        action="person.email_change_cancelled",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        at=now,
    )
    await session.flush()
    return True


@dataclass(frozen=True)
class Pending:
    """What the confirmation page shows: the address the link would make the sign-in email."""

    person: Person
    new_email: str


async def pending_for_link(session: AsyncSession, *, token: str, now: datetime) -> Pending:
    """The live confirmation behind this link; NotFound (links.GONE) for an unknown, used,
    expired or superseded link, all alike."""
    row = (
        await session.exec(
            select(AccountLink, Person)
            .join(Person, col(Person.id) == col(AccountLink.person_id))
            .where(AccountLink.token_hash == signin.token_hash(token), AccountLink.purpose == links.EMAIL)
        )
    ).first()
    if row is None:
        raise NotFound(links.GONE)
    link, person = row
    stale = link.email is None or person.pending_email != link.email
    if link.used_at is not None or link.expires_at <= now or not person.active or person.is_pseudonym or stale:
        raise NotFound(links.GONE)
    assert link.email is not None
    return Pending(person, link.email)


async def confirm(
    session: AsyncSession, *, token: str, actor: Actor | None, now: datetime, settings: Settings
) -> Person:
    """Make the pending address the sign-in email (the link is used up), tell both
    addresses, and audit it as the link's holder (or the signed-in person who opened it).

    Conflict (TAKEN) when another account took the address meanwhile: nothing changes."""
    pending = await pending_for_link(session, token=token, now=now)
    person, new_email = pending.person, pending.new_email
    other = await person_by_email(session, new_email)
    if other is not None and other.id != person.id:
        raise Conflict(TAKEN)
    started_by = person.pending_email_by
    by_admin = _by_admin(started_by, person)
    old_email = person.email
    try:
        # One savepoint for the link and the address: another account may take the address
        # this very moment, and then the unique index refuses it and neither change is kept.
        async with session.begin_nested():
            used = await session.exec(
                update(AccountLink)
                .where(
                    col(AccountLink.token_hash) == signin.token_hash(token),
                    col(AccountLink.used_at).is_(None),
                    col(AccountLink.expires_at) > now,
                )
                .values(used_at=now)
            )
            if used.rowcount != 1:  # another tab used it a moment ago
                raise NotFound(links.GONE)
            person.previous_email, person.email = old_email, new_email
            person.email_changed_at, person.email_changed_by = now, started_by
            person.pending_email = person.pending_email_at = person.pending_email_by = None
            person.updated_at = now
            session.add(person)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(TAKEN) from exc
    words = email_change_messages(by_admin=by_admin, hours=settings.email_change_valid_hours)
    subject, body = words["changed_new"]
    await notifications.enqueue(
        session, person_id=person.id, kind="account", subject=subject, body=body, link="/signin", now=now
    )
    subject, body = words["changed_old"]
    await notifications.enqueue(session, email=old_email, kind="account", subject=subject, body=body, now=now)
    audit.record(
        session,
        actor=actor if actor is not None else audit.LINK_HOLDER,
        action="person.email_changed",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        details={"started_by": started_by, "by_admin": by_admin},
        at=now,
    )
    await session.flush()
    return person
