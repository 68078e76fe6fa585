"""A person's own record (everything held about them, and who has read it) and the
admin's view of the audit log.

Both read across every area, so they live above them: this module may import any area's
service; no area imports it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.models import Role
from trim.accounts.rules import email_change_note
from trim.assessments import service as assessments
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.exports import csv_text
from trim.flags import rules as flag_rules
from trim.flags.models import Flag
from trim.followups import rules as schedule_rules
from trim.followups.models import CheckIn
from trim.incidents.models import EXPOSURE_LABELS, KIND_LABELS, Exposure, Incident
from trim.privacy import audit, crypto, policy
from trim.privacy.models import AuditEvent
from trim.records import keep_less
from trim.referrals import rules as referrals_rules
from trim.referrals.models import Referral, ReferralService
from trim.requests import service as requests
from trim.sharing import service as sharing

# What each audit action means, said plainly to the person it is about.
READ_LABELS = {
    "checkin.viewed": "opened a check-in of yours",
    "assessment.read": "read your check-in answers and notes",
    "assessment.trend_read": "looked at your check-in scores over time",
    "incident.viewed": "opened an incident you were part of",
    "flag.viewed": "opened a flag about you",
    "referral.viewed": "opened a referral of yours",
    "referral.assessment_read": "read the check-in answers you agreed to share",
    "request.viewed": "opened your request for a peer",
    "request.message_read": "read your request's message",
    "checkin.recorded": "recorded a check-in with you",
    "checkin.corrected": "corrected a check-in record",
    "referral.offered": "recorded a referral conversation",
    "referral.status_changed": "updated your referral",
    "flag.closed": "closed a flag about you",
    "flag.acknowledged": "picked up an urgent flag about you",
    "exposure.reassigned": "changed who your peer supporter is",
    "exposure.added": "added you to an incident",
    "exposure.removed": "removed you from an incident",
    "planning.route_changed": "changed what the planning meeting decided for you after an incident",
    "person.roles_changed": "changed your roles",
    "person.updated": "changed your details",
    "person.deactivated": "deactivated your account",
    "person.reactivated": "reactivated your account",
    "person.password_set": "set your password",
    "person.password_reset_requested": "asked for a password reset link",
    "person.second_factor_reset": "reset your second factor",
    "person.email_change_started": "started a change of your sign-in email",
    "person.email_change_cancelled": "cancelled a change of your sign-in email",
    "person.email_changed": "confirmed a new sign-in email for you",
    "sso.refused": "refused a sign-in as you from an account at your organisation that is not the one linked to you",
    "shared_note.read": "read the note you shared with them",
    "shared_note.suggested": "suggested a note you could share with your manager",
    "sso.unlinked": "unlinked your account at your organisation's sign-in service (the next one you use is linked)",
}

# Who acted, when it was not a person of ours.
OTHER_ACTORS = {
    "system": "the system",
    audit.LINK_HOLDER: "someone using a link we emailed",
    audit.ANONYMOUS: "someone not signed in",
}


async def own_record(session: AsyncSession, *, actor: Actor, settings: Settings, now: datetime) -> dict[str, Any]:
    """Everything held about the signed-in person, with who read it and when."""
    me = actor.person_id
    person = await accounts.person_view(session, me)
    held = await accounts.get_person(session, me)
    stations = await accounts.station_names(session)
    zone = settings.zone

    exposures = list(
        await session.exec(
            select(Exposure, Incident)
            .join(Incident, col(Incident.id) == col(Exposure.incident_id))
            .where(Exposure.person_id == me, col(Exposure.removed_at).is_(None))
            .order_by(col(Incident.occurred_at))
        )
    )
    incident_ids = [i.id for _, i in exposures]
    kept = await keep_less.answers_kept(
        session, actor=actor, exposure_ids=[e.id for e, _ in exposures], settings=settings
    )
    checkins = list(await session.exec(select(CheckIn).where(CheckIn.person_id == me).order_by(col(CheckIn.due_at))))
    peer_names = await accounts.names_of(session, [c.peer_id for c in checkins])
    current = {
        a.checkin_id: a
        for a in await session.exec(
            select(Assessment).where(Assessment.person_id == me, col(Assessment.is_current).is_(True))
        )
    }
    # The answers the person gave themselves (design section 14): never a check-in's current record.
    own = {
        a.checkin_id: a
        for a in await session.exec(
            select(Assessment).where(
                Assessment.person_id == me,
                col(Assessment.answered_by_person).is_(True),
                col(Assessment.is_current).is_(False),
            )
        )
    }
    checkin_rows = []
    for c in checkins:
        a = current.get(c.id)
        entry: dict[str, Any] = {
            "id": str(c.id),
            "incident_id": str(c.incident_id) if c.incident_id else None,  # None: periodic
            "kind": c.kind,
            "due_at": c.due_at,
            "status": schedule_rules.checkin_status(
                due_at=c.due_at, outcome=c.outcome, now=now, window=settings.due_window
            ),
            "peer": peer_names.get(c.peer_id) if c.peer_id else None,
        }
        if c.exposure_id is None:  # periodic: kept less on its own (records.keep_less)
            entry["answers_kept_days"] = settings.answer_retention_days
        if a is not None:
            results = await assessments.results_of(session, actor=actor, assessment=a)
            entry["record"] = {
                "recorded_at": a.recorded_at,
                "outcome": a.outcome,
                "reason": a.reason,
                "safety_concern": a.safety_concern,
                "results": [
                    {
                        "instrument": r.instrument_id,
                        "version": r.version,
                        "score": r.score,
                        "band": r.band,
                        "answers": {r.wording.get(k, k): v for k, v in r.answers.items()},
                    }
                    for r in results
                ],
                "notes": crypto.decrypt(settings, a.notes_encrypted),
                "answers_deleted_at": a.answers_deleted_at,
            }
        mine = own.get(c.id)
        if mine is not None:
            entry["own_answers"] = {
                "answered_at": mine.recorded_at,
                "safety_concern": mine.safety_concern,
                "results": [
                    {
                        "instrument": r.instrument_id,
                        "version": r.version,
                        "answers": {r.own_wording.get(k, k): v for k, v in r.answers.items()},
                    }
                    for r in await assessments.results_of(session, actor=actor, assessment=mine)
                ],
                "answers_deleted_at": mine.answers_deleted_at,
            }
        checkin_rows.append(entry)

    flags = list(await session.exec(select(Flag).where(Flag.person_id == me).order_by(col(Flag.raised_at))))
    referrals = list(
        await session.exec(select(Referral).where(Referral.person_id == me).order_by(col(Referral.created_at)))
    )
    services = {s.id: s.name for s in await session.exec(select(ReferralService))}
    clinicians = await accounts.names_of(session, [r.clinician_id for r in referrals])

    record: dict[str, Any] = {
        "profile": {
            "id": str(person.id),
            "name": person.name,
            "email": person.email,
            "staff_number": person.staff_number,
            "roles": person.roles,
            "station": stations.get(person.station_id) if person.station_id else None,
            # Design 3a: a change of sign-in email is said plainly, pending or done.
            "pending_email": held.pending_email,
            "pending_email_since": held.pending_email_at,
            "previous_email": held.previous_email,
            "email_changed_at": held.email_changed_at,
            "email_changed_by_admin": (held.email_changed_by != str(me)) if held.email_changed_at else None,
            "email_note": email_change_note(
                pending=held.pending_email,
                pending_at=held.pending_email_at,
                pending_by_admin=held.pending_email_by != str(me),
                previous=held.previous_email,
                changed_at=held.email_changed_at,
                changed_by_admin=held.email_changed_by != str(me),
                zone=zone,
            ),
        },
        "exposures": [
            {
                "incident_id": str(i.id),
                "occurred_at": i.occurred_at,
                "kind": KIND_LABELS.get(i.kind, i.kind),
                "station": stations.get(i.station_id) if i.station_id else None,
                "summary": i.summary,
                "exposure": EXPOSURE_LABELS.get(e.exposure, e.exposure),
                "opted_out_at": e.opted_out_at,
                # Keep less (design section 4): when answers and notes go; bands and outcomes stay.
                "answers_deleted_at": kept[e.id].deleted_at,
                "answers_deleted_on": kept[e.id].deleted_on,
                "answers_kept_days": settings.answer_retention_days,
            }
            for e, i in exposures
        ],
        "checkins": checkin_rows,
        "flags": [
            {
                "id": str(f.id),
                "cause": flag_rules.CAUSES.get(f.cause, f.cause),
                "urgent": f.urgent,
                "status": f.status,
                "raised_at": f.raised_at,
                "resolved_at": f.resolved_at,
            }
            for f in flags
        ],
        "referrals": [
            {
                "id": str(r.id),
                "status": r.status,
                "created_at": r.created_at,
                "consent": r.consent,
                # What the person themselves agreed to, and what still waits for their OK.
                "shared_assessment": r.share_assessment,
                "share_pending": referrals_rules.share_pending(r),
                "share_requested_at": r.share_requested_at,
                "share_confirmed_at": r.share_confirmed_at,
                "withdrawn_at": r.withdrawn_at,
                "to": clinicians.get(r.clinician_id)
                if r.clinician_id
                else services.get(r.service_id)
                if r.service_id
                else None,
            }
            for r in referrals
        ],
        "requests": [],
        "shared_notes": [],
        "reads": [],
    }
    for extra in RECORD_SECTIONS:
        await extra(session, record=record, actor=actor, settings=settings)
    record["reads"] = await reads_about(session, person_id=me, incident_ids=incident_ids, zone_name=str(zone))
    audit.record(
        session, actor=actor, action="record.viewed", target_type="person", target_id=me, subject_id=me, at=now
    )
    return record


class RecordSection(Protocol):
    """More an area holds about the person, added to their record in place."""

    def __call__(
        self, session: AsyncSession, *, record: dict[str, Any], actor: Actor, settings: Settings
    ) -> Awaitable[None]: ...


# The sections areas add beyond what is read above, each exported by its area.
RECORD_SECTIONS: tuple[RecordSection, ...] = (*requests.RECORD_SECTIONS, *sharing.RECORD_SECTIONS)


async def reads_about(
    session: AsyncSession, *, person_id: uuid.UUID, incident_ids: list[uuid.UUID], zone_name: str
) -> list[dict[str, Any]]:
    """Who, other than the person, read or changed something about them, newest first."""
    me = str(person_id)
    conditions = [col(AuditEvent.subject_id) == me]
    if incident_ids:
        conditions.append(
            and_(
                col(AuditEvent.target_type) == "incident",
                col(AuditEvent.target_id).in_([str(i) for i in incident_ids]),
                col(AuditEvent.action) == "incident.viewed",
            )
        )
    events = list(
        await session.exec(
            select(AuditEvent)
            .where(or_(*conditions), col(AuditEvent.actor_id) != me, col(AuditEvent.action).in_(list(READ_LABELS)))
            .order_by(*audit.NEWEST_FIRST)
            .limit(500)
        )
    )
    names = await accounts.names_by_id(session, [e.actor_id for e in events])
    roles = await accounts.roles_by_person(session, [uuid.UUID(k) for k in names])
    peers = {str(p) for p in await session.exec(select(CheckIn.peer_id).where(CheckIn.person_id == person_id)) if p}
    clinicians = {
        str(c) for c in await session.exec(select(Referral.clinician_id).where(Referral.person_id == person_id)) if c
    }
    loggers: dict[str, str] = {}
    if incident_ids:
        rows = await session.exec(
            select(Incident.id, Incident.logged_by_person_id).where(col(Incident.id).in_(incident_ids))
        )
        loggers = {str(i): str(by) for i, by in rows if by}
    reads = []
    for e in events:
        reader = e.actor_id or ""
        their_roles = roles.get(uuid.UUID(reader), []) if reader in names else []
        why = why_they_saw(
            reader,
            their_roles,
            e.action,
            peer=reader in peers,
            clinician=reader in clinicians,
            logged_it=e.target_type == "incident" and loggers.get(e.target_id or "") == reader,
        )
        if why is None:
            continue  # an incident opened by someone shown nothing of the person on it
        reads.append(
            {
                "at": e.at,
                "who": names.get(reader, OTHER_ACTORS.get(reader, "an integration")),
                "their_roles": their_roles,
                "why": why,
                "what": READ_LABELS.get(e.action, e.action),
                "action": e.action,
            }
        )
    return reads


def why_they_saw(
    reader: str, roles: list[str], action: str, *, peer: bool, clinician: bool, logged_it: bool
) -> str | None:
    """In plain words why this reader could see what they saw; None when what they opened
    showed them nothing about the person (an incident's page, to someone who is shown
    neither the person's name nor anything of theirs on it)."""
    if peer:
        return "your peer supporter"
    if clinician:
        return "the clinician your referral went to"
    if action == "incident.viewed":
        if logged_it:
            return "logged the incident: saw your name only"
        if Role.lead in roles:
            return "the programme lead: saw that you were on it, and the status of your check-ins"
        return None
    if Role.lead in roles:
        return "the programme lead: sees status only, never your answers or notes"
    if Role.admin in roles:
        return "an administrator: your account details only, never your check-ins"
    return ""


def group_reads(reads: list[dict[str, Any]], *, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The same reads, one row per person, reason, kind of read and local day, newest
    first, with how many times and from when to when (five reads in a minute are one row)."""
    groups: dict[tuple[str, str, str, date], dict[str, Any]] = {}
    for r in reads:  # newest first
        day = r["at"].astimezone(zone).date()
        key = (r["who"], r["why"], r["what"], day)
        if key in groups:
            group = groups[key]
            group["times"] += 1
            group["first"] = r["at"]
        else:
            groups[key] = {
                "who": r["who"],
                "why": r["why"],
                "what": r["what"],
                "day": day,
                "first": r["at"],
                "last": r["at"],
                "times": 1,
            }
    return list(groups.values())


def _flat(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None:
        return ""
    return str(value)


def record_csv(record: dict[str, Any]) -> str:
    """The same record as CSV: one row per fact (section, item, field, value)."""
    return csv_text(_record_rows(record))


def _record_rows(record: dict[str, Any]) -> Iterator[list[Any]]:
    yield ["section", "item", "field", "value"]
    for key, value in record["profile"].items():
        yield ["profile", "", key, _flat(value)]
    for section in ("exposures", "checkins", "flags", "referrals", "requests", "shared_notes", "reads"):
        for index, row in enumerate(record[section], start=1):
            for key, value in row.items():
                if key == "record" and isinstance(value, dict):
                    for rkey, rvalue in value.items():
                        if rkey == "results":
                            for res in rvalue:
                                yield [section, index, f"{res['instrument']} score", res["score"]]
                                yield [section, index, f"{res['instrument']} band", res["band"]]
                                for question, answer in res["answers"].items():
                                    yield [section, index, question, "yes" if answer else "no"]
                        else:
                            yield [section, index, rkey, _flat(rvalue)]
                elif isinstance(value, list):
                    yield [section, index, key, "; ".join(_flat(v) for v in value)]
                else:
                    yield [section, index, key, _flat(value)]


# -- the admin's view of the audit log -------------------------------------------------
# Metadata only, and never what a person did about themselves (policy.admin_audit_scope).
# Times to the minute and no sequence numbers, so a listed event cannot be lined up with
# one that is not listed.


@dataclass(frozen=True)
class AdminAuditLine:
    at: datetime  # to the minute
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None


@dataclass(frozen=True)
class AdminAuditPage:
    lines: list[AdminAuditLine]
    total: int  # events listed under this filter
    actions: list[str]  # the actions one can filter by


def to_the_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


async def admin_audit_page(session: AsyncSession, *, action: str | None, limit: int, offset: int) -> AdminAuditPage:
    """One page of the events the admin may list, newest first, with how many there are."""
    scope = policy.admin_audit_scope()
    where = [scope] if not action else [scope, col(AuditEvent.action) == action]
    rows = await session.exec(
        select(AuditEvent).where(*where).order_by(*audit.NEWEST_FIRST).limit(limit).offset(offset)
    )
    lines = [
        AdminAuditLine(
            at=to_the_minute(e.at),
            actor_id=e.actor_id,
            action=e.action,
            target_type=e.target_type,
            target_id=e.target_id,
        )
        for e in rows
    ]
    total = int((await session.exec(select(func.count()).select_from(AuditEvent).where(*where))).one())
    actions = list(
        await session.exec(
            select(AuditEvent.action).where(scope).group_by(col(AuditEvent.action)).order_by(col(AuditEvent.action))
        )
    )
    return AdminAuditPage(lines=lines, total=total, actions=actions)
