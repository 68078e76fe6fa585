"""Writing emails to the outbox (in the caller's transaction), people's email choices,
and their private calendar links.

Other areas call:

    from trim.notifications import service as notifications
    await notifications.enqueue(session, person_id=..., kind="checkin_due", subject=..., body=..., link=..., now=now)
    await notifications.notify_role(session, role="lead", kind=..., subject=..., body=..., now=now)

Nothing here commits: the row lands with the change that caused it, or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole
from trim.accounts.rules import is_valid_email, normalize_email
from trim.db import dialect_insert, new_id
from trim.errors import FieldError, InvalidInput, NotFound
from trim.notifications import rules
from trim.notifications.models import CalendarFeed, NotificationPreference, OutboxMessage
from trim.privacy import audit

SUBJECT_MAX = 200
BODY_MAX = 2000


async def _roles(session: AsyncSession, person_id: uuid.UUID) -> list[str]:
    return list(await session.exec(select(PersonRole.role).where(PersonRole.person_id == person_id)))


async def _choice(session: AsyncSession, person_id: uuid.UUID, kind: str) -> str | None:
    stmt = select(NotificationPreference.channel).where(
        NotificationPreference.person_id == person_id, NotificationPreference.kind == kind
    )
    return (await session.exec(stmt)).first()


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
    if (person_id is None) == (email is None):
        raise ValueError("enqueue needs a person_id or an email, not both")
    if kind not in rules.KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; known: {', '.join(rules.KINDS)}")
    if link is not None and not rules.is_local_path(link):
        raise ValueError("link must be a path of ours, such as /checkins/<id>")
    subject = " ".join(subject.split())
    if not subject or len(subject) > SUBJECT_MAX or not body.strip() or len(body) > BODY_MAX:
        raise ValueError(f"subject (1-{SUBJECT_MAX} characters) and body (1-{BODY_MAX}) are required")

    if person_id is not None:
        person = await session.get(Person, person_id)
        if person is None or (not person.active and kind != "account"):
            return False
        roles = await _roles(session, person_id)
        channel = rules.effective_channel(kind, await _choice(session, person_id, kind), roles, urgent=urgent)
        if channel != "email":
            return False
        address = person.email
    else:
        address = normalize_email(email or "")
        if not is_valid_email(address):
            raise ValueError("enqueue needs a valid email address")

    stmt = (
        dialect_insert(session, OutboxMessage)
        .values(
            id=new_id(),
            kind=kind,
            person_id=person_id,
            to_address=address,
            subject=subject,
            body=body.strip(),
            link=link,
            urgent=urgent or kind in rules.URGENT_KINDS,
            dedupe_key=dedupe_key,
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
        .on_conflict_do_nothing()
        .returning(col(OutboxMessage.id))
    )
    inserted = (await session.exec(stmt)).first()
    return inserted is not None


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
    holders = await session.exec(
        select(Person.id)
        .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
        .where(PersonRole.role == role, col(Person.active).is_(True))
        .order_by(col(Person.id))
    )
    written = 0
    for person_id in list(holders):
        written += await enqueue(
            session,
            person_id=person_id,
            kind=kind,
            subject=subject,
            body=body,
            link=link,
            urgent=urgent,
            dedupe_key=f"{dedupe_key}:{person_id}" if dedupe_key else None,
            now=now,
        )
    return written


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
            PersonRole.role == "peer",
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
    if person is None or not person.active or "peer" not in roles:
        raise NotFound()
    return Actor(id=person.id, name=person.name, email=person.email, roles=frozenset(roles))
