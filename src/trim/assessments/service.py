"""Recording check-ins: validation, scoring, encryption of notes; the flags they raise are
raised by trim.flags."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim import idempotency
from trim.accounts.actor import Actor
from trim.accounts.models import Person
from trim.assessments import instruments as catalogue
from trim.assessments import rules
from trim.assessments.instruments import Instrument
from trim.assessments.models import Assessment, AssessmentResult, InstrumentSnapshot
from trim.config import Settings
from trim.db import dialect_insert, utcnow
from trim.errors import Conflict, FieldError, InvalidInput, NotFound, NotYet
from trim.flags import rules as flag_rules
from trim.flags import service as flags
from trim.flags.models import Flag
from trim.followups import rules as schedule_rules
from trim.followups.models import CheckIn, Outcome
from trim.groups import service as exposure_groups
from trim.idempotency import FormKey, Replay
from trim.incidents.models import Exposure
from trim.privacy import audit, crypto, policy
from trim.referrals.models import Referral

OUTCOMES = ("completed", "declined", "unreachable", "not_needed")
OUTCOME_LABELS = {
    "completed": "Check-in held",
    "declined": "Declined (that's fine)",
    "unreachable": "Could not reach them",
    "not_needed": "Not needed",
}
NOTES_MAX = 5000
REASON_MAX = 500


@dataclass
class Submission:
    outcome: str
    safety_concern: bool = False
    answers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reason: str | None = None
    notes: str | None = None
    opt_out: bool = False
    # False when a form left the safety question unanswered: reported with everything else.
    safety_answered: bool = True
    # The person answered the questions themselves and preferred not to talk: the check-in
    # is completed from their own answers (design section 14), not a conversation.
    self_only: bool = False


@dataclass
class Recorded:
    assessment: Assessment
    results: list[rules.Result]
    flags: list[Flag]
    # The first check-in counted toward persistence: the peer may add an interim one.
    interim_offered: bool = False

    @property
    def risk(self) -> rules.Result | None:
        return next((r for r in self.results if r.instrument == "trim_risk"), None)


def validate(
    submission: Submission,
    offered: Sequence[Instrument],
    known: Mapping[str, Instrument],
    kind: str,
    *,
    refused: str = "The check-in was not recorded",
    own_words: bool = False,
) -> dict[str, dict[str, bool]]:
    """Check a submission against the instruments asked at this check-in; return clean
    answers. Every problem is reported with its field, and nothing is saved. `own_words`:
    the person answered themselves, so a missing answer is named in the words they read."""
    errors: list[FieldError] = []
    if not submission.safety_answered:
        errors.append(FieldError("safety_concern", "Answer the safety question (yes or no)."))
    if submission.outcome not in OUTCOMES:
        errors.append(FieldError("outcome", "Choose what happened: held, declined, unreachable or not needed."))
    reason = (submission.reason or "").strip()
    if submission.outcome in (Outcome.unreachable, Outcome.not_needed) and not reason:
        errors.append(FieldError("reason", "Say briefly why (for example: three calls, no answer)."))
    if len(reason) > REASON_MAX:
        errors.append(FieldError("reason", f"Keep the reason under {REASON_MAX} characters."))
    if submission.notes and len(submission.notes) > NOTES_MAX:
        errors.append(FieldError("notes", f"Keep notes under {NOTES_MAX} characters."))
    offered_ids = {i.id for i in offered}
    clean: dict[str, dict[str, bool]] = {}
    for instrument_id, answers in submission.answers.items():
        if instrument_id not in known:
            errors.append(FieldError(f"answers.{instrument_id}", f"There is no instrument {instrument_id!r}."))
        elif instrument_id not in offered_ids:
            errors.append(
                FieldError(
                    f"answers.{instrument_id}", f"{known[instrument_id].title} is not asked at a {kind} check-in."
                )
            )
        elif not isinstance(answers, Mapping):
            errors.append(FieldError(f"answers.{instrument_id}", "Answers are an object of item id to true/false."))
    if submission.outcome == Outcome.completed:
        for instrument in offered:
            given = submission.answers.get(instrument.id)
            given = given if isinstance(given, Mapping) else {}
            for item_id, value in given.items():
                if item_id not in instrument.item_ids:
                    errors.append(FieldError(f"answers.{instrument.id}.{item_id}", "There is no such item."))
                elif not isinstance(value, bool):
                    errors.append(FieldError(f"answers.{instrument.id}.{item_id}", "Answer yes (true) or no (false)."))
            for number, item in enumerate(instrument.items, start=1):
                if item.id not in given:
                    errors.append(
                        FieldError(
                            f"answers.{instrument.id}.{item.id}",
                            f"{instrument.title}, question {number} "
                            f"(\u201c{item.own_words if own_words else item.text}\u201d) has no answer yet.",
                        )
                    )
            clean[instrument.id] = {k: bool(v) for k, v in given.items() if isinstance(v, bool)}
    elif submission.outcome in OUTCOMES and any(submission.answers.get(i) for i in submission.answers):
        errors.append(FieldError("answers", "Answers are recorded only when the check-in was held (completed)."))
    if errors:
        raise InvalidInput(refused_summary(refused, errors), errors)
    return clean


def refused_summary(lead: str, errors: Sequence[FieldError]) -> str:
    """One banner for every problem at once: each named when few, else the count and the first."""
    if len(errors) <= 3:
        return f"{lead}: " + " ".join(e.message for e in errors)
    return f"{lead}: {len(errors)} answers need attention, each marked below. First: {errors[0].message}"


async def snapshot(session: AsyncSession, *instruments: Instrument) -> None:
    """Keep the exact definition of each instrument version answered (the first stored
    stands): one statement, which a concurrent twin's identical insert simply skips."""
    if not instruments:
        return
    now = utcnow()
    stmt = (
        dialect_insert(session, InstrumentSnapshot)
        .values(
            [
                {"instrument_id": i.id, "version": i.version, "definition": i.as_data(), "created_at": now}
                for i in instruments
            ]
        )
        .on_conflict_do_nothing(index_elements=["instrument_id", "version"])
    )
    await session.exec(stmt)


async def _lock_exposure(session: AsyncSession, exposure_id: uuid.UUID) -> Exposure:
    # One recording at a time per exposure, so the flag rules always see the others.
    exposure = (await session.exec(select(Exposure).where(Exposure.id == exposure_id).with_for_update())).one()
    return exposure


async def _lock_history(session: AsyncSession, checkin: CheckIn) -> None:
    # The exposure for an incident's check-ins; for a periodic one (no exposure) the person,
    # whose periodic check-ins are the history its flag rules read.
    if checkin.exposure_id is not None:
        await _lock_exposure(session, checkin.exposure_id)
    else:
        (await session.exec(select(Person.id).where(Person.id == checkin.person_id).with_for_update())).one()


def refuse_if_early(checkin: CheckIn, *, now: datetime, settings: Settings) -> None:
    """A check-in recorded long before it is due asks the wrong questions at the wrong
    time (a day-28 screen the day after): refused with the date it is due."""
    if not schedule_rules.too_early(due_at=checkin.due_at, now=now, early=settings.early_record):
        return
    opens = schedule_rules.recordable_from(checkin.due_at, early=settings.early_record)
    due_local = checkin.due_at.astimezone(settings.zone).strftime("%a %-d %b %Y, %H:%M")
    raise NotYet(
        f"Not yet: this check-in is due on {due_local}.",
        recordable_from=_iso(opens),
        due_at=_iso(checkin.due_at),
    )


def questions_for(kind: str, offset_days: int, *, settings: Settings) -> list[Instrument]:
    """The instruments asked at a check-in: its kind's, or for an extra check-in (monitor,
    interim) those of the latest scheduled check-in at or before its day."""
    asked = schedule_rules.asked_as(kind, offset_days, settings.scheduled_offsets_days)
    return catalogue.offered_at(catalogue.load(), asked)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_scope(actor: Actor, checkin_id: uuid.UUID) -> str:
    """The Idempotency-Key scope of recording one check-in, shared by the API and the form."""
    return f"{actor.audit_id}:checkin.record:{checkin_id}"


async def record_checkin(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    submission: Submission,
    now: datetime,
    settings: Settings,
) -> Recorded:
    """The assigned peer records a check-in once: scored, notes encrypted, flags raised."""
    recorded = await _record(
        session, actor=actor, checkin_id=checkin_id, submission=submission, once=None, now=now, settings=settings
    )
    assert isinstance(recorded, Recorded)  # no key, so never a replay
    return recorded


async def record_checkin_once(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    submission: Submission,
    once: FormKey | None,
    now: datetime,
    settings: Settings,
) -> Recorded | Replay:
    """The form's way to record a check-in: as `record_checkin`, and with the form's key a
    double tap replays the first answer. The submission is validated before the key is
    claimed, so a refused form leaves nothing behind (the key is free for the fixed one)."""
    return await _record(
        session, actor=actor, checkin_id=checkin_id, submission=submission, once=once, now=now, settings=settings
    )


async def _record(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    submission: Submission,
    once: FormKey | None,
    now: datetime,
    settings: Settings,
) -> Recorded | Replay:
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if not policy.can_record_checkin(actor, checkin):
        raise NotFound()
    refuse_if_early(checkin, now=now, settings=settings)
    if submission.self_only:
        submission = await _from_own_answers(session, checkin, submission)
    known = catalogue.load()
    offered = questions_for(checkin.kind, checkin.offset_days, settings=settings)
    clean = validate(submission, offered, known, checkin.kind)
    key_row = None
    if once is not None:
        # Claimed only now, after validation: a concurrent twin waits on the key and replays.
        outcome = await idempotency.claim(
            session,
            scope=record_scope(actor, checkin.id),
            key=once.key,
            body_hash=once.body_hash,
            now=now,
            settings=settings,
            safe_to_forget=True,
        )
        if isinstance(outcome, Replay):
            return outcome
        key_row = outcome
    await _lock_history(session, checkin)
    claimed = await session.exec(
        update(CheckIn)
        .where(col(CheckIn.id) == checkin.id, col(CheckIn.outcome).is_(None))
        .values(
            outcome=submission.outcome,
            outcome_reason=(submission.reason or "").strip() or (SELF_ONLY_REASON if submission.self_only else None),
            recorded_at=now,
            recorded_by_id=actor.id,
            self_completed=submission.self_only,
        )
        .execution_options(synchronize_session=False)
    )
    if (claimed.rowcount or 0) != 1:
        raise Conflict("This check-in has already been recorded. To change it, record a correction.")
    recorded = await _store(
        session,
        actor=actor,
        checkin=checkin,
        submission=submission,
        clean=clean,
        offered=offered,
        version=1,
        now=now,
        settings=settings,
    )
    audit.record(
        session,
        actor=actor,
        action="checkin.recorded",
        target_type="checkin",
        target_id=checkin.id,
        subject_id=checkin.person_id,
        details={
            "assessment_id": recorded.assessment.id,
            "outcome": submission.outcome,
            "self_completed": submission.self_only,
            "flags": [f.id for f in recorded.flags],
        },
        at=now,
    )
    if key_row is not None:
        idempotency.complete(session, key_row, status_code=303, body={"assessment_id": str(recorded.assessment.id)})
    return recorded


SELF_ONLY_REASON = "preferred not to talk; answered the questions themselves"
SELF_VERSION = 0  # the person's own answers: before the peer's record (version 1 on)


async def own_answers(session: AsyncSession, *, actor: Actor, checkin: CheckIn) -> Assessment | None:
    """The answers the person gave themselves on a check-in the caller fetched through
    policy (trim.assessments.self_report stores them), if any: for the person and the
    peer who records it; the same NotFound for anyone else."""
    if not policy.can_read_self_answers(actor, checkin):
        raise NotFound()
    return await _own_answers_unchecked(session, checkin.id)


async def own_results(
    session: AsyncSession, *, actor: Actor, checkin: CheckIn, assessment: Assessment
) -> list[ResultView]:
    """The results and answers of the person's own answers (`own_answers`), with the wording
    of the instrument versions they answered; the same NotFound for anyone but those two."""
    if assessment.checkin_id != checkin.id or not policy.can_read_self_answers(actor, checkin):
        raise NotFound()
    return await _results_of(session, assessment.id)


async def _own_answers_unchecked(session: AsyncSession, checkin_id: uuid.UUID) -> Assessment | None:
    # For the assigned peer's recording, which policy.can_record_checkin has allowed.
    return (
        await session.exec(
            select(Assessment).where(
                Assessment.checkin_id == checkin_id,
                Assessment.version == SELF_VERSION,
                col(Assessment.answered_by_person).is_(True),
            )
        )
    ).first()


async def _from_own_answers(session: AsyncSession, checkin: CheckIn, submission: Submission) -> Submission:
    # "Preferred not to talk": the check-in is completed with the person's own answers,
    # so the peer sends none; their safety "yes" stands whatever the peer answered.
    errors: list[FieldError] = []
    if submission.outcome != Outcome.completed:
        errors.append(FieldError("outcome", "Completing with their own answers is a held (completed) check-in."))
    if any(submission.answers.values()):
        errors.append(FieldError("answers", "Their own answers are used: send no answers with this."))
    own = await _own_answers_unchecked(session, checkin.id)
    if own is None:
        errors.append(
            FieldError(
                "preferred_not_to_talk",
                "They have not answered the questions themselves: record the conversation instead.",
            )
        )
    elif own.answers_deleted_at is not None:
        errors.append(FieldError("preferred_not_to_talk", "Their own answers have been deleted (keep less)."))
    if errors or own is None:
        raise InvalidInput(refused_summary("The check-in was not recorded", errors), errors)
    rows = await session.exec(select(AssessmentResult).where(AssessmentResult.assessment_id == own.id))
    return Submission(
        outcome=Outcome.completed,
        safety_concern=submission.safety_concern or own.safety_concern,
        answers={r.instrument_id: dict(r.answers) for r in rows},
        reason=submission.reason,
        notes=submission.notes,
        opt_out=submission.opt_out,
        self_only=True,
    )


async def correct_checkin(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    submission: Submission,
    correction_reason: str,
    now: datetime,
    settings: Settings,
) -> Recorded:
    """A correction is a new version with its reason; the earlier one is kept."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    current = await _current_assessment(session, checkin.id)
    if current is None or current.recorded_by_id != actor.id or not actor.is_peer:
        raise NotFound()
    reason = correction_reason.strip()
    if not reason:
        raise InvalidInput.field("correction_reason", "Say what is being corrected and why.")
    if len(reason) > REASON_MAX:
        raise InvalidInput.field("correction_reason", f"Keep it under {REASON_MAX} characters.")
    known = catalogue.load()
    offered = questions_for(checkin.kind, checkin.offset_days, settings=settings)
    clean = validate(submission, offered, known, checkin.kind)
    await _lock_history(session, checkin)
    current = await _current_assessment(session, checkin.id)
    assert current is not None
    current.is_current = False
    session.add(current)
    await session.flush()
    checkin.outcome = submission.outcome
    checkin.outcome_reason = (submission.reason or "").strip() or None
    # A correction fixes the record; it does not turn "preferred not to talk" into a talk.
    checkin.self_completed = checkin.self_completed and submission.outcome == Outcome.completed
    submission = replace(submission, self_only=checkin.self_completed)
    session.add(checkin)
    recorded = await _store(
        session,
        actor=actor,
        checkin=checkin,
        submission=submission,
        clean=clean,
        offered=offered,
        version=current.version + 1,
        now=now,
        settings=settings,
        correction_reason=reason,
    )
    audit.record(
        session,
        actor=actor,
        action="checkin.corrected",
        target_type="checkin",
        target_id=checkin.id,
        subject_id=checkin.person_id,
        details={"assessment_id": recorded.assessment.id, "version": recorded.assessment.version},
        at=now,
    )
    return recorded


async def _store(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin: CheckIn,
    submission: Submission,
    clean: dict[str, dict[str, bool]],
    offered: Sequence[Instrument],
    version: int,
    now: datetime,
    settings: Settings,
    correction_reason: str | None = None,
) -> Recorded:
    results = [rules.score(i, clean[i.id]) for i in offered] if submission.outcome == Outcome.completed else []
    risk = next((r for r in results if r.instrument == "trim_risk"), None)
    assessment = Assessment(
        checkin_id=checkin.id,
        person_id=checkin.person_id,
        version=version,
        outcome=submission.outcome,
        reason=(submission.reason or "").strip() or None,
        safety_concern=submission.safety_concern,
        score=risk.score if risk else None,
        band=risk.band if risk else None,
        notes_encrypted=crypto.encrypt(settings, (submission.notes or "").strip() or None),
        opted_out=submission.opt_out,
        answered_by_person=submission.self_only,
        correction_reason=correction_reason,
        recorded_by_id=actor.person_id,
        recorded_at=now,
    )
    await snapshot(session, *offered[: len(results)])
    # Its id is made in Python: the assessment and its results go in one flush (parents first).
    session.add(assessment)
    for instrument, result in zip(offered, results, strict=False):
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
    if checkin.exposure_id is None:
        return await _store_periodic(
            session,
            actor=actor,
            checkin=checkin,
            submission=submission,
            assessment=assessment,
            results=results,
            now=now,
            settings=settings,
        )
    if submission.opt_out:
        await _opt_out(session, actor=actor, exposure_id=checkin.exposure_id, now=now)
    history = await exposure_history(session, checkin.exposure_id, settings=settings)
    raised = await flags.evaluate_exposure(
        session,
        exposure_id=checkin.exposure_id,
        person_id=checkin.person_id,
        history=list(history.values()),
        source_assessment_id=assessment.id,
        now=now,
        settings=settings,
    )
    this = history.get(checkin.id)
    persistent = this is not None and this.persistent
    if checkin.kind == schedule_rules.MONITOR_KIND:
        # Watchful waiting: this check-in closes its flag, or reopens it for a person to act.
        await flags.settle_monitored(
            session,
            checkin_id=checkin.id,
            outcome=submission.outcome,
            persistent=persistent,
            tsq_flagged=this is not None and this.tsq_flagged,
            now=now,
            corrected=correction_reason is not None,
        )
    interim = schedule_rules.interim_offered(
        kind=checkin.kind,
        outcome=submission.outcome,
        persistent=persistent,
        scheduled_offsets=settings.scheduled_offsets_days,
    )
    await _raise_safety(session, checkin=checkin, submission=submission, assessment=assessment, raised=raised, now=now)
    return Recorded(assessment=assessment, results=results, flags=raised, interim_offered=interim)


async def _raise_safety(
    session: AsyncSession,
    *,
    checkin: CheckIn,
    submission: Submission,
    assessment: Assessment,
    raised: list[Flag],
    now: datetime,
) -> None:
    if not submission.safety_concern:
        return
    urgent = await flags.raise_flag(
        session,
        person_id=checkin.person_id,
        exposure_id=checkin.exposure_id,
        cause="safety_concern",
        cause_key=f"safety:{checkin.id}",
        source_assessment_id=assessment.id,
        peer_id=checkin.peer_id,
        now=now,
    )
    if urgent is not None:
        raised.insert(0, urgent)


async def _store_periodic(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin: CheckIn,
    submission: Submission,
    assessment: Assessment,
    results: list[rules.Result],
    now: datetime,
    settings: Settings,
) -> Recorded:
    """A periodic check-in's flags: the same rules over the person's periodic check-ins (a
    decline never counts); "no more check-ins" here is the once-for-all periodic opt-out."""
    if submission.opt_out:
        await exposure_groups.opt_out_person(session, actor=actor, person_id=checkin.person_id, now=now)
    history = await periodic_history(session, checkin.person_id, settings=settings)
    raised = await flags.evaluate_periodic(
        session,
        person_id=checkin.person_id,
        peer_id=checkin.peer_id,
        history=history,
        source_assessment_id=assessment.id,
        now=now,
        settings=settings,
    )
    await _raise_safety(session, checkin=checkin, submission=submission, assessment=assessment, raised=raised, now=now)
    return Recorded(assessment=assessment, results=results, flags=raised)


OPT_OUT_REASON = schedule_rules.OPT_OUT_REASON


async def _opt_out(session: AsyncSession, *, actor: Actor, exposure_id: uuid.UUID, now: datetime) -> int:
    # The person wants no further check-ins for this incident: respected, never a flag.
    # Callers have the check-in through policy (record_checkin, person_opts_out).
    exposure = await session.get(Exposure, exposure_id)
    if exposure is None:
        raise NotFound()
    if exposure.opted_out_at is None:
        exposure.opted_out_at = now
        session.add(exposure)
    result = await session.exec(
        update(CheckIn)
        .where(col(CheckIn.exposure_id) == exposure_id, col(CheckIn.outcome).is_(None))
        .values(outcome="cancelled", outcome_reason=OPT_OUT_REASON, recorded_at=now)
        .execution_options(synchronize_session=False)
    )
    await flags.release_monitors(session, exposure_id=exposure_id, now=now)
    audit.record(
        session,
        actor=actor,
        action="exposure.opted_out",
        target_type="exposure",
        target_id=exposure_id,
        subject_id=exposure.person_id,
        at=now,
    )
    return int(result.rowcount or 0)


async def person_opts_out(session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime) -> int:
    """The person themselves stops further check-ins for this incident."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.person_id != actor.id:
        raise NotFound()
    if checkin.exposure_id is None:
        return await exposure_groups.opt_out_person(session, actor=actor, person_id=actor.person_id, now=now)
    await _lock_exposure(session, checkin.exposure_id)
    return await _opt_out(session, actor=actor, exposure_id=checkin.exposure_id, now=now)


async def person_opts_back_in(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime, settings: Settings
) -> int:
    """The person takes back "no more check-ins" within TRIM_OPT_OUT_UNDO_HOURS: the
    check-ins it cancelled are open again (with the same peer); returns how many. 409 later."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.person_id != actor.id:
        raise NotFound()
    if checkin.exposure_id is None:
        # Periodic: opting back in is on the person's own page (PUT /api/me/periodic).
        return 0
    exposure = await _lock_exposure(session, checkin.exposure_id)
    opted = exposure.opted_out_at
    if opted is None:
        return 0
    if now - opted > settings.opt_out_undo:
        raise Conflict("It is too late to undo this here; you can ask for a peer at any time.")
    result = await session.exec(
        update(CheckIn)
        .where(
            col(CheckIn.exposure_id) == exposure.id,
            col(CheckIn.outcome) == Outcome.cancelled,
            col(CheckIn.outcome_reason) == OPT_OUT_REASON,
            col(CheckIn.recorded_at) >= opted,
        )
        .values(outcome=None, outcome_reason=None, recorded_at=None)
        .execution_options(synchronize_session=False)
    )
    exposure.opted_out_at = None
    session.add(exposure)
    audit.record(
        session,
        actor=actor,
        action="exposure.opted_back_in",
        target_type="exposure",
        target_id=exposure.id,
        subject_id=exposure.person_id,
        at=now,
    )
    await session.flush()
    return int(result.rowcount or 0)


async def _current_assessment(session: AsyncSession, checkin_id: uuid.UUID) -> Assessment | None:
    # The current version of a check-in the caller fetched through policy.access_checkin.
    return (
        await session.exec(
            select(Assessment)
            .where(Assessment.checkin_id == checkin_id, col(Assessment.is_current).is_(True))
            .execution_options(populate_existing=True)
        )
    ).first()


async def exposure_history(
    session: AsyncSession, exposure_id: uuid.UUID, *, settings: Settings
) -> dict[uuid.UUID, flag_rules.ScheduledCheckin]:
    """Each check-in of the exposure with its current result, as the flag rules need it:
    whether its risk answers count toward persistence (judged by the phases of the
    instrument version it used), and whether its TSQ was positive."""
    return await _history(session, col(CheckIn.exposure_id) == exposure_id, settings=settings)


async def periodic_history(
    session: AsyncSession, person_id: uuid.UUID, *, settings: Settings
) -> dict[uuid.UUID, flag_rules.ScheduledCheckin]:
    """The person's periodic check-ins (no incident) as the flag rules read them."""
    which = and_(col(CheckIn.person_id) == person_id, col(CheckIn.kind) == schedule_rules.PERIODIC_KIND)
    return await _history(session, which, settings=settings)


async def _history(
    session: AsyncSession, which: ColumnElement[bool], *, settings: Settings
) -> dict[uuid.UUID, flag_rules.ScheduledCheckin]:
    # Unchecked: for exposure_history and periodic_history, whose callers fetched the
    # check-in through policy (recording, the interim offer); only the flag rules'
    # booleans leave it, never answers.
    # One statement: the check-ins (refreshed: the one being recorded was just claimed by
    # an UPDATE), each current result, and for a risk result the definition of the
    # instrument version it was answered on (its phases, history kept).
    rows = await session.exec(
        select(CheckIn, AssessmentResult, InstrumentSnapshot.definition)
        .outerjoin(Assessment, and_(col(Assessment.checkin_id) == col(CheckIn.id), col(Assessment.is_current)))
        .outerjoin(AssessmentResult, col(AssessmentResult.assessment_id) == col(Assessment.id))
        .outerjoin(
            InstrumentSnapshot,
            and_(
                col(AssessmentResult.instrument_id) == "trim_risk",
                col(InstrumentSnapshot.instrument_id) == col(AssessmentResult.instrument_id),
                col(InstrumentSnapshot.version) == col(AssessmentResult.instrument_version),
            ),
        )
        .where(which)
        .execution_options(populate_existing=True)
    )
    checkins: dict[uuid.UUID, CheckIn] = {}
    tsq: dict[uuid.UUID, bool] = {}
    persistent: dict[uuid.UUID, bool] = {}
    phases: dict[int, dict[str, str]] = {}
    for checkin, result, definition in rows:
        checkins.setdefault(checkin.id, checkin)
        if result is None:
            continue
        if result.instrument_id == "tsq":
            tsq[checkin.id] = bool(result.flagged)
        elif result.instrument_id == "trim_risk":
            version = result.instrument_version
            if version not in phases:
                phases[version] = _phases_in(definition or {})
            persistent[checkin.id] = rules.counts_toward_persistence(
                result.answers or {}, phases[version], threshold=settings.persistent_after_score
            )
    return {
        c.id: flag_rules.ScheduledCheckin(
            offset_days=c.offset_days,
            outcome=c.outcome,
            persistent=persistent.get(c.id, False),
            tsq_flagged=tsq.get(c.id, False),
            extra=c.kind in schedule_rules.EXTRA_KINDS,
        )
        for c in checkins.values()
    }


def _phases_in(definition: Mapping[str, Any]) -> dict[str, str]:
    # The phases as the version the answers were given to defined them (history kept).
    return {i["id"]: i.get("phase", "after") for i in definition.get("items", [])}


# -- reading -------------------------------------------------------------------------


@dataclass
class ResultView:
    instrument: Instrument | None
    instrument_id: str
    version: int
    score: int
    band: str
    band_label: str
    flagged: bool
    answers: dict[str, bool]
    wording: dict[str, str]
    # The first-person wording the person reads (the peer's where the version has none).
    own_wording: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordView:
    """A recorded check-in as the actor may see it."""

    assessment: Assessment
    results: list[ResultView]
    notes: str | None
    content_visible: bool  # answers and notes (the peer who held it, or the person)
    history: list[Assessment]


async def results_of(
    session: AsyncSession, *, actor: Actor, assessment: Assessment, shared_on: Referral | None = None
) -> list[ResultView]:
    """An assessment's results, answers included, with the wording of the instrument version
    it used: for the person and the peer who held it, or a clinician the person agreed to
    share it with on `shared_on`; the same NotFound for anyone else."""
    if not policy.can_read_assessment_content(actor, assessment, shared_on=shared_on):
        raise NotFound()
    return await _results_of(session, assessment.id)


async def _results_of(session: AsyncSession, assessment_id: uuid.UUID) -> list[ResultView]:
    # Unchecked: record_view decides what of these the reader sees.
    rows = list(
        await session.exec(
            select(AssessmentResult)
            .where(AssessmentResult.assessment_id == assessment_id)
            .order_by(col(AssessmentResult.instrument_id).desc())
        )
    )
    known = catalogue.load()
    views = []
    for row in rows:
        snapshot = (
            await session.exec(
                select(InstrumentSnapshot.definition).where(
                    InstrumentSnapshot.instrument_id == row.instrument_id,
                    InstrumentSnapshot.version == row.instrument_version,
                )
            )
        ).first() or {}
        wording = {i["id"]: i["text"] for i in snapshot.get("items", [])}
        own_wording = {i["id"]: i.get("self_text") or i["text"] for i in snapshot.get("items", [])}
        labels = {b["name"]: b.get("label", b["name"]) for b in snapshot.get("bands", [])}
        views.append(
            ResultView(
                instrument=known.get(row.instrument_id),
                instrument_id=row.instrument_id,
                version=row.instrument_version,
                score=row.score,
                band=row.band,
                band_label=labels.get(row.band, row.band),
                flagged=row.flagged,
                answers=dict(row.answers),
                wording=wording,
                own_wording=own_wording,
            )
        )
    return views


async def record_view(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime, settings: Settings
) -> RecordView | None:
    """The recorded check-in, if any. Answers and notes only for the peer who held it and
    the person; others with access to the check-in see the outcome and band alone.
    Reading answers or notes is audited."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    current = await _current_assessment(session, checkin.id)
    if current is None:
        return None
    content = policy.can_read_assessment(actor, current)
    history = list(
        await session.exec(
            select(Assessment)
            .where(Assessment.checkin_id == checkin.id, Assessment.version > SELF_VERSION)
            .order_by(col(Assessment.version))
        )
    )
    results = await _results_of(session, current.id)
    notes = None
    if content:
        notes = crypto.decrypt(settings, current.notes_encrypted)
        audit.record(
            session,
            actor=actor,
            action="assessment.read",
            target_type="assessment",
            target_id=current.id,
            subject_id=checkin.person_id,
            at=now,
        )
    else:
        for result in results:
            result.answers = {}
    return RecordView(
        assessment=current, results=results, notes=notes, content_visible=content, history=history if content else []
    )


@dataclass
class TrendPoint:
    recorded_at: datetime
    kind: str
    incident_id: uuid.UUID | None  # None for a periodic check-in
    score: int
    band: str
    tsq_score: int | None


async def person_trend(session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, now: datetime) -> list[TrendPoint]:
    """Risk scores across check-ins and incidents, as far as the actor may see scores:
    a peer those they conducted, the person their own."""
    stmt = (
        select(Assessment, CheckIn.kind, CheckIn.incident_id)
        .join(CheckIn, col(CheckIn.id) == col(Assessment.checkin_id))
        .where(
            Assessment.person_id == person_id,
            col(Assessment.is_current).is_(True),
            Assessment.outcome == Outcome.completed,
            policy.assessment_content_scope(actor),
        )
        .order_by(col(Assessment.recorded_at))
    )
    rows = list(await session.exec(stmt))
    if not rows:
        return []
    tsq = dict(
        list(
            await session.exec(
                select(AssessmentResult.assessment_id, AssessmentResult.score).where(
                    col(AssessmentResult.assessment_id).in_([r[0].id for r in rows]),
                    AssessmentResult.instrument_id == "tsq",
                )
            )
        )
    )
    audit.record(
        session,
        actor=actor,
        action="assessment.trend_read",
        target_type="person",
        target_id=person_id,
        subject_id=person_id,
        at=now,
    )
    return [
        TrendPoint(
            recorded_at=a.recorded_at,
            kind=kind,
            incident_id=incident_id,
            score=a.score or 0,
            band=a.band or "",
            tsq_score=tsq.get(a.id),
        )
        for a, kind, incident_id in rows
    ]
