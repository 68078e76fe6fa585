"""Check-ins the person answers themselves (design section 14): on their own phone, in
the first-person wording of the instrument version, before or instead of the conversation.

The person's answers are an assessment of their own (version 0, `answered_by_person`),
never the check-in's current record: the peer's record is, so the dashboard, the trend
and the flag rules read what they always read. A safety "yes" raises the urgent flag at
once; the score rules (elevated, TSQ positive) are judged when the peer records the
check-in, with the conversation's answers or, when the person preferred not to talk,
with these. The person answers once: a second answer is a 409 (the peer may already have
read the first; anything to change is for the conversation).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.assessments import instruments as catalogue
from trim.assessments import rules, service
from trim.assessments.models import Assessment, AssessmentResult
from trim.config import Settings
from trim.errors import Conflict, NotFound
from trim.flags import service as flags
from trim.flags.models import Flag
from trim.followups.models import CheckIn, Outcome
from trim.notifications import service as notifications
from trim.privacy import audit, policy


@dataclass
class SelfAnswered:
    assessment: Assessment
    results: list[rules.Result]
    flags: list[Flag]  # the urgent flag a safety "yes" raised, if any


def self_scope(actor: Actor, checkin_id: uuid.UUID) -> str:
    """The Idempotency-Key scope of the person's own answers, shared by the API and the form."""
    return f"{actor.audit_id}:checkin.self:{checkin_id}"


async def access_own_checkin(session: AsyncSession, actor: Actor, checkin_id: uuid.UUID) -> CheckIn:
    """The caller's own check-in, or the same NotFound as for any check-in not theirs."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if not policy.can_answer_own_checkin(actor, checkin):
        raise NotFound()
    return checkin


def refuse_unless_answerable(checkin: CheckIn, *, now: datetime, settings: Settings) -> None:
    """409 with the reason when the person cannot answer now: closed, answered, or early."""
    refusal = rules.self_answer_refusal(
        outcome=checkin.outcome,
        self_answered_at=checkin.self_answered_at,
        due_at=checkin.due_at,
        now=now,
        early=settings.early_record,
    )
    if refusal == rules.SELF_EARLY:
        service.refuse_if_early(checkin, now=now, settings=settings)
    if refusal == rules.SELF_ANSWERED:
        raise Conflict("You have already answered this check-in. Your peer will go through it with you.")
    if refusal == rules.SELF_CLOSED:
        raise Conflict("This check-in is closed, so it cannot be answered now. You can ask for a peer at any time.")


async def answer_self(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    answers: Mapping[str, Mapping[str, Any]],
    safety_concern: bool,
    now: datetime,
    settings: Settings,
    safety_answered: bool = True,
) -> SelfAnswered:
    """The person answers their own open check-in's questionnaire, once, from the early
    window: validated and scored as a peer's recording; a safety "yes" raises the urgent flag."""
    checkin = await access_own_checkin(session, actor, checkin_id)
    refuse_unless_answerable(checkin, now=now, settings=settings)
    offered = service.questions_for(checkin.kind, checkin.offset_days, settings=settings)
    submission = service.Submission(
        outcome=Outcome.completed, safety_concern=safety_concern, answers=answers, safety_answered=safety_answered
    )
    clean = service.validate(
        submission, offered, catalogue.load(), checkin.kind, refused="Your answers were not saved", own_words=True
    )
    # The claim: once per check-in, and only while the peer has not recorded it.
    claimed = await session.exec(
        update(CheckIn)
        .where(
            col(CheckIn.id) == checkin.id,
            col(CheckIn.outcome).is_(None),
            col(CheckIn.self_answered_at).is_(None),
        )
        .values(self_answered_at=now)
        .execution_options(synchronize_session=False)
    )
    if (claimed.rowcount or 0) != 1:
        raise Conflict("You have already answered this check-in. Your peer will go through it with you.")
    await session.refresh(checkin)  # the claim bypassed the identity map
    results = [rules.score(i, clean[i.id]) for i in offered]
    risk = next((r for r in results if r.instrument == "trim_risk"), None)
    assessment = Assessment(
        checkin_id=checkin.id,
        person_id=checkin.person_id,
        version=service.SELF_VERSION,
        is_current=False,
        outcome=Outcome.completed,
        safety_concern=safety_concern,
        score=risk.score if risk else None,
        band=risk.band if risk else None,
        answered_by_person=True,
        recorded_by_id=checkin.person_id,
        recorded_at=now,
    )
    session.add(assessment)
    await session.flush()
    for instrument, result in zip(offered, results, strict=True):
        await service.snapshot(session, instrument)
        session.add(
            AssessmentResult(
                assessment_id=assessment.id,
                instrument_id=result.instrument,
                instrument_version=result.version,
                score=result.score,
                band=result.band,
                flagged=result.flagged,
                answers=clean[instrument.id],
            )
        )
    await session.flush()
    raised: list[Flag] = []
    if safety_concern:
        # The same cause key as the peer's recording: one urgent flag per check-in.
        urgent = await flags.raise_flag(
            session,
            person_id=checkin.person_id,
            exposure_id=checkin.exposure_id,
            cause="safety_concern",
            cause_key=f"safety:{checkin.id}",
            source_assessment_id=assessment.id,
            now=now,
        )
        if urgent is not None:
            raised.append(urgent)
    if checkin.peer_id is not None:
        # No name, no answers: the peer opens the check-in to see them.
        await notifications.enqueue(
            session,
            person_id=checkin.peer_id,
            kind="self_answered",
            subject="A check-in was answered",
            body="Someone you check in with has answered their check-in questions themselves. "
            "Open trim to see their answers before you talk.",
            link=f"/checkins/{checkin.id}",
            dedupe_key=f"self_answered:{checkin.id}",
            now=now,
        )
    audit.record(
        session,
        actor=actor,
        action="checkin.self_answered",
        target_type="checkin",
        target_id=checkin.id,
        subject_id=checkin.person_id,
        details={"assessment_id": assessment.id, "flags": [f.id for f in raised]},
        at=now,
    )
    return SelfAnswered(assessment=assessment, results=results, flags=raised)


@dataclass
class OwnAnswersView:
    assessment: Assessment
    results: list[service.ResultView]
    plain_words: str


async def own_answers_view(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime
) -> OwnAnswersView | None:
    """The person's own answers to a check-in with their scores, for the person and the
    peer who records it (reading them is audited); None when they have not answered or
    the caller may not read them (the lead sees only that they answered)."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.self_answered_at is None or not policy.can_read_self_answers(actor, checkin):
        return None
    own = await service.own_answers(session, actor=actor, checkin=checkin)
    if own is None:
        return None
    results = await service.own_results(session, actor=actor, checkin=checkin, assessment=own)
    audit.record(
        session,
        actor=actor,
        action="assessment.read",
        target_type="assessment",
        target_id=own.id,
        subject_id=checkin.person_id,
        at=now,
    )
    return OwnAnswersView(assessment=own, results=results, plain_words=rules.plain_words([r.flagged for r in results]))
