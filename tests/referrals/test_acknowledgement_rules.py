"""What was done about an urgent flag, and how quickly: pure rules (design section 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trim.flags.rules import ACK_ACTIONS, ACK_NOTE_MAX, acknowledged_within, acknowledgement_problem

RAISED = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize("action", [*ACK_ACTIONS, "", "prayed", "OTHER"])
@pytest.mark.parametrize("note", [None, "", "   ", "Drove him home.", "x" * ACK_NOTE_MAX, "x" * (ACK_NOTE_MAX + 1)])
def test_every_action_and_note(action: str, note: str | None) -> None:
    problem = acknowledgement_problem(action, note)
    words = (note or "").strip()
    if action not in ACK_ACTIONS:
        assert problem == ("action", "Say what was done straight away.")
    elif action == "other" and not words:
        assert problem == ("note", "Say in a few words what was done.")
    elif len(words) > ACK_NOTE_MAX:
        assert problem is not None and problem[0] == "note"
    else:
        assert problem is None


@pytest.mark.parametrize(
    ("after", "said"),
    [
        (timedelta(seconds=0), "under a minute"),
        (timedelta(seconds=59), "under a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=12, seconds=30), "12 minutes"),
        (timedelta(minutes=119), "119 minutes"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(hours=47, minutes=59), "47 hours"),
        (timedelta(days=2), "2 days"),
        (timedelta(minutes=-5), "under a minute"),  # a clock a little out never says "-5"
    ],
)
def test_how_quickly_in_plain_words(after: timedelta, said: str) -> None:
    assert acknowledged_within(RAISED, RAISED + after) == said
