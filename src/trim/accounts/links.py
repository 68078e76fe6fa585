"""Emailed single-use links: invitations to choose a password, password resets, and the
confirmation of a new sign-in email (used by accounts.email_change).

The email carries a random token; only its SHA-256 is stored. A link works once, until
it expires (TRIM_INVITATION_VALID_DAYS, TRIM_PASSWORD_RESET_VALID_MINUTES,
TRIM_EMAIL_CHANGE_VALID_HOURS), and a newer link of the same kind replaces it. Asking for
a link answers the same, after the same work, whether or not the address is known: the
request is queued and the worker (trim.accounts.jobs) makes the link and the email.
Whoever uses a link is recorded as its holder (audit.LINK_HOLDER), never as the person:
the link proves only access to an inbox. Nothing here commits.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import signin
from trim.accounts.actor import Actor
from trim.accounts.models import AccountLink, LinkRequest, Person
from trim.accounts.passwords import hash_password
from trim.accounts.rules import normalize_email, password_problem
from trim.accounts.service import get_person, notify_account, set_password_hash
from trim.config import Settings
from trim.errors import InvalidInput, NotFound
from trim.notifications import service as notifications
from trim.privacy import audit

INVITE = "invite"
RESET = "reset"
EMAIL = "email"  # confirms a new sign-in email from that address
PATHS = {INVITE: "/join/", RESET: "/password/reset/", EMAIL: "/email/confirm/"}
PASSWORD_LINKS = (INVITE, RESET)

GONE = "This link has expired or has already been used."


def _valid_for(purpose: str, settings: Settings) -> timedelta:
    if purpose == INVITE:
        return settings.invitation_valid
    if purpose == EMAIL:
        return settings.email_change_valid
    return settings.password_reset_valid


async def _issue(
    session: AsyncSession, *, person: Person, purpose: str, now: datetime, settings: Settings, email: str | None = None
) -> str:
    """A new link of this kind for this person (for EMAIL: confirming `email`); earlier
    unused ones stop working."""
    await session.exec(
        delete(AccountLink).where(
            col(AccountLink.person_id) == person.id,
            col(AccountLink.purpose) == purpose,
            col(AccountLink.used_at).is_(None),
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        AccountLink(
            person_id=person.id,
            purpose=purpose,
            token_hash=signin.token_hash(token),
            created_at=now,
            expires_at=now + _valid_for(purpose, settings),
            email=email,
        )
    )
    return token


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


async def _send_invitation(session: AsyncSession, *, person: Person, now: datetime, settings: Settings) -> None:
    if settings.password_signin_enabled:
        token = await _issue(session, person=person, purpose=INVITE, now=now, settings=settings)
        link = PATHS[INVITE] + token
        how = (
            "Open the link below to choose your password. It works once, for "
            f"{_days(settings.invitation_valid_days)}; if it has run out, the page it opens lets you ask for a new one."
        )
    else:
        link = "/signin"
        how = f"Sign in with your usual work account: open the link below and choose '{settings.sso_button_label}'."
    person.invited_at = now
    session.add(person)
    await notifications.enqueue(
        session,
        person_id=person.id,
        kind="account",
        subject="You are invited to the peer support service",
        body="An account has been made for you on the peer support service. " + how,
        link=link,
        now=now,
    )


async def invite(
    session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, now: datetime, settings: Settings
) -> Person:
    """Email a person an invitation to choose a password (again, when resent)."""
    person = await get_person(session, person_id)
    if person.is_pseudonym:
        raise NotFound("No such person")
    if not person.active:
        raise InvalidInput.field("invite", "This account is deactivated; reactivate it before inviting them.")
    if person.password_hash is not None:
        raise InvalidInput.field("invite", "They have a password already; they can reset it from the sign-in page.")
    resend = person.invited_at is not None
    await _send_invitation(session, person=person, now=now, settings=settings)
    audit.record(
        session,
        actor=actor,
        action="person.invited",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        details={"resend": resend},
        at=now,
    )
    await session.flush()
    return person


async def invite_waiting(
    session: AsyncSession, *, actor: Actor, person_ids: Sequence[uuid.UUID], now: datetime, settings: Settings
) -> int:
    """Invite those of these people who are active, have no password, have not joined and
    hold no live invitation (so importing the same roster twice sends nothing twice)."""
    count = 0
    wanted = list(person_ids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        people = await session.exec(
            select(Person).where(
                col(Person.id).in_(chunk),
                col(Person.active).is_(True),
                col(Person.is_pseudonym).is_(False),
                col(Person.password_hash).is_(None),
                col(Person.joined_at).is_(None),
            )
        )
        for person in list(people):
            if person.invited_at is not None and person.invited_at + settings.invitation_valid > now:
                continue
            await invite(session, actor=actor, person_id=person.id, now=now, settings=settings)
            count += 1
    return count


async def request_link(
    session: AsyncSession,
    *,
    email: str,
    address: str | None,
    now: datetime,
    settings: Settings,
    actor: Actor | None = None,
) -> None:
    """ "Forgotten password": queue the request for the worker, which makes the reset link
    (or a fresh invitation, for someone who never chose a password) and its email. The
    page does exactly this much whether or not the address is known (count it, queue it),
    so neither its answer nor the time it takes says which; only too many requests (per
    account and per address, counted for unknown addresses too) raise.

    The request is audited, when the worker acts on it, as whoever asked (`actor`, when
    signed in) or as anonymous, never as the person."""
    await signin.count_attempt(session, email=email, address=address, now=now, settings=settings, scope="link")
    asked_by = actor.audit_id if actor is not None else audit.ANONYMOUS
    session.add(LinkRequest(email=normalize_email(email), requested_at=now, asked_by=asked_by))


async def send_requested_link(
    session: AsyncSession,
    *,
    email: str,
    requested_at: datetime,
    now: datetime,
    settings: Settings,
    asked_by: str = audit.ANONYMOUS,
) -> bool:
    """The worker's half of a "forgotten password": the link and its email for an active
    person with this address; nothing for anyone else. True when an email was queued.

    Only the confirmed address counts: an email change still waiting for confirmation
    sends nothing to the new address."""
    person = (await session.exec(select(Person).where(Person.email == normalize_email(email)))).first()
    if person is None or not person.active or person.is_pseudonym:
        return False
    if person.password_hash is None:
        await _send_invitation(session, person=person, now=now, settings=settings)
        audit.record(
            session,
            actor=asked_by,
            action="person.invited",
            target_type="person",
            target_id=person.id,
            subject_id=person.id,
            details={"resend": True, "asked_by_person": True},
            at=requested_at,
        )
        return True
    token = await _issue(session, person=person, purpose=RESET, now=now, settings=settings)
    minutes = settings.password_reset_valid_minutes
    lasts = f"{minutes // 60} hour{'s' if minutes != 60 else ''}" if minutes % 60 == 0 else f"{minutes} minutes"
    await notifications.enqueue(
        session,
        person_id=person.id,
        kind="account",
        subject="Reset your password",
        body=(
            "Someone, probably you, asked to reset your password for the peer support service. "
            f"Open the link below to choose a new one. It works once, for {lasts}. "
            "If you did not ask, you can ignore this email: your password stays as it is."
        ),
        link=PATHS[RESET] + token,
        now=now,
    )
    audit.record(
        session,
        actor=asked_by,
        action="person.password_reset_requested",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        at=requested_at,
    )
    return True


async def person_for_link(session: AsyncSession, *, token: str, purpose: str, now: datetime) -> Person:
    """The person a live link of this kind belongs to; NotFound (GONE) for an unknown,
    used or expired link, all alike."""
    row = (
        await session.exec(
            select(AccountLink, Person)
            .join(Person, col(Person.id) == col(AccountLink.person_id))
            .where(AccountLink.token_hash == signin.token_hash(token), AccountLink.purpose == purpose)
        )
    ).first()
    if row is None:
        raise NotFound(GONE)
    link, person = row
    if link.used_at is not None or link.expires_at <= now or not person.active:
        raise NotFound(GONE)
    return person


async def choose_password(
    session: AsyncSession, *, token: str, purpose: str, password: str, confirm: str, now: datetime, settings: Settings
) -> Person:
    """Set the password through a live link (used up by this); every session of theirs ends.

    A weak password, or two that differ, is an InvalidInput naming the field; the link
    then stays good."""
    person = await person_for_link(session, token=token, purpose=purpose, now=now)
    problem = password_problem(
        password, min_length=settings.password_min_length, user_inputs=(person.name, person.email)
    )
    if problem:
        raise InvalidInput.field("password", problem)
    if password != confirm:
        raise InvalidInput.field("confirm", "The two passwords are different. Type the same password twice.")
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
        raise NotFound(GONE)
    # Any other live password link of theirs is spent too: the password is chosen. (A
    # pending email confirmation is not about the password: it stays.)
    await session.exec(
        delete(AccountLink).where(
            col(AccountLink.person_id) == person.id,
            col(AccountLink.used_at).is_(None),
            col(AccountLink.purpose).in_(PASSWORD_LINKS),
        )
    )
    hashed = await hash_password(password, profile=settings.argon2_profile)
    await set_password_hash(session, actor=audit.LINK_HOLDER, person_id=person.id, password_hash=hashed, now=now)
    if purpose == INVITE:
        if person.joined_at is None:
            person.joined_at = now
            session.add(person)
        audit.record(
            session,
            actor=audit.LINK_HOLDER,
            action="person.joined",
            target_type="person",
            target_id=person.id,
            subject_id=person.id,
            at=now,
        )
    else:
        await notify_account(
            session,
            person=person,
            subject="Your password was changed",
            body=(
                "The password of your peer support account was just changed with a reset link, and every "
                "browser signed in to it was signed out. If this was not you, tell your programme lead now."
            ),
            link="/signin",
            now=now,
            settings=settings,
        )
    await session.flush()
    return person
