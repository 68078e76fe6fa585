"""The schedule's pure rules: offsets across daylight saving, status at its edges,
catch-up, and choosing a peer."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trim.followups import rules
from trim.followups.rules import (
    PeerCandidate,
    checkin_kind,
    checkin_status,
    choose_peer,
    due_time,
    line_related,
    recordable_from,
    scheduled_time,
    too_early,
)

LONDON = ZoneInfo("Europe/London")
WINDOW = timedelta(days=2)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("occurred", "days", "expected"),
    [
        # Same local time three days later, no change of offset.
        (utc(2026, 11, 2, 9, 0), 3, utc(2026, 11, 5, 9, 0)),
        # Across the spring change (29 Mar 2026): 09:00 GMT -> 09:00 BST = 08:00 UTC.
        (utc(2026, 3, 27, 9, 0), 3, utc(2026, 3, 30, 8, 0)),
        # Across the autumn change (25 Oct 2026): 09:00 BST -> 09:00 GMT = 09:00 UTC.
        (utc(2026, 10, 22, 8, 0), 3, utc(2026, 10, 25, 9, 0)),
        (utc(2026, 10, 1, 8, 0), 28, utc(2026, 10, 29, 9, 0)),
        # 01:30 on 29 March does not exist in London: it lands just after the gap (02:30 BST).
        (utc(2026, 3, 26, 1, 30), 3, utc(2026, 3, 29, 1, 30)),
        # 01:30 on 25 October happens twice: the first (BST) is taken.
        (utc(2026, 10, 22, 0, 30), 3, utc(2026, 10, 25, 0, 30)),
    ],
)
def test_scheduled_time_keeps_the_local_wall_clock(occurred: datetime, days: int, expected: datetime) -> None:
    assert scheduled_time(occurred, days, LONDON) == expected


def test_scheduled_time_in_another_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    # 8 March 2026 is the US spring change: 10:00 EST -> 10:00 EDT.
    assert scheduled_time(utc(2026, 3, 6, 15, 0), 3, new_york) == utc(2026, 3, 9, 14, 0)


def test_kind_is_named_by_offset() -> None:
    assert [checkin_kind(d) for d in (3, 28, 90)] == ["day3", "day28", "day90"]


DUE = utc(2026, 11, 5, 9, 0)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("now", "outcome", "status"),
    [
        (DUE - TICK, None, "upcoming"),
        (DUE, None, "due"),
        (DUE + WINDOW - TICK, None, "due"),
        (DUE + WINDOW, None, "overdue"),
        (DUE + timedelta(days=300), None, "overdue"),
        (DUE - timedelta(days=1), "completed", "completed"),
        (DUE + timedelta(days=9), "declined", "declined"),
        (DUE, "unreachable", "unreachable"),
        (DUE, "not_needed", "not_needed"),
        (DUE, "cancelled", "cancelled"),
    ],
)
def test_status_at_its_edges(now: datetime, outcome: str | None, status: str) -> None:
    assert checkin_status(due_at=DUE, outcome=outcome, now=now, window=WINDOW) == status


def test_a_passed_due_time_is_due_now() -> None:
    now = utc(2026, 11, 20, 12, 0)
    assert due_time(utc(2026, 11, 5, 9, 0), now) == now
    assert due_time(utc(2026, 12, 1, 9, 0), now) == utc(2026, 12, 1, 9, 0)


STATION_A, STATION_B = uuid.uuid4(), uuid.uuid4()


def peer(name: str, station: uuid.UUID | None, load: int) -> PeerCandidate:
    return PeerCandidate(id=uuid.uuid5(uuid.NAMESPACE_DNS, name), name=name, station_id=station, open_checkins=load)


def test_fewest_open_checkins_wins() -> None:
    peers = [peer("Ann", STATION_B, 4), peer("Bob", STATION_B, 1), peer("Cat", STATION_B, 2)]
    chosen = choose_peer(
        peers, person_id=uuid.uuid4(), person_station_id=STATION_A, exposed_ids=set(), avoid_same_station=True
    )
    assert chosen is not None and chosen.name == "Bob"


def test_never_a_peer_exposed_to_the_same_incident() -> None:
    bob = peer("Bob", STATION_B, 0)
    chosen = choose_peer(
        [bob, peer("Cat", STATION_B, 5)],
        person_id=uuid.uuid4(),
        person_station_id=STATION_A,
        exposed_ids={bob.id},
        avoid_same_station=True,
    )
    assert chosen is not None and chosen.name == "Cat"


def test_station_rule_applies_only_when_asked() -> None:
    same = peer("Same", STATION_A, 0)
    other = peer("Other", STATION_B, 3)
    person = uuid.uuid4()
    strict = choose_peer(
        [same, other], person_id=person, person_station_id=STATION_A, exposed_ids=set(), avoid_same_station=True
    )
    relaxed = choose_peer(
        [same, other], person_id=person, person_station_id=STATION_A, exposed_ids=set(), avoid_same_station=False
    )
    assert strict is not None and strict.name == "Other"
    assert relaxed is not None and relaxed.name == "Same"


def test_nobody_qualifies_means_unassigned() -> None:
    only = peer("Only", STATION_A, 0)
    assert (
        choose_peer(
            [only], person_id=uuid.uuid4(), person_station_id=STATION_A, exposed_ids=set(), avoid_same_station=True
        )
        is None
    )
    assert (
        choose_peer([], person_id=uuid.uuid4(), person_station_id=None, exposed_ids=set(), avoid_same_station=True)
        is None
    )


def test_a_peer_is_never_their_own_peer() -> None:
    me = peer("Me", STATION_B, 0)
    assert (
        choose_peer([me], person_id=me.id, person_station_id=STATION_A, exposed_ids=set(), avoid_same_station=False)
        is None
    )


# -- never the person's own line manager (design section 5) ----------------------------

LINE_NUMBERS = [None, "", "M1", "P1", "X9"]


def test_line_related_is_exactly_one_managing_the_other() -> None:
    # Exhaustive over a small space of staff numbers, both people's number and manager.
    for a_staff, a_manager, b_staff, b_manager in itertools.product(LINE_NUMBERS, repeat=4):
        expected = bool(a_manager and a_manager == b_staff) or bool(b_manager and b_manager == a_staff)
        assert line_related(a_staff, a_manager, b_staff, b_manager) is expected
        assert line_related(b_staff, b_manager, a_staff, a_manager) is expected  # either way round


def test_unknown_numbers_relate_nobody() -> None:
    assert not line_related(None, None, None, None)
    assert not line_related("", "", "", "")
    assert not line_related("P1", None, None, None)


def _lined(name: str, load: int, staff: str, manager: str | None = None) -> PeerCandidate:
    return PeerCandidate(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        name=name,
        station_id=STATION_B,
        open_checkins=load,
        staff_number=staff,
        manager_staff_number=manager,
    )


def test_never_the_persons_manager_nor_anyone_they_manage() -> None:
    boss = _lined("Boss", 0, "M1")  # the person's manager
    report = _lined("Report", 0, "R1", manager="P1")  # managed by the person
    peer_of_boss = _lined("Sibling", 3, "S1", manager="M1")  # same manager: not in line
    chosen = choose_peer(
        [boss, report, peer_of_boss],
        person_id=uuid.uuid4(),
        person_station_id=STATION_A,
        exposed_ids=set(),
        avoid_same_station=True,
        person_staff_number="P1",
        person_manager_staff_number="M1",
    )
    assert chosen is not None and chosen.name == "Sibling"
    assert (
        choose_peer(
            [boss, report],
            person_id=uuid.uuid4(),
            person_station_id=STATION_A,
            exposed_ids=set(),
            avoid_same_station=True,
            person_staff_number="P1",
            person_manager_staff_number="M1",
        )
        is None
    )
    # A person with no line on record: anyone else qualifies.
    unknown = choose_peer(
        [boss, report],
        person_id=uuid.uuid4(),
        person_station_id=STATION_A,
        exposed_ids=set(),
        avoid_same_station=True,
    )
    assert unknown is not None


candidates = st.lists(
    st.builds(
        PeerCandidate,
        id=st.uuids(),
        name=st.text(min_size=1, max_size=5),
        station_id=st.sampled_from([STATION_A, STATION_B, None]),
        open_checkins=st.integers(0, 20),
        staff_number=st.sampled_from([None, "P1", "M1", "R1", "X9"]),
        manager_staff_number=st.sampled_from([None, "P1", "M1", "X9"]),
    ),
    max_size=12,
    unique_by=lambda c: c.id,
)


@given(
    peers=candidates,
    station=st.sampled_from([STATION_A, STATION_B, None]),
    avoid=st.booleans(),
    exposed_count=st.integers(0, 4),
    staff=st.sampled_from([None, "P1"]),
    manager=st.sampled_from([None, "M1", "X9"]),
)
def test_choice_is_always_eligible_and_least_loaded(
    peers: list[PeerCandidate],
    station: uuid.UUID | None,
    avoid: bool,
    exposed_count: int,
    staff: str | None,
    manager: str | None,
) -> None:
    exposed = {p.id for p in peers[:exposed_count]}
    person = uuid.uuid4()
    chosen = choose_peer(
        peers,
        person_id=person,
        person_station_id=station,
        exposed_ids=exposed,
        avoid_same_station=avoid,
        person_staff_number=staff,
        person_manager_staff_number=manager,
    )

    def in_line(p: PeerCandidate) -> bool:
        return (manager is not None and p.staff_number == manager) or (
            staff is not None and p.manager_staff_number == staff
        )

    eligible = [
        p
        for p in peers
        if p.id not in exposed and not (avoid and station and p.station_id == station) and not in_line(p)
    ]
    if not eligible:
        assert chosen is None
        return
    assert chosen is not None
    assert chosen.id not in exposed
    assert not (avoid and station is not None and chosen.station_id == station)
    assert not in_line(chosen)
    assert chosen.open_checkins == min(p.open_checkins for p in eligible)


# -- the early window ------------------------------------------------------------------

EARLY_DUE = datetime(2026, 11, 26, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours_before_due", "early_hours", "refused"),
    [
        (0, 12, False),  # at the due time
        (-48, 12, False),  # long after (overdue)
        (12, 12, False),  # the first moment it opens
        (12.01, 12, True),  # a moment before it opens
        (24, 12, True),
        (60, 12, True),  # an hour after the incident, for a day-3 check-in
        (1, 0, True),  # no early window at all
        (0, 0, False),
    ],
)
def test_a_checkin_cannot_be_recorded_before_its_window(
    hours_before_due: float, early_hours: int, refused: bool
) -> None:
    now = EARLY_DUE - timedelta(hours=hours_before_due)
    early = timedelta(hours=early_hours)
    assert too_early(due_at=EARLY_DUE, now=now, early=early) is refused
    assert recordable_from(EARLY_DUE, early=early) == EARLY_DUE - early


# -- extra check-ins (design section 4) ----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "offset", "asked"),
    [
        ("monitor", 10, "day3"),
        ("monitor", 27, "day3"),
        ("monitor", 28, "day28"),
        ("monitor", 60, "day28"),
        ("interim", 12, "day3"),
        ("monitor", 1, "day3"),
        ("day28", 28, "day28"),
        ("rtw7", 40, "rtw7"),
    ],
)
def test_an_extra_checkin_asks_what_the_scheduled_one_before_it_asks(kind: str, offset: int, asked: str) -> None:
    assert rules.asked_as(kind, offset, [3, 28]) == asked


@pytest.mark.parametrize(
    ("kind", "outcome", "persistent"),
    [
        (k, o, p)
        for k in ("day3", "day28", "interim", "monitor")
        for o in ("completed", "declined", None)
        for p in (0, 1)
    ],
)
def test_the_interim_is_offered_only_after_a_held_first_checkin_that_counts(
    kind: str, outcome: str | None, persistent: int
) -> None:
    offered = rules.interim_offered(kind=kind, outcome=outcome, persistent=bool(persistent), scheduled_offsets=[3, 28])
    assert offered == (kind == "day3" and outcome == "completed" and bool(persistent))


def test_no_interim_when_only_one_checkin_is_scheduled() -> None:
    assert not rules.interim_offered(kind="day3", outcome="completed", persistent=True, scheduled_offsets=[3])


@pytest.mark.parametrize("offset", range(0, 32))
def test_the_interim_falls_strictly_between_the_first_and_the_next(offset: int) -> None:
    assert (rules.interim_offset_problem(offset, after=3, before=28) is None) == (3 < offset < 28)


def test_extra_kinds_have_words() -> None:
    assert rules.kind_label("monitor") == "Watchful waiting"
    assert rules.kind_label("interim") == "Interim"
