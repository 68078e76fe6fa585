"""A note the person chooses to share with a manager (design section 18).

The person writes the exact sentence, or approves a peer's suggestion, and picks the
manager; the manager reads that sentence and its date and nothing else, until the person
withdraws it. Every release, withdrawal and read is audited with the person as subject,
so it is listed on their own record. Emails say only that a note is waiting."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.service import PersonView
from trim.config import Settings
from trim.errors import Conflict, InvalidInput, NotFound
from trim.notifications import service as notifications
from trim.privacy import audit, crypto, policy
from trim.sharing import rules
from trim.sharing.models import NoteStatus, SharedNote


@dataclass(frozen=True)
class NoteView:
    """One note as the asker may see it: `text` only at "own" and "manager" levels."""

    id: uuid.UUID
    level: str
    status: str
    created_at: datetime
    shared_at: datetime | None
    withdrawn_at: datetime | None
    text: str | None
    person_name: str | None
    manager_name: str | None
    suggested: bool


@dataclass(frozen=True)
class ManagerChoices:
    """Who the person may share with: their own station's managers first, then everyone's."""

    own_station: list[PersonView]
    others: list[PersonView]


async def manager_choices(session: AsyncSession, *, actor: Actor) -> ManagerChoices:
    """The supervisors the signed-in person may pick (never themselves)."""
    everyone = [p for p in await accounts.supervisors(session) if p.id != actor.id]
    own = [p for p in everyone if actor.station_id is not None and p.station_id == actor.station_id]
    return ManagerChoices(own_station=own, others=[p for p in everyone if p not in own])


def _text(text: str | None, settings: Settings) -> str:
    cleaned = rules.clean_note_text(text)
    problem = rules.note_text_problem(cleaned, max_chars=settings.shared_note_max_chars)
    if problem:
        raise InvalidInput.field("text", problem)
    return cleaned


async def _manager(session: AsyncSession, actor: Actor, manager_id: uuid.UUID | None) -> uuid.UUID:
    if manager_id is None or manager_id == actor.id:
        raise InvalidInput.field("manager_id", "Choose the manager who should read this note.")
    choices = await manager_choices(session, actor=actor)
    if all(p.id != manager_id for p in [*choices.own_station, *choices.others]):
        raise InvalidInput.field("manager_id", "Choose the manager who should read this note.")
    return manager_id


async def _release(session: AsyncSession, *, actor: Actor, note: SharedNote, now: datetime) -> None:
    """The note goes out: audited on the person's record, the manager told (no content)."""
    audit.record(
        session,
        actor=actor,
        action="shared_note.released",
        target_type="shared_note",
        target_id=note.id,
        subject_id=note.person_id,
        details={"manager_id": note.manager_id, "from_suggestion": note.suggested_by_id is not None},
        at=now,
    )
    await notifications.enqueue(
        session,
        person_id=note.manager_id,
        kind="shared_note",
        subject="A colleague has shared a note with you",
        body="A colleague has shared a note with you through the peer support programme.",
        link="/shared-notes",
        now=now,
    )


async def share_note(
    session: AsyncSession,
    *,
    actor: Actor,
    text: str | None,
    manager_id: uuid.UUID | None,
    settings: Settings,
    now: datetime,
) -> SharedNote:
    """The person shares a note they wrote with the manager they picked."""
    cleaned = _text(text, settings)
    manager = await _manager(session, actor, manager_id)
    note = SharedNote(
        person_id=actor.person_id,
        manager_id=manager,
        text_encrypted=crypto.encrypt(settings, cleaned) or "",
        status=NoteStatus.shared.value,
        created_at=now,
        shared_at=now,
    )
    session.add(note)
    await session.flush()
    await _release(session, actor=actor, note=note, now=now)
    return note


async def _own(session: AsyncSession, actor: Actor, note_id: uuid.UUID) -> SharedNote:
    note, level = await policy.access_shared_note(session, actor, note_id)
    if level != "own" or not policy.can_release_note(actor, note):
        raise NotFound()
    return note


async def approve_suggestion(
    session: AsyncSession,
    *,
    actor: Actor,
    note_id: uuid.UUID,
    text: str | None,
    manager_id: uuid.UUID | None,
    settings: Settings,
    now: datetime,
) -> SharedNote:
    """The person releases a peer's suggestion, as it stands or in their own words."""
    note = await _own(session, actor, note_id)
    if not rules.may_release(note.status):
        raise Conflict("This note has already been shared or withdrawn; write a new one instead.")
    cleaned = _text(text, settings)
    note.manager_id = await _manager(session, actor, manager_id)
    note.text_encrypted = crypto.encrypt(settings, cleaned) or ""
    note.status = NoteStatus.shared.value
    note.shared_at = now
    session.add(note)
    await session.flush()
    await _release(session, actor=actor, note=note, now=now)
    return note


async def withdraw_note(session: AsyncSession, *, actor: Actor, note_id: uuid.UUID, now: datetime) -> SharedNote:
    """The person takes a note back (the manager then gets 404), or sets a suggestion aside."""
    note = await _own(session, actor, note_id)
    if not rules.may_withdraw(note.status):
        raise Conflict("This note has already been withdrawn.")
    was = note.status
    note.status = NoteStatus.withdrawn.value
    note.withdrawn_at = now
    session.add(note)
    audit.record(
        session,
        actor=actor,
        action="shared_note.withdrawn" if was == NoteStatus.shared else "shared_note.suggestion_set_aside",
        target_type="shared_note",
        target_id=note.id,
        subject_id=note.person_id,
        details={"status": f"{was}->{note.status}"},
        at=now,
    )
    return note


async def suggest_note(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    text: str | None,
    settings: Settings,
    now: datetime,
) -> SharedNote:
    """A peer suggests wording to the person they check in with; nothing is released: the
    person is told something waits for their OK, and decides."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if not policy.can_suggest_note(actor, checkin):
        raise NotFound()
    note = SharedNote(
        person_id=checkin.person_id,
        text_encrypted=crypto.encrypt(settings, _text(text, settings)) or "",
        status=NoteStatus.suggested.value,
        suggested_by_id=actor.person_id,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="shared_note.suggested",
        target_type="shared_note",
        target_id=note.id,
        subject_id=note.person_id,
        at=now,
    )
    await notifications.enqueue(
        session,
        person_id=note.person_id,
        kind="consent",
        subject="Something is waiting for your OK",
        body="Your peer supporter has suggested a note you could share with your manager. Nothing has been shared.",
        link="/me/notes",
        now=now,
    )
    return note


async def _views(session: AsyncSession, actor: Actor, notes: list[SharedNote], settings: Settings) -> list[NoteView]:
    names = await accounts.names_of(session, [i for n in notes for i in (n.person_id, n.manager_id)])
    views = []
    for note in notes:
        level = policy.shared_note_access(actor, note)
        if level is None:
            continue
        reads_text = level in ("own", "manager")
        if level == "manager":
            audit.record(
                session,
                actor=actor,
                action="shared_note.read",
                target_type="shared_note",
                target_id=note.id,
                subject_id=note.person_id,
            )
        views.append(
            NoteView(
                id=note.id,
                level=level,
                status=note.status,
                created_at=note.created_at,
                shared_at=note.shared_at,
                # A manager is shown the note and its date, nothing of its history.
                withdrawn_at=note.withdrawn_at if level != "manager" else None,
                text=crypto.decrypt(settings, note.text_encrypted) if reads_text else None,
                person_name=names.get(note.person_id),
                manager_name=names.get(note.manager_id) if note.manager_id else None,
                suggested=note.suggested_by_id is not None and level == "own",
            )
        )
    return views


async def notes_shared(
    session: AsyncSession, *, actor: Actor, settings: Settings, limit: int = 200, offset: int = 0
) -> list[NoteView]:
    """Notes shared with the asking manager (their text), and for the lead every released
    note (that it was shared, never its text); newest first. Not the asker's own notes."""
    stmt = (
        policy.visible_shared_notes(actor)
        .where(col(SharedNote.person_id) != actor.person_id)
        .order_by(col(SharedNote.shared_at).desc(), col(SharedNote.id))
        .limit(limit)
        .offset(offset)
    )
    return await _views(session, actor, list(await session.exec(stmt)), settings)


async def note(session: AsyncSession, *, actor: Actor, note_id: uuid.UUID, settings: Settings) -> NoteView:
    """One note as the asker may see it; 404 for a manager once it is withdrawn."""
    found, _level = await policy.access_shared_note(session, actor, note_id)
    (view,) = await _views(session, actor, [found], settings)
    return view


async def own_notes(session: AsyncSession, *, actor: Actor, settings: Settings) -> list[NoteView]:
    """The person's own notes, every state, newest first."""
    stmt = (
        policy.visible_shared_notes(actor)
        .where(col(SharedNote.person_id) == actor.person_id)
        .order_by(col(SharedNote.created_at).desc())
    )
    return await _views(session, actor, list(await session.exec(stmt)), settings)


async def own_notes_section(
    session: AsyncSession, *, record: dict[str, object], actor: Actor, settings: Settings
) -> None:
    """Adds every note the person shared or withdrew (and suggestions waiting) to their record."""
    record["shared_notes"] = [
        {
            "id": str(v.id),
            "status": v.status,
            "text": v.text,
            "manager": v.manager_name,
            "suggested_by_peer": v.suggested,
            "created_at": v.created_at,
            "shared_at": v.shared_at,
            "withdrawn_at": v.withdrawn_at,
        }
        for v in await own_notes(session, actor=actor, settings=settings)
    ]


# What this area adds to a person's own record (trim.records.service composes them).
RECORD_SECTIONS = (own_notes_section,)
