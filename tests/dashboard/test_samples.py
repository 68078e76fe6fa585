"""The people samples of the rollups, without a database: merging parts gives the sample
of the whole, and the count it answers is exact below the sample size and on the right
side of k above it, twins (a purged stand-in and its live person) folded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from trim.config import Settings
from trim.dashboard import rules, samples
from trim.dashboard.rollups import _open_as_of, missed_from
from trim.dashboard.rules import block_of, blocks_within, cover

IDS = st.lists(st.sets(st.integers(0, 130), max_size=12), min_size=1, max_size=6)


def _hex(n: int) -> str:
    return f"{n:032x}"


@given(parts=IDS, size=st.integers(2, 8), k=st.integers(2, 8), twin_of=st.sets(st.integers(0, 30), max_size=8))
def test_a_merged_sample_answers_on_the_right_side_of_k(
    parts: list[set[int]], size: int, k: int, twin_of: set[int]
) -> None:
    size = max(size, k)
    stored = [samples.ids_of(samples.sample_of((_hex(n) for n in part), size)) for part in parts]
    merged = samples.merge(stored, size)
    union = {_hex(n) for part in parts for n in part}
    assert merged == set(sorted(union)[:size])
    # Stand-in n + 100 is live person n (records.retention.live_twins): they count once.
    twins = {_hex(n + 100): _hex(n) for n in twin_of}
    truth = len({twins.get(i, i) for i in union})
    people = samples.people(merged, size, k, twins)
    if people is None:
        assert len(merged) == size  # only a full sample can leave it open
    else:
        assert (people < k) == (truth < k)
        if len(merged) < size:
            assert people == truth


def test_whole_months_are_read_whole_and_the_rest_by_day() -> None:
    assert cover(date(2025, 12, 1), date(2026, 11, 2)) == (
        [date(2025, 12, 1), *(date(2026, m, 1) for m in range(1, 11))],
        [(date(2026, 11, 1), date(2026, 11, 2))],
    )
    assert cover(date(2026, 3, 15), date(2026, 3, 20)) == ([], [(date(2026, 3, 15), date(2026, 3, 20))])
    assert cover(date(2026, 1, 31), date(2026, 3, 1)) == (
        [date(2026, 2, 1)],
        [(date(2026, 1, 31), date(2026, 1, 31)), (date(2026, 3, 1), date(2026, 3, 1))],
    )


def test_an_open_checkin_is_missed_from_the_first_midnight_after_its_grace() -> None:
    settings = Settings(due_window_days=2, missed_grace_days=7, timezone="Europe/London")
    zone = settings.zone
    due = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    day = missed_from(due, settings)
    assert day == date(2026, 6, 11)
    start = rules.local_midnight(day, zone)
    assert start >= due + timedelta(days=9) > start - timedelta(days=1)
    # Due so that the grace ends exactly at a local midnight: missed from that day.
    exact = rules.local_midnight(date(2026, 6, 20), zone) - timedelta(days=9)
    assert missed_from(exact, settings) == date(2026, 6, 20)


def test_blocks_cut_months_into_weeks_and_a_tail() -> None:
    assert block_of(date(2026, 2, 1)) == (date(2026, 2, 1), date(2026, 2, 7))
    assert block_of(date(2026, 2, 28)) == (date(2026, 2, 22), date(2026, 2, 28))
    assert block_of(date(2026, 3, 30)) == (date(2026, 3, 29), date(2026, 3, 31))
    assert block_of(date(2024, 2, 29)) == (date(2024, 2, 29), date(2024, 2, 29))
    # A period starting mid-month: whole blocks, and the days either side.
    assert blocks_within(date(2025, 11, 2), date(2025, 11, 30)) == (
        [date(2025, 11, 8), date(2025, 11, 15), date(2025, 11, 22), date(2025, 11, 29)],
        [(date(2025, 11, 2), date(2025, 11, 7))],
    )
    assert blocks_within(date(2026, 1, 20), date(2026, 2, 10)) == (
        [date(2026, 1, 22), date(2026, 1, 29), date(2026, 2, 1)],
        [(date(2026, 1, 20), date(2026, 1, 21)), (date(2026, 2, 8), date(2026, 2, 10))],
    )


def test_a_block_or_month_of_open_checkins_says_missed_only_when_it_knows() -> None:
    as_of = date(2026, 11, 2)
    assert _open_as_of(date(2026, 10, 31), as_of) == "missed"
    assert _open_as_of(date(2026, 11, 2), as_of) == "missed"
    assert _open_as_of(date(2026, 12, 1), as_of) == "pending"
    assert _open_as_of(date(2026, 11, 3), as_of) is None  # some may be missed already: ask the days
