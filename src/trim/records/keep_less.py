"""Keep less (design section 4): item-level answers and notes of an exposure are deleted
TRIM_ANSWER_RETENTION_DAYS after its last check-in is done and its flags are resolved.
Scores, bands, outcomes and dates stay: the dashboard and the person's trend need them.

The sweep reads only exposures that still hold answers (an EXISTS on assessments whose
answers_deleted_at is empty), at most a batch a round, and the update is conditional on
answers_deleted_at IS NULL, so running it twice or on two workers deletes once. A check-in
added to the exposure later (a return to work, watchful waiting) stops the clock again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, or_, update
from sqlalchemy.orm import Mapped, aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.assessments import rules as assessment_rules
from trim.assessments.models import Assessment, AssessmentResult
from trim.config import Settings
from trim.flags.models import UNRESOLVED_FLAGS, Flag
from trim.followups.models import CheckIn, Outcome
from trim.followups.rules import PERIODIC_KIND
from trim.incidents.models import Exposure
from trim.privacy import audit


def _still_open(exposure_id: Mapped[uuid.UUID]) -> ColumnElement[bool]:
    open_checkin = exists().where(col(CheckIn.exposure_id) == exposure_id, col(CheckIn.outcome).is_(None))
    waiting_flag = exists().where(col(Flag.exposure_id) == exposure_id, col(Flag.status).in_(UNRESOLVED_FLAGS))
    return or_(open_checkin, waiting_flag)


def _done_since(exposure_id: Mapped[uuid.UUID], cutoff: datetime) -> ColumnElement[bool]:
    # Anything done on the exposure after the cutoff: a check-in recorded (or
    # cancelled), a correction, a flag resolved.
    return or_(
        exists().where(col(CheckIn.exposure_id) == exposure_id, col(CheckIn.recorded_at) > cutoff),
        exists().where(
            col(CheckIn.exposure_id) == exposure_id,
            col(Assessment.checkin_id) == col(CheckIn.id),
            col(Assessment.recorded_at) > cutoff,
        ),
        exists().where(col(Flag.exposure_id) == exposure_id, col(Flag.resolved_at) > cutoff),
    )


def _holds_answers(exposure_id: Mapped[uuid.UUID]) -> ColumnElement[bool]:
    return exists().where(
        col(CheckIn.exposure_id) == exposure_id,
        col(Assessment.checkin_id) == col(CheckIn.id),
        col(Assessment.answers_deleted_at).is_(None),
    )


async def sweep_answers(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Delete the answers and notes of exposures closed longer ago than the setting.
    Returns how many recorded check-ins (assessment versions) lost their answers."""
    cutoff = now - timedelta(days=settings.answer_retention_days)
    exposure_id = col(Exposure.id)
    due = list(
        await session.exec(
            select(Exposure.id)
            .where(_holds_answers(exposure_id), ~_still_open(exposure_id), ~_done_since(exposure_id, cutoff))
            .limit(settings.sweep_batch_size)
        )
    )
    deleted = await _delete_answers(session, exposure_ids=due, now=now) if due else 0
    return deleted + await _sweep_periodic_answers(session, cutoff=cutoff, now=now, settings=settings)


async def _sweep_periodic_answers(session: AsyncSession, *, cutoff: datetime, now: datetime, settings: Settings) -> int:
    """Periodic check-ins (no exposure) each on their own: answers and notes go once it was
    done longer ago than the setting, no flag of the person without an exposure still waits,
    and it is not the person's latest held one (the next check-in's run may build on it;
    the retention purge takes that one too)."""
    held, version = aliased(CheckIn), aliased(Assessment)
    latest = (
        select(col(held.id))
        .where(
            col(held.person_id) == col(CheckIn.person_id),
            col(held.kind) == PERIODIC_KIND,
            col(held.outcome) == Outcome.completed,
        )
        .order_by(col(held.scheduled_for).desc())
        .limit(1)
        .correlate(CheckIn)
    )
    waiting_flag = exists().where(
        col(Flag.person_id) == col(Assessment.person_id),
        col(Flag.exposure_id).is_(None),
        col(Flag.source_request_id).is_(None),
        col(Flag.status).in_(UNRESOLVED_FLAGS),
    )
    rows = list(
        await session.exec(
            select(Assessment.id)
            .join(CheckIn, col(CheckIn.id) == col(Assessment.checkin_id))
            .where(
                col(CheckIn.exposure_id).is_(None),
                col(CheckIn.outcome).is_not(None),
                col(CheckIn.recorded_at) <= cutoff,
                col(Assessment.answers_deleted_at).is_(None),
                ~exists().where(col(version.checkin_id) == col(CheckIn.id), col(version.recorded_at) > cutoff),
                col(CheckIn.id).not_in(latest),
                ~waiting_flag,
            )
            .limit(settings.sweep_batch_size)
        )
    )
    if not rows:
        return 0
    return await _delete_assessment_answers(session, ids=rows, now=now, details={"periodic": True})


async def _delete_answers(session: AsyncSession, *, exposure_ids: Sequence[uuid.UUID], now: datetime) -> int:
    ids = list(
        await session.exec(
            select(Assessment.id)
            .join(CheckIn, col(CheckIn.id) == col(Assessment.checkin_id))
            .where(col(CheckIn.exposure_id).in_(exposure_ids), col(Assessment.answers_deleted_at).is_(None))
        )
    )
    return await _delete_assessment_answers(session, ids=ids, now=now, details={"exposures": len(exposure_ids)})


async def _delete_assessment_answers(
    session: AsyncSession, *, ids: Sequence[uuid.UUID], now: datetime, details: dict[str, object]
) -> int:
    # Claimed by the conditional update, so two workers delete each once.
    claimed = await session.exec(
        update(Assessment)
        .where(col(Assessment.id).in_(ids), col(Assessment.answers_deleted_at).is_(None))
        .values(notes_encrypted=None, answers_deleted_at=now)
        .returning(col(Assessment.id))
        .execution_options(synchronize_session=False)
    )
    mine = list(claimed.scalars())
    if not mine:
        return 0
    await session.exec(
        update(AssessmentResult)
        .where(col(AssessmentResult.assessment_id).in_(mine))
        .values(answers={})
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor="system",
        action="answers.deleted",
        target_type="retention",
        details={**details, "assessments": len(mine)},
        at=now,
    )
    return len(mine)


@dataclass(frozen=True)
class AnswersKept:
    """What the person's own record says about one exposure's answers."""

    deleted_at: datetime | None  # when they were deleted, once they were
    deleted_on: datetime | None  # when they will be, once the date is known


async def answers_kept(
    session: AsyncSession, *, actor: Actor, exposure_ids: Sequence[uuid.UUID], settings: Settings
) -> dict[uuid.UUID, AnswersKept]:
    """For the own record: when each of the actor's own exposures' answers and notes were or
    will be deleted (anyone else's exposure ids are left out)."""
    if not exposure_ids or actor.id is None:
        return {}
    ids = list(
        await session.exec(
            select(Exposure.id).where(col(Exposure.id).in_(list(exposure_ids)), Exposure.person_id == actor.person_id)
        )
    )
    if not ids:
        return {}
    open_ids = set(
        await session.exec(select(Exposure.id).where(col(Exposure.id).in_(ids), _still_open(col(Exposure.id))))
    )
    last: dict[uuid.UUID, datetime] = {}

    def later(exposure_id: uuid.UUID | None, moment: datetime | None) -> None:
        # Rows come from these exposures only; a periodic check-in (no exposure) never here.
        if exposure_id is not None and moment is not None and (exposure_id not in last or moment > last[exposure_id]):
            last[exposure_id] = moment

    for exposure_id, moment in await session.exec(
        select(CheckIn.exposure_id, func.max(CheckIn.recorded_at))
        .where(col(CheckIn.exposure_id).in_(ids))
        .group_by(col(CheckIn.exposure_id))
    ):
        later(exposure_id, moment)
    for exposure_id, moment in await session.exec(
        select(CheckIn.exposure_id, func.max(Assessment.recorded_at))
        .join(Assessment, col(Assessment.checkin_id) == col(CheckIn.id))
        .where(col(CheckIn.exposure_id).in_(ids))
        .group_by(col(CheckIn.exposure_id))
    ):
        later(exposure_id, moment)
    for flagged, moment in await session.exec(
        select(Flag.exposure_id, func.max(Flag.resolved_at))
        .where(col(Flag.exposure_id).in_(ids))
        .group_by(col(Flag.exposure_id))
    ):
        if flagged is not None:
            later(flagged, moment)
    deleted: dict[uuid.UUID, datetime] = {}
    for exposure_id, moment in await session.exec(
        select(CheckIn.exposure_id, func.max(Assessment.answers_deleted_at))
        .join(Assessment, col(Assessment.checkin_id) == col(CheckIn.id))
        .where(col(CheckIn.exposure_id).in_(ids), col(Assessment.answers_deleted_at).is_not(None))
        .group_by(col(CheckIn.exposure_id))
    ):
        if exposure_id is not None and moment is not None:
            deleted[exposure_id] = moment
    return {
        e: AnswersKept(
            deleted_at=deleted.get(e),
            deleted_on=assessment_rules.answers_deleted_on(
                still_open=e in open_ids, last_done=last.get(e), keep_days=settings.answer_retention_days
            ),
        )
        for e in ids
    }
