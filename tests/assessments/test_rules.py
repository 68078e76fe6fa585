"""Scoring, bands and the flag rules, table-driven and property-based. No database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trim.assessments import instruments as catalogue
from trim.assessments.instruments import InstrumentError, load_dir, parse_instrument
from trim.assessments.rules import (
    SELF_ANSWERED,
    SELF_CLOSED,
    SELF_EARLY,
    after_score,
    counts_toward_persistence,
    score,
    self_answer_refusal,
)
from trim.flags.rules import ScheduledCheckin, cumulative_window_start, exposure_flags

INSTRUMENTS = catalogue.load()
RISK, TSQ = INSTRUMENTS["trim_risk"], INSTRUMENTS["tsq"]


def answers(instrument: catalogue.Instrument, yes: int) -> dict[str, bool]:
    return {item.id: i < yes for i, item in enumerate(instrument.items)}


@pytest.mark.parametrize(
    ("yes", "band", "flagged"), [(0, "low", False), (2, "low", False), (3, "elevated", True), (11, "elevated", True)]
)
def test_trim_risk_band_edges(yes: int, band: str, flagged: bool) -> None:
    result = score(RISK, answers(RISK, yes))
    assert (result.score, result.band, result.flagged) == (yes, band, flagged)


@pytest.mark.parametrize(("yes", "band"), [(0, "negative"), (5, "negative"), (6, "positive"), (10, "positive")])
def test_tsq_band_edges(yes: int, band: str) -> None:
    assert score(TSQ, answers(TSQ, yes)).band == band


def test_shipped_instruments_are_as_the_design_says() -> None:
    assert len(RISK.items) >= 10 and RISK.offered_at == ("day3", "day28", "day90", "return_to_work", "periodic")
    assert len(TSQ.items) == 10
    assert "day3" not in TSQ.offered_at  # never before four weeks
    assert [s for s, _ in TSQ.sections()] == ["Re-experiencing", "Arousal"]
    assert [i.id for i in catalogue.offered_at(INSTRUMENTS, "day28")] == ["trim_risk", "tsq"]
    assert [i.id for i in catalogue.offered_at(INSTRUMENTS, "day3")] == ["trim_risk"]
    # A high-exposure group's periodic check-in asks the same instruments (design section 14).
    assert [i.id for i in catalogue.offered_at(INSTRUMENTS, "periodic")] == ["trim_risk", "tsq"]


GOOD = {
    "id": "mood",
    "version": 1,
    "title": "Mood",
    "offered_at": ["day3"],
    "scoring": "count_yes",
    "phase": "after",
    "flag_band": "high",
    "bands": [{"name": "ok", "min": 0}, {"name": "high", "min": 2}],
    "items": [{"id": "a", "text": "A?"}, {"id": "b", "text": "B?"}],
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"items": []}, "'items' must list at least one item"),
        ({"items": [{"id": "a", "text": "A"}, {"id": "a", "text": "again"}]}, "item id 'a' is used twice"),
        ({"bands": [{"name": "ok", "min": 1}]}, "lowest band must start at min = 0"),
        ({"bands": [{"name": "ok", "min": 0}, {"name": "high", "min": 9}]}, "above the highest possible score"),
        ({"flag_band": "severe"}, "'flag_band' 'severe' is not one of the bands"),
        ({"offered_at": ["week1"]}, "'offered_at' must list check-in kinds"),
        ({"scoring": "weighted"}, "'scoring' must be one of"),
        ({"version": 0}, "'version' must be a whole number"),
        ({"phase": "later"}, "'phase' must be one of before, during, after"),
        ({"phase": None, "items": [{"id": "a", "text": "A?"}]}, "item 1 needs a 'phase'"),
        ({"items": [{"id": "a", "text": "A?", "phase": "now"}]}, "item 1 needs a 'phase'"),
        ({"items": [{"id": "a", "text": "A?", "self_text": " "}]}, "item 1: 'self_text' must be"),
        ({"items": [{"id": "a", "text": "A?", "self_text": 3}]}, "item 1: 'self_text' must be"),
    ],
)
def test_a_broken_definition_is_named_clearly(change: dict[str, object], problem: str) -> None:
    with pytest.raises(InstrumentError) as caught:
        parse_instrument({**GOOD, **change}, source="mood.toml")
    assert "mood.toml" in str(caught.value) and problem in str(caught.value)


def test_a_broken_file_in_the_folder_stops_loading(tmp_path: Path) -> None:
    (tmp_path / "trim_risk.toml").write_text((catalogue.BUILTIN_DIR / "trim_risk.toml").read_text())
    (tmp_path / "bad.toml").write_text("id = [unclosed")
    with pytest.raises(InstrumentError, match=r"bad\.toml: not valid TOML"):
        load_dir(tmp_path)


def test_an_organisation_can_add_an_instrument_without_code(tmp_path: Path) -> None:
    (tmp_path / "trim_risk.toml").write_text((catalogue.BUILTIN_DIR / "trim_risk.toml").read_text())
    (tmp_path / "mood.toml").write_text(
        'id = "mood"\nversion = 2\ntitle = "Mood"\noffered_at = ["day3"]\nscoring = "count_yes"\n'
        'phase = "after"\nflag_band = "high"\n'
        '[[bands]]\nname = "ok"\nmin = 0\n[[bands]]\nname = "high"\nmin = 1\n[[items]]\nid = "a"\ntext = "A?"\n'
    )
    loaded = load_dir(tmp_path)
    assert loaded["mood"].version == 2
    assert [i.id for i in catalogue.offered_at(loaded, "day3")] == ["trim_risk", "mood"]


def c(offset: int, outcome: str | None, risk: bool = False, tsq: bool = False) -> ScheduledCheckin:
    return ScheduledCheckin(offset, outcome, risk, tsq)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([c(3, "completed", True), c(28, None)], set()),
        ([c(3, "completed", True), c(28, "completed", True)], {"consecutive_elevated", "elevated_last"}),
        ([c(3, "completed", True), c(28, "completed", True), c(90, None)], {"consecutive_elevated"}),
        ([c(3, "completed", False), c(28, "completed", True)], {"elevated_last"}),
        (
            [c(3, "completed", True), c(28, "declined"), c(90, "completed", True)],
            {"consecutive_elevated", "elevated_last"},
        ),
        ([c(3, "completed", True), c(28, "unreachable"), c(90, None)], set()),
        ([c(3, "completed", True), c(28, None), c(90, "completed", True)], {"elevated_last"}),
        ([c(3, "completed", True), c(28, "completed", False), c(90, "completed", True)], {"elevated_last"}),
        ([c(3, "declined"), c(28, "declined")], set()),
        ([c(3, "completed", False), c(28, "completed", False, tsq=True)], {"tsq_positive"}),
        ([c(3, "completed", True), c(28, "cancelled")], {"elevated_last"}),
    ],
)
def test_exposure_flags(history: list[ScheduledCheckin], expected: set[str]) -> None:
    assert exposure_flags(history, consecutive=2) == expected


outcomes = st.sampled_from(["completed", "completed", "declined", "unreachable", "not_needed"])
histories = st.lists(st.tuples(outcomes, st.booleans(), st.booleans()), min_size=1, max_size=4).map(
    lambda rows: [
        c(o, out, r and out == "completed", t and out == "completed" and o >= 28)
        for o, (out, r, t) in zip([3, 28, 90, 180], rows, strict=False)
    ]
)


@settings(max_examples=300)
@given(final=histories, seed=st.integers(0, 10_000), consecutive=st.integers(1, 3))
def test_flags_depend_on_what_was_recorded_not_the_order(
    final: list[ScheduledCheckin], seed: int, consecutive: int
) -> None:
    """Record the check-ins one at a time in any order: the flags raised along the way
    (each once) are exactly the flags the finished history calls for."""
    order = list(range(len(final)))
    random.Random(seed).shuffle(order)
    state = [c(x.offset_days, None) for x in final]
    raised: list[str] = []
    for index in order:
        state[index] = final[index]
        for cause in sorted(exposure_flags(state, consecutive=consecutive)):
            if cause not in raised:  # the unique cause key
                raised.append(cause)
    assert set(raised) == exposure_flags(final, consecutive=consecutive)
    assert len(raised) == len(set(raised))


@given(final=histories)
def test_declining_never_raises_a_flag(final: list[ScheduledCheckin]) -> None:
    declined = [c(x.offset_days, "declined") for x in final]
    assert exposure_flags(declined, consecutive=1) == set()


def test_cumulative_window() -> None:
    day = datetime(2026, 1, 1, tzinfo=UTC)
    window = timedelta(days=90)
    assert cumulative_window_start([day, day + timedelta(days=40)], threshold=3, window=window) is None
    three = [day, day + timedelta(days=40), day + timedelta(days=90)]
    assert cumulative_window_start(three, threshold=3, window=window) == day
    spread = [day, day + timedelta(days=60), day + timedelta(days=120), day + timedelta(days=140)]
    assert cumulative_window_start(spread, threshold=3, window=window) == day + timedelta(days=60)


# -- phases and persistence -------------------------------------------------------------

PHASE_OF = RISK.phases


def test_the_risk_items_have_the_phases_the_design_gives() -> None:
    assert PHASE_OF["prior_trauma"] == "before"
    assert {i for i, p in PHASE_OF.items() if p == "during"} == {"life_threat", "out_of_control"}
    assert sum(1 for p in PHASE_OF.values() if p == "after") == 8
    assert set(TSQ.phases.values()) == {"after"}
    assert {i["phase"] for i in RISK.as_data()["items"]} == {"before", "during", "after"}


@pytest.mark.parametrize("threshold", [1, 2, 3])
def test_persistence_counts_after_items_only_over_every_answer(threshold: int) -> None:
    ids = RISK.item_ids
    for bits in range(2 ** len(ids)):
        given = {item: bool(bits >> n & 1) for n, item in enumerate(ids)}
        after_yes = sum(1 for item, yes in given.items() if yes and PHASE_OF[item] == "after")
        assert after_score(given, PHASE_OF) == after_yes
        assert counts_toward_persistence(given, PHASE_OF, threshold=threshold) is (after_yes >= threshold)
        assert score(RISK, given).after_score == after_yes


def test_history_and_the_event_alone_never_count_toward_persistence() -> None:
    context = {i: PHASE_OF[i] in ("before", "during") for i in RISK.item_ids}
    assert score(RISK, context).band == "elevated"  # shown as elevated...
    assert not counts_toward_persistence(context, PHASE_OF, threshold=1)  # ...but never persistent


def test_an_item_of_unknown_phase_counts_as_before_phases_existed() -> None:
    assert after_score({"x": True, "y": False}, {}) == 1


def test_every_shipped_item_has_first_person_wording_kept_with_its_version() -> None:
    for instrument in (RISK, TSQ):
        assert instrument.version >= 2  # version 2 added the person's own wording
        for item in instrument.items:
            assert item.self_text and item.own_words == item.self_text
            assert any(word in f" {item.self_text} " for word in (" I ", " my ", " me ", " myself ", " My "))
        stored = instrument.as_data()["items"]
        assert [i["self_text"] for i in stored] == [i.self_text for i in instrument.items]


def test_an_item_without_self_wording_is_asked_in_the_peers_words() -> None:
    mixed = parse_instrument(
        {**GOOD, "items": [{"id": "a", "text": "Are they ok?", "self_text": "Am I ok?"}, {"id": "b", "text": "B?"}]},
        source="mood.toml",
    )
    assert [i.own_words for i in mixed.items] == ["Am I ok?", "B?"]
    assert mixed.as_data()["items"][1]["self_text"] is None


DUE = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
EARLY = timedelta(hours=12)


@pytest.mark.parametrize(
    ("outcome", "answered", "now", "refusal"),
    [
        (None, None, DUE - EARLY, None),  # the early window opens: as for the peer's recording
        (None, None, DUE + timedelta(days=9), None),  # overdue is still open
        (None, None, DUE - EARLY - timedelta(seconds=1), SELF_EARLY),
        (None, DUE, DUE, SELF_ANSWERED),
        ("completed", None, DUE, SELF_CLOSED),
        ("declined", None, DUE, SELF_CLOSED),
        ("cancelled", DUE, DUE, SELF_CLOSED),
    ],
)
def test_when_the_person_may_answer_themselves(
    outcome: str | None, answered: datetime | None, now: datetime, refusal: str | None
) -> None:
    assert self_answer_refusal(outcome=outcome, self_answered_at=answered, due_at=DUE, now=now, early=EARLY) == refusal
