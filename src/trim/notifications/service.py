"""Writing emails to the outbox (in the caller's transaction), people's email choices,
and their private calendar links.

Other areas call:

    from trim.notifications import service as notifications
    await notifications.enqueue(session, person_id=..., kind="checkin_due", subject=..., body=..., link=..., now=now)
    await notifications.notify_role(session, role="lead", kind=..., subject=..., body=..., now=now)
    await notifications.enqueue_many(session, [notifications.Message(...), ...], now=now)  # a batch

Kinds are listed in notifications.rules.KINDS. Nothing here commits: the row lands with
the change that caused it, or not at all. Work that waits for time to pass (a request
nobody answered, an urgent flag nobody acknowledged) is a sweep: see
trim.notifications.sweeps, listed in its area's jobs.SWEEPS and composed in trim.jobs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole, Role
from trim.accounts.rules import is_valid_email, normalize_email
from trim.db import dialect_insert, new_id
from trim.errors import FieldError, InvalidInput, NotFound
from trim.notifications import rules
from trim.notifications.models import CalendarFeed, NotificationPreference, OutboxMessage
from trim.privacy import audit

SUBJECT_MAX = 200
BODY_MAX = 2000
CHUNK = 500  # rows per statement: well inside both databases' limits on parameters


async def _roles(session: AsyncSession, person_id: uuid.UUID) -> list[str]:
    return list(await session.exec(select(PersonRole.role).where(PersonRole.person_id == person_id)))


@dataclass(frozen=True)
class Message:
    """One email for `enqueue_many`; the fields mean what `enqueue`'s arguments mean."""

    kind: str
    subject: str
    body: str
    person_id: uuid.UUID | None = None
    email: str | None = None
    link: str | None = None
    urgent: bool = False
    dedupe_key: str | None = None

    def checked(self) -> Message:
        """The message tidied, or ValueError saying what is wrong with it (a bug in the caller)."""
        if (self.person_id is None) == (self.email is None):
            raise ValueError("enqueue needs a person_id or an email, not both")
        if self.kind not in rules.KINDS:
            raise ValueError(f"unknown notification kind {self.kind!r}; known: {', '.join(rules.KINDS)}")
        if self.link is not None and not rules.is_local_path(self.link):
            raise ValueError("link must be a path of ours, such as /checkins/<id>")
        subject, body = " ".join(self.subject.split()), self.body.strip()
        if not subject or len(subject) > SUBJECT_MAX or not body or len(body) > BODY_MAX:
            raise ValueError(f"subject (1-{SUBJECT_MAX} characters) and body (1-{BODY_MAX}) are required")
        email = None
        if self.email is not None:
            email = normalize_email(self.email)
            if not is_valid_email(email):
                raise ValueError("enqueue needs a valid email address")
        return dataclasses.replace(self, subject=subject, body=body, email=email)


async def enqueue(
    session: AsyncSession,
    *,
    person_id: uuid.UUID | None = None,
    email: str | None = None,
    kind: str,
    subject: str,
    body: str,
    link: str | None = None,
    urgent: bool = False,
    dedupe_key: str | None = None,
    now: datetime,
) -> bool:
    """Write one email to the outbox in the caller's transaction. False when the person
    chose not to get this kind by email (or gets it in their daily summary), is no longer
    active, or a message with this dedupe_key already exists.

    Name a person (their address and choices are looked up) or, for contacts who are not
    people here (on-call addresses), an email. `link` is a path such as "/checkins/<id>".
    Subject and body must say nothing confidential: no names, scores, notes or summaries."""
    message = Message(kind, subject, body, person_id, email, link, urgent, dedupe_key)
    return await enqueue_many(session, [message], now=now) == 1


async def enqueue_many(session: AsyncSession, messages: Sequence[Message], *, now: datetime) -> int:
    """`enqueue` for a batch (a sweep's reminders): the same rules, a few queries whatever
    the number. Returns how many were written."""
    checked = [m.checked() for m in messages]
    person_ids = list({m.person_id for m in checked if m.person_id is not None})
    people: dict[uuid.UUID, Person] = {}
    roles: dict[uuid.UUID, list[str]] = {}
    choices: dict[tuple[uuid.UUID, str], str] = {}
    for start in range(0, len(person_ids), CHUNK):
        chunk = person_ids[start : start + CHUNK]
        for found in await session.exec(select(Person).where(col(Person.id).in_(chunk))):
            people[found.id] = found
        for role in await session.exec(select(PersonRole).where(col(PersonRole.person_id).in_(chunk))):
            roles.setdefault(role.person_id, []).append(role.role)
        for pref in await session.exec(
            select(NotificationPreference).where(col(NotificationPreference.person_id).in_(chunk))
        ):
            choices[(pref.person_id, pref.kind)] = pref.channel

    rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    for m in checked:
        if m.person_id is not None:
            person = people.get(m.person_id)
            if person is None or (not person.active and m.kind != "account"):
                continue  # nobody to tell, or they have left
            chosen = choices.get((m.person_id, m.kind))
            if rules.effective_channel(m.kind, chosen, roles.get(m.person_id, []), urgent=m.urgent) != "email":
                continue
            address = person.email
        else:
            address = m.email or ""
        if m.dedupe_key is not None:
            if m.dedupe_key in keys:
                continue
            keys.add(m.dedupe_key)
        rows.append(
            {
                "id": new_id(),
                "kind": m.kind,
                "person_id": m.person_id,
                "to_address": address,
                "subject": m.subject,
                "body": m.body,
                "link": m.link,
                "urgent": m.urgent or m.kind in rules.URGENT_KINDS,
                "dedupe_key": m.dedupe_key,
                "created_at": now,
                "next_attempt_at": now,
                "attempts": 0,
            }
        )
    written = 0
    for start in range(0, len(rows), CHUNK):
        stmt = (
            dialect_insert(session, OutboxMessage)
            .values(rows[start : start + CHUNK])
            .on_conflict_do_nothing()  # a dedupe_key already in the outbox
            .returning(col(OutboxMessage.id))
        )
        written += len((await session.exec(stmt)).all())
    return written


async def role_holders(session: AsyncSession, role: str) -> list[uuid.UUID]:
    """Active people holding a role, in a stable order."""
    rows = await session.exec(
        select(Person.id)
        .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
        .where(PersonRole.role == role, col(Person.active).is_(True))
        .order_by(col(Person.id))
    )
    return list(rows)


async def notify_role(
    session: AsyncSession,
    *,
    role: str,
    kind: str,
    subject: str,
    body: str,
    link: str | None = None,
    urgent: bool = False,
    dedupe_key: str | None = None,
    now: datetime,
) -> int:
    """`enqueue` for every active holder of a role (each by their own choices); returns how
    many emails were written. A dedupe_key is made per person."""
    messages = [
        Message(kind, subject, body, person_id, None, link, urgent, f"{dedupe_key}:{person_id}" if dedupe_key else None)
        for person_id in await role_holders(session, role)
    ]
    return await enqueue_many(session, messages, now=now)


# -- preferences ---------------------------------------------------------------------


@dataclass
class KindChoice:
    """One row of the preferences page."""

    kind: str
    label: str
    channel: str
    allowed: tuple[str, ...]

    @property
    def locked(self) -> bool:
        return self.allowed == ("email",)


async def preferences(session: AsyncSession, *, actor: Actor) -> list[KindChoice]:
    """The signed-in person's choices for every kind their roles receive."""
    person_id = actor.person_id
    roles = await _roles(session, person_id)
    chosen = {
        p.kind: p.channel
        for p in await session.exec(select(NotificationPreference).where(NotificationPreference.person_id == person_id))
    }
    return [
        KindChoice(
            kind=k.name,
            label=k.label,
            channel=rules.effective_channel(k.name, chosen.get(k.name), roles),
            allowed=rules.allowed_channels(k.name, roles),
        )
        for k in rules.listed_kinds(roles)
    ]


async def set_preferences(session: AsyncSession, *, actor: Actor, choices: dict[str, str], now: datetime) -> list[str]:
    """Save the signed-in person's choices; returns the kinds that changed. A choice their
    roles do not allow (switching off an urgent message) is a 422 naming the kind."""
    person_id = actor.person_id
    roles = await _roles(session, person_id)
    offered = {k.name for k in rules.listed_kinds(roles)}
    errors = []
    for kind, channel in choices.items():
        if kind not in offered:
            errors.append(FieldError(kind, "This kind of message is not one you receive."))
        elif channel not in rules.allowed_channels(kind, roles):
            message = (
                "Urgent messages cannot be switched off."
                if rules.is_locked(kind, roles)
                else "Choose one of the options shown."
            )
            errors.append(FieldError(kind, message))
    if errors:
        raise InvalidInput("Some choices need attention.", errors)
    current = {
        p.kind: p
        for p in await session.exec(select(NotificationPreference).where(NotificationPreference.person_id == person_id))
    }
    changed = []
    for kind, channel in sorted(choices.items()):
        row = current.get(kind)
        before = row.channel if row else "email"
        if before == channel:
            continue
        changed.append(kind)
        if row is None:
            session.add(NotificationPreference(person_id=person_id, kind=kind, channel=channel, updated_at=now))
        else:
            row.channel, row.updated_at = channel, now
            session.add(row)
    if changed:
        audit.record(
            session,
            actor=actor,
            action="notifications.preferences_changed",
            target_type="person",
            target_id=person_id,
            subject_id=person_id,
            details={"kinds": changed},
            at=now,
        )
    await session.flush()
    return changed


async def digest_choices(session: AsyncSession) -> dict[uuid.UUID, set[str]]:
    """Active peers who asked for a daily summary, with the kinds they put in it."""
    rows = await session.exec(
        select(NotificationPreference.person_id, NotificationPreference.kind)
        .join(Person, col(Person.id) == col(NotificationPreference.person_id))
        .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
        .where(
            NotificationPreference.channel == "digest",
            col(NotificationPreference.kind).in_(rules.DIGEST_KINDS),
            PersonRole.role == Role.peer,
            col(Person.active).is_(True),
        )
    )
    found: dict[uuid.UUID, set[str]] = {}
    for person_id, kind in rows:
        found.setdefault(person_id, set()).add(kind)
    return found


# -- calendar links -----------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def calendar_link_created(session: AsyncSession, *, actor: Actor) -> datetime | None:
    """When the signed-in peer's calendar link was made (None: they have none)."""
    feed = await session.get(CalendarFeed, actor.person_id)
    return feed.created_at if feed else None


async def new_calendar_token(session: AsyncSession, *, actor: Actor, now: datetime) -> str:
    """Make (or remake) the signed-in peer's calendar link; any earlier one stops working.
    The token is returned once and kept only as a hash."""
    if not actor.is_peer:
        raise NotFound()
    token = secrets.token_urlsafe(32)
    feed = await session.get(CalendarFeed, actor.person_id)
    if feed is None:
        feed = CalendarFeed(person_id=actor.person_id, token_hash=_token_hash(token), created_at=now)
    else:
        feed.token_hash, feed.created_at = _token_hash(token), now
    session.add(feed)
    audit.record(
        session,
        actor=actor,
        action="calendar.link_created",
        target_type="person",
        target_id=actor.person_id,
        subject_id=actor.person_id,
        at=now,
    )
    await session.flush()
    return token


async def revoke_calendar_token(session: AsyncSession, *, actor: Actor, now: datetime) -> bool:
    """Stop the signed-in peer's calendar link working; False when there was none."""
    result = await session.exec(delete(CalendarFeed).where(col(CalendarFeed.person_id) == actor.person_id))
    if not result.rowcount:
        return False
    audit.record(
        session,
        actor=actor,
        action="calendar.link_revoked",
        target_type="person",
        target_id=actor.person_id,
        subject_id=actor.person_id,
        at=now,
    )
    return True


async def calendar_owner(session: AsyncSession, *, token: str) -> Actor:
    """Whose calendar this token opens: an active peer, or NotFound (unknown, revoked, or
    the person is no longer an active peer)."""
    if not token or len(token) > 100:
        raise NotFound()
    feed = (await session.exec(select(CalendarFeed).where(CalendarFeed.token_hash == _token_hash(token)))).first()
    if feed is None:
        raise NotFound()
    person = await session.get(Person, feed.person_id)
    roles = await _roles(session, feed.person_id)
    if person is None or not person.active or Role.peer not in roles:
        raise NotFound()
    return Actor(id=person.id, name=person.name, email=person.email, roles=frozenset(roles))


# -- refused addresses ---------------------------------------------------------------------


@dataclass(frozen=True)
class RefusedAddress:
    """An address whose email was given up because the server refused it."""

    address: str
    messages: int
    last_refused: datetime
    error: str | None


async def refused_addresses(session: AsyncSession, *, actor: Actor, limit: int = 200) -> list[RefusedAddress]:
    """Addresses refused outright, still in the outbox (kept outbox_retention_days), most
    recent first: for the lead and the admin (the addresses, never what was sent)."""
    if not actor.roles & {"lead", "admin"}:
        return []
    last = func.max(OutboxMessage.failed_at)
    rows = await session.exec(
        select(OutboxMessage.to_address, func.count(), last, func.max(OutboxMessage.last_error))
        .where(col(OutboxMessage.failed_at).is_not(None))
        .group_by(col(OutboxMessage.to_address))
        .order_by(last.desc(), col(OutboxMessage.to_address))
        .limit(limit)
    )
    return [RefusedAddress(address, int(n), when, error) for address, n, when, error in rows if when is not None]
