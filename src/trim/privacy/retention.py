"""Retention: cases closed longer ago than TRIM_RETENTION_DAYS are de-identified.

What goes: the link to the person (each person's purged records point at a new
stand-in with no name, email or staff number), notes, answers, reasons, request
messages and contact details, and incident summaries once nobody on the incident is
identifiable. What stays: the counts, kinds, dates, statuses and score bands the
dashboard is built from, so its figures do not change. Audit events hold only ids
and are never edited; the purge writes one event of its own. Safe to run daily,
and twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from trim.accounts.models import Person
from trim.assessments.models import Assessment, AssessmentResult, Flag
from trim.config import Settings
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure, Incident
from trim.privacy import audit
from trim.referrals.models import Referral
from trim.requests.models import PeerRequest

CLOSED_REFERRALS = ("declined", "taken_up", "not_taken_up", "closed", "withdrawn")


@dataclass
class PurgeReport:
    exposures: int = 0
    requests: int = 0
    flags: int = 0
    incidents_summarised: int = 0
    pseudonyms: int = 0
    people: set[uuid.UUID] = field(default_factory=set)


def _last_activity_before(cutoff: datetime) -> SelectOfScalar[Exposure]:
    """Exposures whose whole case (check-ins, flags, referrals) ended before the cutoff."""
    open_checkin = select(CheckIn.id).where(
        col(CheckIn.exposure_id) == col(Exposure.id),
        or_(col(CheckIn.outcome).is_(None), col(CheckIn.recorded_at) >= cutoff),
    )
    open_flag = select(Flag.id).where(
        col(Flag.exposure_id) == col(Exposure.id), or_(col(Flag.status) == "open", col(Flag.resolved_at) >= cutoff)
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


class _Pseudonyms:
    """One stand-in per person per run, so counts of distinct people do not change."""

    def __init__(self, session: AsyncSession, now: datetime, report: PurgeReport) -> None:
        self.session, self.now, self.report = session, now, report
        self.made: dict[uuid.UUID, uuid.UUID] = {}

    async def for_person(self, person_id: uuid.UUID) -> uuid.UUID:
        if person_id not in self.made:
            stand_in = uuid.uuid4()
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
            self.made[person_id] = stand_in
            self.report.pseudonyms += 1
        return self.made[person_id]


async def purge(session: AsyncSession, *, now: datetime, settings: Settings, dry_run: bool = False) -> PurgeReport:
    """De-identify every case closed before the retention cutoff (one transaction)."""
    cutoff = now - timedelta(days=settings.retention_days)
    report = PurgeReport()
    stand_ins = _Pseudonyms(session, now, report)
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
        flag_ids = select(Flag.id).where(col(Flag.exposure_id) == exposure.id)
        await session.exec(
            update(Referral)
            .where(col(Referral.flag_id).in_(flag_ids))
            .values(person_id=stand_in)
            .execution_options(synchronize_session=False)
        )
        await session.exec(
            update(Flag)
            .where(col(Flag.exposure_id) == exposure.id)
            .values(person_id=stand_in, resolution_reason=None)
            .execution_options(synchronize_session=False)
        )
        exposure.person_id = stand_in
        exposure.purged_at = now
        session.add(exposure)
        report.exposures += 1
    await session.flush()

    # Flags without an exposure (cumulative exposure) that ended before the cutoff.
    loose = list(
        await session.exec(
            select(Flag)
            .where(
                col(Flag.exposure_id).is_(None),
                col(Flag.source_request_id).is_(None),
                col(Flag.status) != "open",
                col(Flag.resolved_at) < cutoff,
            )
            .join(Person, col(Person.id) == col(Flag.person_id))
            .where(col(Person.is_pseudonym).is_(False))
        )
    )
    for flag in loose:
        flag.person_id = await stand_ins.for_person(flag.person_id)
        flag.resolution_reason = None
        session.add(flag)
        report.flags += 1

    # Requests closed or withdrawn before the cutoff.
    requests = list(
        await session.exec(
            select(PeerRequest).where(
                col(PeerRequest.purged_at).is_(None),
                col(PeerRequest.status).in_(("closed", "withdrawn")),
                func.coalesce(col(PeerRequest.closed_at), col(PeerRequest.withdrawn_at)) < cutoff,
            )
        )
    )
    for request in requests:
        stand_in = await stand_ins.for_person(request.requester_id)
        await session.exec(
            update(Flag)
            .where(col(Flag.source_request_id) == request.id)
            .values(person_id=stand_in, resolution_reason=None)
            .execution_options(synchronize_session=False)
        )
        request.requester_id = stand_in
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
    if report.exposures or report.requests or report.flags or report.incidents_summarised:
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
                "cutoff": cutoff,
            },
            at=now,
        )
    return report
