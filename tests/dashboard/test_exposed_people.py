"""The exact people-exposed structure: bitsets and packed numbers hold exactly the
people put in, and a person with a purged case and a live one counts once."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from trim.dashboard.exposed_people import bitset, packed, people_in, unpacked

numbers = st.sets(st.integers(min_value=0, max_value=5000), max_size=200)


@given(numbers, numbers)
def test_a_union_of_bitsets_holds_exactly_the_people_of_both(a: set[int], b: set[int]) -> None:
    union = int.from_bytes(bitset(a), "little") | int.from_bytes(bitset(b), "little")
    assert people_in(union, []) == len(a | b)
    assert {n for n in range(5001) if union >> n & 1} == a | b


@given(numbers)
def test_a_days_numbers_come_back_as_they_went_in(a: set[int]) -> None:
    assert unpacked(packed(a)) == sorted(a)


def test_a_stand_in_counts_once_with_its_live_person() -> None:
    live, other = uuid.uuid4(), uuid.uuid4()
    both = int.from_bytes(bitset([1, 7, 9]), "little")  # 7 stands in for 1; 9 for someone not in the set
    twins = [(7, 1, live), (9, None, other)]
    assert people_in(both, twins) == 2  # 1 and 7 are one person; 9 is its own
    only_stand_in = int.from_bytes(bitset([7, 9]), "little")
    assert people_in(only_stand_in, twins) == 2
