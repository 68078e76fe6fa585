"""Distinct people in a rollup, exactly where suppression needs it.

Each rollup cell keeps the `size` smallest ids of the people behind it (a bottom-k
sample, ordered by the id's hex text). The smallest `size` of a union are among the
smallest `size` of its parts, so samples merge exactly across days, stations and
months. A merged sample with fewer than `size` ids is the whole set of people (an
exact count); a full one proves "at least `size`", and with size >= k that is all the
rule "fewer than k people is shown as <k" asks. Pure functions; no I/O.

A person with a purged case and a live one is one person (records.retention.live_twins):
ids are mapped to their twin before merging. Mapping can fold two ids of a full sample
into one, so a full sample that maps to fewer than k ids proves nothing; `people` then
answers None and the caller counts that cell from the check-ins themselves.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

from trim.dashboard.figures import Cube, cube_equations, cube_keys
from trim.dashboard.queries import sort_key
from trim.dashboard.rules import Count

SEPARATOR = ","


def sample_of(ids: Iterable[str], size: int) -> str:
    """The stored form: the `size` smallest distinct ids, comma separated."""
    return SEPARATOR.join(sorted(set(ids))[:size])


def ids_of(sample: str) -> list[str]:
    return sample.split(SEPARATOR) if sample else []


def merge(samples: Iterable[Iterable[str]], size: int) -> set[str]:
    """The sample of a union from the samples of its parts."""
    merged: set[str] = set()
    for ids in samples:
        merged.update(ids)
    # nsmallest, not a sort: a year's merge keeps 10 ids of thousands.
    return merged if len(merged) <= size else set(heapq.nsmallest(size, merged))


def people(ids: set[str], size: int, k: int, twins: Mapping[str, str]) -> int | None:
    """Distinct people behind a merged sample: exact below `size`; otherwise a number on
    the same side of k as the exact one (at least k); None when twins leave it open."""
    mapped = {twins.get(i, i) for i in ids} if twins else ids
    if len(ids) < size:
        return len(mapped)  # the whole set: exact, twins folded
    if len(mapped) >= k:
        return len(mapped)  # a lower bound, already k or more
    return None


def cube_of(
    dims: tuple[str, ...],
    finest: Mapping[tuple[str, ...], tuple[int, set[str]]],
    given: Sequence[Sequence[str]],
    groups: Sequence[Mapping[str, Sequence[str] | None]],
    size: int,
    k: int,
    twins: Mapping[str, str],
) -> Cube | None:
    """A cube with its totals, as queries.CubePlan makes it, from merged samples; None
    when a count is left open (twins fold a full sample below k: the figure is then
    counted live). Shared by every rollup's read."""
    domains = [
        list(domain) + sorted({key[axis] for key in finest} - set(domain), key=sort_key)
        for axis, domain in enumerate(given)
    ]
    resolved = [
        {label: list(values) if values is not None else domain for label, values in group.items()}
        for group, domain in zip(groups, domains, strict=True)
    ]
    keys, totals = cube_keys(domains, resolved)
    cells: dict[tuple[str, ...], Count] = {}
    people_of: dict[tuple[str, ...], set[str]] = {}
    for key in keys:
        count, gathered = finest.get(key, (0, set()))
        ids = merge([gathered], size)
        behind = people(ids, size, k, twins)
        if behind is None:
            return None
        cells[key], people_of[key] = Count(count, behind), ids
    for key, parts in totals:
        ids = merge((people_of[p] for p in parts), size)
        behind = people(ids, size, k, twins)
        if behind is None:
            return None
        cells[key] = Count(sum(cells[p].value for p in parts), behind)
    return Cube(dims, cells, cube_equations(domains, resolved))
