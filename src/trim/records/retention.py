"""Retention: cases closed longer ago than TRIM_RETENTION_DAYS are de-identified.

What goes: the link to the person (each person's purged records point at their
stand-in, with no name, email or staff number: one per person, the same in every run,
keyed with the secret so the database alone cannot link it back), notes, answers, reasons, request
messages, contact details and conversations, and incident summaries once nobody on the incident is
identifiable. What stays: the counts, kinds, dates, statuses and score bands the
dashboard is built from, so its figures do not change. Audit events hold only ids
and are never edited; the purge writes one event of its own. Safe to run daily,
and twice.

Every table that holds personal data is listed once, in PERSONAL_DATA, with what
happens to it; every other table is in NO_PERSONAL_DATA with why. A test holds both
lists against the schema, so a new table with a person's id or a personal column
fails until someone decides how it is kept. Besides de-identifying closed cases, the
purge removes whatever has outlived its own, shorter lifetime (sent email, expired
idempotency answers, sign-in counters, ended sessions, spent links), in case no worker
has swept it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import String, cast, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from trim import idempotency
from trim.accounts import signin
from trim.accounts.models import AccountLink, LinkRequest, Person, WebSession
from trim.assessments.models import Assessment, AssessmentResult
from trim.config import Settings
from trim.flags import service as flags
from trim.flags.models import UNRESOLVED_FLAGS, Flag
from trim.followups.models import CheckIn, PeerChangeRequest
from trim.incidents.models import Exposure, Incident
from trim.notifications import jobs as notifications_jobs
from trim.planning.models import Briefing, BriefingAttendee, PlanningRoute
from trim.privacy import audit
from trim.records import keep_less
from trim.referrals.models import Referral
from trim.requests.models import ConversationMessage, PeerRequest, RequestStatus
from trim.sharing.models import NoteStatus, SharedNote

CLOSED_REFERRALS = ("declined", "taken_up", "not_taken_up", "closed", "withdrawn")


@dataclass
class PurgeReport:
    exposures: int = 0
    requests: int = 0
    flags: int = 0
    incidents_summarised: int = 0
    briefing_attendance: int = 0
    periodic_checkins: int = 0
    pseudonyms: int = 0
    people: set[uuid.UUID] = field(default_factory=set)
    # Rows removed because they outlived their own lifetime, by table.
    expired: dict[str, int] = field(default_factory=dict)


def _last_activity_before(cutoff: datetime) -> SelectOfScalar[Exposure]:
    """Exposures whose whole case (check-ins, flags, referrals) ended before the cutoff."""
    open_checkin = select(CheckIn.id).where(
        col(CheckIn.exposure_id) == col(Exposure.id),
        or_(col(CheckIn.outcome).is_(None), col(CheckIn.recorded_at) >= cutoff),
    )
    open_flag = select(Flag.id).where(
        col(Flag.exposure_id) == col(Exposure.id),
        or_(col(Flag.status).in_(UNRESOLVED_FLAGS), col(Flag.resolved_at) >= cutoff),
    )
    open_referral = (
        select(Referral.id)
        .join(Flag, col(Flag.id) == col(Referral.flag_id))
        .where(
            col(Flag.exposure_id) == col(Exposure.id),
            or_(col(Referral.status).not_in(CLOSED_REFERRALS), col(Referral.updated_at) >= cutoff),
        )
    )
    return (
        select(Exposure)
        .join(Incident, col(Incident.id) == col(Exposure.incident_id))
        .where(
            col(Exposure.purged_at).is_(None),
            col(Incident.occurred_at) < cutoff,
            ~open_checkin.exists(),
            ~open_flag.exists(),
            ~open_referral.exists(),
        )
    )


def stand_in_id(settings: Settings, person_id: uuid.UUID) -> uuid.UUID:
    """The one stand-in a person's purged records point at, in every run.

    Keyed with TRIM_SECRET_KEY, so nothing in the database links a stand-in to the
    person: only someone holding the secret and the person's id can recompute it. A
    person purged in two runs (one old case this year, another next year) keeps one
    stand-in, so counts of distinct people over purged cases do not grow."""
    digest = hmac.new(settings.secret().encode(), b"trim-stand-in:" + person_id.bytes, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


# (database, secret, stand-ins, live people) -> stand-in -> the live person it stands in for.
_twins_cache: dict[tuple[str, ...], dict[uuid.UUID, uuid.UUID]] = {}


async def live_twins(session: AsyncSession, settings: Settings) -> dict[uuid.UUID, uuid.UUID]:
    """Each stand-in whose person is still on the roster, with that person's id.

    A person with a purged case and a live one is one person: figures of distinct
    people count the stand-in as them. The pairing is recomputed here with the secret
    (stand_in_id of every live person, kept where such a stand-in exists) and never
    stored, so the database alone still cannot link a purged case to anyone. Only a
    purge makes new stand-ins, so the answer is kept per process until the stand-ins
    change, read from their own small index (not a scan of the roster, on every dashboard
    request). People added or removed since do not change it: a new person's stand-in
    (keyed on their new id) is never an existing one, and a removed person's pairing
    only folds a stand-in into an id no record holds, which counts it once all the same."""
    pseudonym = col(Person.is_pseudonym).is_(True)
    state = (await session.exec(select(func.count(), func.max(cast(col(Person.id), String))).where(pseudonym))).one()
    if int(state[0]) == 0:
        return {}
    fingerprint = hashlib.sha256(b"trim-twins:" + settings.secret().encode()).hexdigest()
    # The highest id (random) tells one database's stand-ins from another's with the same count.
    key = (str(session.get_bind().engine.url), fingerprint, *(str(value) for value in state))
    if key not in _twins_cache:
        stand_ins = set((await session.exec(select(Person.id).where(col(Person.is_pseudonym).is_(True)))).all())
        live = (await session.exec(select(Person.id).where(col(Person.is_pseudonym).is_(False)))).all()
        found: dict[uuid.UUID, uuid.UUID] = {}
        for person_id in live:
            stand_in = stand_in_id(settings, person_id)
            if stand_in in stand_ins:
                found[stand_in] = person_id
        _twins_cache.clear()  # one database and secret per process in practice: keep one answer
        _twins_cache[key] = found
    return _twins_cache[key]


class _Pseudonyms:
    """Each person's stable stand-in (made the first time they are purged, reused after)."""

    def __init__(self, session: AsyncSession, now: datetime, settings: Settings, report: PurgeReport) -> None:
        self.session, self.now, self.settings, self.report = session, now, settings, report
        self.made: dict[uuid.UUID, uuid.UUID] = {}

    async def for_person(self, person_id: uuid.UUID) -> uuid.UUID:
        if person_id not in self.made:
            stand_in = stand_in_id(self.settings, person_id)
            if await self.session.get(Person, stand_in) is None:
                self.session.add(
                    Person(
                        id=stand_in,
                        staff_number=f"DEID-{stand_in.hex[:12]}",
                        name="De-identified",
                        email=f"deidentified-{stand_in.hex}@invalid",
                        active=False,
                        is_pseudonym=True,
                        created_at=self.now,
                        updated_at=self.now,
                        deactivated_at=self.now,
                    )
                )
                await self.session.flush()
                self.report.pseudonyms += 1
            self.made[person_id] = stand_in
        return self.made[person_id]


async def purge(session: AsyncSession, *, now: datetime, settings: Settings, dry_run: bool = False) -> PurgeReport:
    """De-identify every case closed before the retention cutoff (one transaction)."""
    cutoff = now - timedelta(days=settings.retention_days)
    report = PurgeReport()
    stand_ins = _Pseudonyms(session, now, settings, report)
    exposures = list(await session.exec(_last_activity_before(cutoff)))
    if dry_run:
        report.exposures = len(exposures)
        return report
    for exposure in exposures:
        original = exposure.person_id
        report.people.add(original)
        stand_in = await stand_ins.for_person(original)
        checkin_ids = select(CheckIn.id).where(col(CheckIn.exposure_id) == exposure.id)
        assessment_ids = select(Assessment.id).where(col(Assessment.checkin_id).in_(checkin_ids))
        await session.exec(
            update(AssessmentResult)
            .where(col(AssessmentResult.assessment_id).in_(assessment_ids))
            .values(answers={})
            .execution_options(synchronize_session=False)
        )
        await session.exec(
            update(Assessment)
            .where(col(Assessment.checkin_id).in_(checkin_ids))
            .values(person_id=stand_in, notes_encrypted=None, reason=None, correction_reason=None)
            .execution_options(synchronize_session=False)
        )
        await session.exec(
            update(CheckIn)
            .where(col(CheckIn.exposure_id) == exposure.id)
            .values(person_id=stand_in, outcome_reason=None)
            .execution_options(synchronize_session=False)
        )
        await session.exec(
            update(PeerChangeRequest)
            .where(col(PeerChangeRequest.exposure_id) == exposure.id)
            .values(person_id=stand_in)
            .execution_options(synchronize_session=False)
        )
        flag_ids = select(Flag.id).where(col(Flag.exposure_id) == exposure.id)
        await session.exec(
            update(Referral)
            .where(col(Referral.flag_id).in_(flag_ids))
            .values(person_id=stand_in)
            .execution_options(synchronize_session=False)
        )
        # The planning route stays (the dashboard counts routes); its reason goes.
        await session.exec(
            update(PlanningRoute)
            .where(col(PlanningRoute.exposure_id) == exposure.id)
            .values(reason=None)
            .execution_options(synchronize_session=False)
        )
        await flags.deidentify_for_exposure(session, exposure_id=exposure.id, stand_in=stand_in)
        exposure.person_id = stand_in
        exposure.purged_at = now
        session.add(exposure)
        report.exposures += 1
    await session.flush()

    # Periodic check-ins (no exposure: a high-exposure group's) recorded before the cutoff,
    # one by one as each is done: the person becomes their stand-in, answers and notes go.
    periodic = list(
        await session.exec(
            select(CheckIn)
            .join(Person, col(Person.id) == col(CheckIn.person_id))
            .where(
                col(CheckIn.exposure_id).is_(None),
                col(CheckIn.outcome).is_not(None),
                col(CheckIn.recorded_at) < cutoff,
                col(Person.is_pseudonym).is_(False),
            )
        )
    )
    for checkin in periodic:
        stand_in = await stand_ins.for_person(checkin.person_id)
        report.people.add(checkin.person_id)
        assessment_ids = select(Assessment.id).where(col(Assessment.checkin_id) == checkin.id)
        await session.exec(
            update(AssessmentResult)
            .where(col(AssessmentResult.assessment_id).in_(assessment_ids))
            .values(answers={})
            .execution_options(synchronize_session=False)
        )
        await session.exec(
            update(Assessment)
            .where(col(Assessment.checkin_id) == checkin.id)
            .values(person_id=stand_in, notes_encrypted=None, reason=None, correction_reason=None)
            .execution_options(synchronize_session=False)
        )
        checkin.person_id, checkin.outcome_reason = stand_in, None
        session.add(checkin)
        report.periodic_checkins += 1
    await session.flush()

    # Flags without an exposure (cumulative exposure) that ended before the cutoff.
    loose = list(
        await session.exec(
            select(Flag)
            .where(
                col(Flag.exposure_id).is_(None),
                col(Flag.source_request_id).is_(None),
                col(Flag.status).not_in(UNRESOLVED_FLAGS),
                col(Flag.resolved_at) < cutoff,
            )
            .join(Person, col(Person.id) == col(Flag.person_id))
            .where(col(Person.is_pseudonym).is_(False))
        )
    )
    for flag in loose:
        flags.deidentify(session, flag=flag, stand_in=await stand_ins.for_person(flag.person_id))
        report.flags += 1

    # Who came to a briefing held before the cutoff: each becomes their stand-in (the count stays).
    attended = list(
        await session.exec(
            select(BriefingAttendee)
            .join(Briefing, col(Briefing.id) == col(BriefingAttendee.briefing_id))
            .join(Person, col(Person.id) == col(BriefingAttendee.person_id))
            .where(col(Briefing.held_at) < cutoff, col(Person.is_pseudonym).is_(False))
        )
    )
    for attendance in attended:
        attendance.person_id = await stand_ins.for_person(attendance.person_id)
        session.add(attendance)
        report.briefing_attendance += 1

    # Requests closed or withdrawn before the cutoff.
    requests = list(
        await session.exec(
            select(PeerRequest).where(
                col(PeerRequest.purged_at).is_(None),
                col(PeerRequest.status).in_((RequestStatus.closed, RequestStatus.withdrawn)),
                func.coalesce(col(PeerRequest.closed_at), col(PeerRequest.withdrawn_at)) < cutoff,
            )
        )
    )
    for request in requests:
        stand_in = await stand_ins.for_person(request.requester_id)
        await flags.deidentify_for_request(session, request_id=request.id, stand_in=stand_in)
        # The conversation goes with the request (nothing in it is counted anywhere).
        await session.exec(delete(ConversationMessage).where(col(ConversationMessage.request_id) == request.id))
        request.requester_id = stand_in
        request.pseudonym = None
        request.message_encrypted = None
        request.contact_encrypted = None
        request.preferred_background = None
        request.purged_at = now
        session.add(request)
        report.requests += 1

    # Incident summaries go once nobody on the incident is identifiable any more.
    live = select(Exposure.id).where(
        col(Exposure.incident_id) == col(Incident.id),
        col(Exposure.purged_at).is_(None),
        col(Exposure.removed_at).is_(None),
    )
    summarised = await session.exec(
        update(Incident)
        .where(col(Incident.occurred_at) < cutoff, col(Incident.summary) != "", ~live.exists())
        .values(summary="", kind_other=None)
        .execution_options(synchronize_session=False)
    )
    report.incidents_summarised = int(summarised.rowcount or 0)
    for table, kept in PERSONAL_DATA.items():
        if kept.expire is not None:
            report.expired[table] = await kept.expire(session, now=now, settings=settings)
    if (
        report.exposures
        or report.requests
        or report.flags
        or report.incidents_summarised
        or report.briefing_attendance
        or report.periodic_checkins
    ):
        audit.record(
            session,
            actor="system",
            action="purge",
            target_type="retention",
            details={
                "exposures": report.exposures,
                "requests": report.requests,
                "flags": report.flags,
                "incidents": report.incidents_summarised,
                "briefing_attendance": report.briefing_attendance,
                "periodic_checkins": report.periodic_checkins,
                "cutoff": cutoff,
            },
            at=now,
        )
    return report


# -- what is kept, and for how long --------------------------------------------------------------


class Expiry(Protocol):
    def __call__(self, session: AsyncSession, *, now: datetime, settings: Settings) -> Awaitable[int]: ...


@dataclass(frozen=True)
class Kept:
    """How one table's personal data is kept: said plainly, and the purge's own step for
    rows that outlive their lifetime (None when the case de-identification above, or the
    account's own life, covers it)."""

    how: str
    expire: Expiry | None = None


async def _sent_email(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    return await notifications_jobs.sweep_sent(session, now=now, settings=settings)


async def _answers_kept_less(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    # The worker sweeps a batch a round; the purge finishes whatever is due.
    deleted = 0
    while batch := await keep_less.sweep_answers(session, now=now, settings=settings):
        deleted += batch
    return deleted


async def _link_requests(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    result = await session.exec(
        delete(LinkRequest).where(col(LinkRequest.requested_at) < now - settings.password_reset_valid)
    )
    return int(result.rowcount or 0)


async def _ended_sessions(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    idle = timedelta(minutes=settings.session_idle_minutes)
    result = await session.exec(
        delete(WebSession).where(or_(col(WebSession.expires_at) <= now, col(WebSession.last_seen_at) <= now - idle))
    )
    return int(result.rowcount or 0)


async def _spent_links(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    # A used or expired link answers the same "gone" page whether its row is there or not.
    result = await session.exec(
        delete(AccountLink).where(or_(col(AccountLink.used_at).is_not(None), col(AccountLink.expires_at) <= now))
    )
    return int(result.rowcount or 0)


async def _withdrawn_notes(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    cutoff = now - timedelta(days=settings.retention_days)
    result = await session.exec(
        delete(SharedNote).where(
            col(SharedNote.status) == NoteStatus.withdrawn.value, col(SharedNote.withdrawn_at) < cutoff
        )
    )
    return int(result.rowcount or 0)


CASE = "de-identified with the case: "
ACCOUNT = "the person's own account, kept while they are on the roster (an admin deactivates it)"

PERSONAL_DATA: dict[str, Kept] = {
    # A person's case: de-identified once closed longer ago than TRIM_RETENTION_DAYS.
    "exposures": Kept(CASE + "the person becomes a stand-in; who their peer was stays (the peer's work)"),
    "checkins": Kept(
        CASE + "the person becomes a stand-in, the reason for the outcome goes; a periodic check-in (no "
        "incident) the same, on its own, once recorded before the cutoff"
    ),
    # The purge's update of checkins marks the incident (a trigger); the rollup sweep
    # then rebuilds it from the de-identified check-ins, so a purged case stays counted.
    "dashboard_checkin_cells": Kept(CASE + "rebuilt from the check-ins: a sample of person ids becomes stand-ins"),
    "dashboard_checkin_rollups": Kept(CASE + "rebuilt from the cells above, so their stand-ins too"),
    # The same for the figures keyed by incident: the purge's updates of exposures, flags,
    # referrals and briefing attendees mark the incident (triggers, migration 0638).
    "dashboard_incident_cells": Kept(
        CASE + "rebuilt from the exposures, flags, referrals and briefings: a sample of person ids becomes stand-ins"
    ),
    "dashboard_incident_rollups": Kept(CASE + "rebuilt from the incident cells above, so their stand-ins too"),
    "dashboard_exposed_people": Kept(
        CASE + "a month's exposed people as a bitset of person numbers, rebuilt from the exposures: stand-ins"
    ),
    "dashboard_person_numbers": Kept(
        "a number per person id counted on the dashboard (ids only, no case); a purged case is counted "
        "under its stand-in's number"
    ),
    # The purge's updates of exposures and requests mark them (triggers, migration 0639).
    "dashboard_contact_cells": Kept(CASE + "rebuilt from the exposures: a sample of person ids becomes stand-ins"),
    "dashboard_contact_rollups": Kept(CASE + "rebuilt from the cells above, so their stand-ins too"),
    "dashboard_contact_person_marks": Kept(
        "a requester's id, only until the next rollup sweep (within a minute) turns it into incident marks"
    ),
    # Caseloads (migration 0642): the purge's updates of check-ins mark the incident too.
    "dashboard_caseload_cells": Kept(
        CASE + "rebuilt from the check-ins: an incident's open check-ins as a peer's id and a person number "
        "(dashboard_person_numbers), so a purged case's stand-in where any stays open"
    ),
    "dashboard_caseloads": Kept(CASE + "rebuilt from the caseload cells above: a peer's id and person numbers"),
    "dashboard_caseload_packs": Kept(
        CASE + "the caseloads above, one row per kind of incident: the same ids and numbers"
    ),
    "assessments": Kept(
        CASE + "the person becomes a stand-in; notes, reasons and correction reasons go. Notes go earlier, "
        "TRIM_ANSWER_RETENTION_DAYS after the exposure closed (keep_less)",
        _answers_kept_less,
    ),
    "assessment_results": Kept(
        CASE + "the answers go; scores and bands stay for the dashboard. Answers go earlier, "
        "TRIM_ANSWER_RETENTION_DAYS after the exposure closed (keep_less)"
    ),
    "flags": Kept(CASE + "the person becomes a stand-in, the reason it was resolved goes"),
    "referrals": Kept(CASE + "the person becomes a stand-in"),
    "peer_change_requests": Kept(CASE + "the person becomes a stand-in"),
    "peer_requests": Kept(CASE + "the requester becomes a stand-in; message, contact and preferences go"),
    "conversation_messages": Kept(CASE + "deleted with the request they belong to"),
    "incidents": Kept(
        CASE + "summary and own wording of the kind go once nobody on it is identifiable; who logged it "
        "stays (their work)"
    ),
    # The planning meeting and group briefings (design section 12).
    "planning_routes": Kept(CASE + "the reason goes; the route stays for the dashboard; who set it stays (their work)"),
    "briefing_attendees": Kept(
        "who came to a group briefing: each becomes their stand-in once the briefing is older than "
        "TRIM_RETENTION_DAYS (the count stays)"
    ),
    "planning_records": Kept(
        "when the meeting was held and who recorded it (their work); nothing about anyone exposed"
    ),
    "planning_attendees": Kept("the staff who held the planning meeting (their work), like who logged an incident"),
    "briefings": Kept("when a briefing was held and who led and recorded it (their work); it has no content by design"),
    "shared_notes": Kept(
        "the person's own notes for a manager, kept while they are on the roster so their record shows "
        "every release and withdrawal; a withdrawn note goes after TRIM_RETENTION_DAYS",
        _withdrawn_notes,
    ),
    # Lifetimes shorter than the retention: swept by the worker, and by the purge too.
    "idempotency_keys": Kept(
        "the stored answer (a check-in's score and band) after TRIM_IDEMPOTENCY_TTL_HOURS; a bare key "
        "that refuses a late replay until the retention period",
        idempotency.sweep_expired,
    ),
    "outbox": Kept("sent or given-up email after TRIM_OUTBOX_RETENTION_DAYS", _sent_email),
    "signin_counters": Kept("an address (or a hashed email) until its window has passed", signin.prune_counters),
    "link_requests": Kept("an address asking for a reset link, until the worker has sent it", _link_requests),
    "web_sessions": Kept("who is signed in, until the session ends or lapses", _ended_sessions),
    "account_links": Kept("an emailed link, until it is used or expires", _spent_links),
    # The account itself.
    "people": Kept(
        ACCOUNT + "; the stand-ins made by the purge hold no name, email or staff number; a pending or "
        "previous sign-in email is kept while a change waits and for TRIM_EMAIL_CHANGE_NOTICE_DAYS after"
    ),
    "person_roles": Kept(ACCOUNT),
    "totp_factors": Kept(ACCOUNT + " (the secret encrypted)"),
    "recovery_codes": Kept(ACCOUNT + " (as HMACs)"),
    "calendar_feeds": Kept(ACCOUNT),
    "notification_preferences": Kept(ACCOUNT),
    "sso_identities": Kept(ACCOUNT + "; which account at the sign-in service is theirs (`trim users unlink-sso`)"),
    # A peer supporter's own standing (design section 13): kept with their account.
    "peer_courses": Kept(ACCOUNT + "; a peer's training record, kept by the lead"),
    "peer_states": Kept(ACCOUNT + "; a peer's rest and caseload cap"),
    "exposure_group_members": Kept(ACCOUNT + "; who belongs to a high-exposure group, and since when"),
    "periodic_opt_outs": Kept(ACCOUNT + "; a person's choice not to have periodic check-ins"),
    "peer_notices": Kept(ACCOUNT + "; that a refresher notice went, with its date"),
    "supervision_tasks": Kept(ACCOUNT + "; a peer's debriefs (the peer, dates, outcome; never whom they supported)"),
    "quiet_clocks": Kept(
        CASE + "ids and times only; the check-in's person is de-identified on the check-in, the peer stays "
        "(the peer's work)"
    ),
    # Ids only.
    "audit_events": Kept(
        "opaque ids and actions only, never content; never edited, so the chain still verifies "
        "(the purge writes an event of its own)"
    ),
}

NO_PERSONAL_DATA: dict[str, str] = {
    "stations": "the organisation's stations",
    "exposure_groups": "the lead's high-exposure groups: a name and a cadence, no person",
    "referral_services": "the lead's directory of services (an organisation's contact, not a person's)",
    "instrument_snapshots": "the wording of each questionnaire version",
    "api_tokens": "integrations, by name; the secret only hashed",
    "sweep_marks": "how far each worker sweep has got",
    "dashboard_rollup_marks": "incidents whose dashboard rollups wait to be rebuilt (ids only)",
    "dashboard_rollup_claims": "incidents the rollup sweep has taken to rebuild (ids only)",
    "dashboard_rollup_state": "when the dashboard rollups were last up to date",
    "checkin_reminders": "that a reminder went for a check-in (ids and a stage, no person)",
    "feedback_answers": "anonymous feedback: three answers, where given and the day; nothing points to a person",
    "feedback_receipts": "a keyed hash per request or exposure answered; no person, no answers, no date",
}
