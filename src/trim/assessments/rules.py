"""Scoring: pure functions of plain values (the flag rules are trim.flags.rules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from trim.assessments.instruments import Instrument
from trim.followups import rules as schedule_rules


@dataclass(frozen=True)
class Result:
    instrument: str
    version: int
    score: int
    band: str
    flagged: bool  # the score is in the instrument's flag band
    after_score: int = 0  # the "after" items alone: how the person is now


def score(instrument: Instrument, answers: Mapping[str, bool]) -> Result:
    """Score complete answers (validated by the caller) with the instrument's own rules."""
    total = sum(1 for item in instrument.items if answers[item.id])
    band = band_for(total, instrument)
    return Result(
        instrument.id,
        instrument.version,
        total,
        band,
        band == instrument.flag_band,
        after_score(answers, instrument.phases),
    )


def after_score(answers: Mapping[str, bool], phases: Mapping[str, str]) -> int:
    """The "yes" answers to items about how the person is now. History (before) and the
    event itself (during) count in the band shown, but cannot change, so they are left out
    here; an item whose phase is unknown counts, as every item did before phases."""
    return sum(1 for item_id, yes in answers.items() if yes and phases.get(item_id, "after") == "after")


def counts_toward_persistence(answers: Mapping[str, bool], phases: Mapping[str, str], *, threshold: int) -> bool:
    """Whether a check-in's risk answers count toward "persistent" difficulties."""
    return after_score(answers, phases) >= threshold


def band_for(total: int, instrument: Instrument) -> str:
    chosen = instrument.bands[0].name
    for band in instrument.bands:
        if total >= band.min:
            chosen = band.name
    return chosen


# Why the person cannot answer a check-in themselves now (design section 14), or None.
SELF_CLOSED, SELF_ANSWERED, SELF_EARLY = "closed", "answered", "early"


def self_answer_refusal(
    *, outcome: str | None, self_answered_at: datetime | None, due_at: datetime, now: datetime, early: timedelta
) -> str | None:
    """Whether the person may answer their check-in's questions themselves now: while it is
    open, once, and from the same early window as the peer's recording."""
    if outcome is not None:
        return SELF_CLOSED
    if self_answered_at is not None:
        return SELF_ANSWERED
    if schedule_rules.too_early(due_at=due_at, now=now, early=early):
        return SELF_EARLY
    return None


HARDER_WORDS = (
    "Some of what you described can make the weeks after an incident harder; your peer may suggest talking to someone."
)
USUAL_WORDS = (
    "What you described is common in the weeks after an incident, and it often eases with time. You can "
    "ask for a peer whenever you want to talk."
)


def plain_words(flagged: Sequence[bool]) -> str:
    """What the person is told of their own scores: plain words, never a band or a line."""
    return HARDER_WORDS if any(flagged) else USUAL_WORDS


def answers_deleted_on(*, still_open: bool, last_done: datetime | None, keep_days: int) -> datetime | None:
    """Keep less (design section 4): when an exposure's item-level answers and notes are
    deleted, `keep_days` after its last check-in was done and its flags resolved; None while
    a check-in is still to come or a flag is still waiting (the date is not known yet)."""
    if still_open or last_done is None:
        return None
    return last_done + timedelta(days=keep_days)
