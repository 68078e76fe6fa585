"""People exposed, exactly, from rollups.

"People exposed" shows its people count itself, above k too, so the bottom-k samples of
the other rollups (exact only below the sample size) cannot give it. Nor can any sum of
counts: the same person exposed in two months is one person. What does is the set of
people itself, kept small: every person counted gets a small number
(`dashboard_person_numbers`), and each local month x kind of incident x kind of
exposure keeps the bitset of the people exposed (`dashboard_exposed_people`, about
12 KB at 100,000 people); each day, for the partial months at the ends of a period,
keeps its few numbers (4 bytes each). A union is an OR of bitsets and its people a
popcount: exact, a few milliseconds for a year, where counting them live costs ~100 ms
of database CPU at 1M check-ins (a hash of the year's ~80,000 exposures; measured in
bench/results/dashboard.md). A (month, person) table would be about one row per
exposure again, and a sketch (HyperLogLog) is not exact.

Rebuilt per month from the exposures themselves when an incident of that month is
marked (the check-in rollups' marks and sweep: dashboard.rollups / incident_rollups), so
a purged case's stand-in replaces the person in the next sweep. A station filter (a
station's year is a few hundred exposures) is counted live, as before. Twins (a purged case and a live one,
records.retention.live_twins) are one person: a stand-in's bit is not counted where
its live person's is set.
"""

from __future__ import annotations

import sys
import uuid
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

from sqlalchemy import delete, func, insert, or_, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.dashboard import rules
from trim.dashboard.figures import ALL, Cube, cube_equations, cube_keys
from trim.dashboard.models import ExposedPeople, PersonNumber
from trim.dashboard.queries import DashboardFilter, read, sort_key
from trim.dashboard.queries import execute as _run
from trim.dashboard.rules import Count
from trim.incidents.models import EXPOSURE_LABELS, Exposure, Incident

EVERY_KIND = ""  # the rows for every kind of incident together (no kind filter)


def packed(numbers: Iterable[int], typecode: str = "I") -> bytes:
    """Sorted distinct numbers, little-endian: a day's person numbers (4 bytes each, "I"), or
    dashboard.caseloads' pairs (8 bytes, "q")."""
    return little_endian(array(typecode, sorted(set(numbers))))


def little_endian(values: array[int]) -> bytes:
    """The numbers' bytes, little-endian whatever the machine (byte-swapped in place there)."""
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def unpacked_array(blob: bytes, typecode: str = "I") -> array[int]:
    out = array(typecode)
    out.frombytes(blob)
    if sys.byteorder == "big":
        out.byteswap()
    return out


def unpacked(blob: bytes) -> list[int]:
    return unpacked_array(blob).tolist()


def bitset(numbers: Iterable[int]) -> bytes:
    """Bit n set for each number n (little-endian: int.from_bytes(..., "little") reads it)."""
    numbers = list(numbers)
    out = bytearray((max(numbers) >> 3) + 1 if numbers else 0)
    for n in numbers:
        out[n >> 3] |= 1 << (n & 7)
    return bytes(out)


Twin = tuple[int, int | None, uuid.UUID]  # the stand-in's number, its live person's (if any), the live person


def people_in(bits: int, twins: Sequence[Twin]) -> int:
    """Distinct people in a bitset, a stand-in not counted where its live person is too."""
    blob = bits.to_bytes((bits.bit_length() + 7) // 8, "little")

    def has(n: int | None) -> bool:
        return n is not None and (n >> 3) < len(blob) and bool(blob[n >> 3] >> (n & 7) & 1)

    folded, seen = 0, set()
    for stand_in, live, person in twins:
        if has(stand_in):
            if has(live) or person in seen:
                folded += 1
            seen.add(person)
    return bits.bit_count() - folded


async def twin_numbers(session: AsyncSession, twins: Mapping[uuid.UUID, uuid.UUID]) -> dict[uuid.UUID, int]:
    """The numbers of the stand-ins and live people of these twins (those that have one)."""
    ids = sorted(set(twins) | set(twins.values()))
    lookup = select(col(PersonNumber.person_id), col(PersonNumber.number))
    numbered: dict[uuid.UUID, int] = {}
    for start in range(0, len(ids), 5000):  # bound values per statement stay far below the limit
        chunk = ids[start : start + 5000]
        numbered.update(dict(list(await read(session, lookup.where(col(PersonNumber.person_id).in_(chunk))))))
    return numbered


async def numbers_for(session: AsyncSession, people: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Numbers for people who have none yet (the sweep's, which holds the state row)."""
    if not people:
        return {}
    top = (await _run(session, select(func.max(col(PersonNumber.number))))).scalar()
    start = (top if top is not None else -1) + 1
    given = {person: start + i for i, person in enumerate(sorted(people))}
    await _run(session, insert(PersonNumber), params=[{"person_id": p, "number": n} for p, n in given.items()])
    return given


async def rebuild_months(session: AsyncSession, months: Iterable[date], *, settings: Settings) -> None:
    """The bitsets of these local months (their first days), and the numbers of their
    days, from the live exposures of their logged incidents."""
    zone = settings.zone
    for first in sorted(set(months)):
        following = (first + timedelta(days=32)).replace(day=1)
        rows = list(
            await _run(
                session,
                select(
                    col(Incident.occurred_at),
                    col(Incident.kind),
                    col(Exposure.exposure),
                    col(Exposure.person_id),
                    col(PersonNumber.number),
                )
                .join(Incident, col(Incident.id) == col(Exposure.incident_id))
                .outerjoin(PersonNumber, col(PersonNumber.person_id) == col(Exposure.person_id))
                .where(
                    col(Incident.occurred_at) >= rules.local_midnight(first, zone),
                    col(Incident.occurred_at) < rules.local_midnight(following, zone),
                    col(Incident.source) == "logged",
                    col(Exposure.removed_at).is_(None),
                ),
            )
        )
        given = await numbers_for(session, {person for *_, person, number in rows if number is None})
        cells: dict[tuple[str, date, str, str], list[int]] = {}
        for occurred_at, kind, exposure, person, number in rows:
            n = number if number is not None else given[person]
            day = occurred_at.astimezone(zone).date()
            for key in (
                ("month", first, kind, exposure),
                ("month", first, EVERY_KIND, exposure),
                ("day", day, kind, exposure),
                ("day", day, EVERY_KIND, exposure),
            ):
                cells.setdefault(key, []).append(n)
        in_month = (col(ExposedPeople.start) >= first, col(ExposedPeople.start) < following)
        await _run(session, delete(ExposedPeople).where(*in_month))
        if cells:
            values = [
                {
                    "id": uuid.uuid4(),
                    "grain": grain,
                    "start": start,
                    "kind": kind,
                    "exposure": exposure,
                    "exposures": len(numbers),
                    "people": bitset(numbers) if grain == "month" else packed(numbers),
                }
                for (grain, start, kind, exposure), numbers in cells.items()
            ]
            await _run(session, insert(ExposedPeople), params=values)


async def clear(session: AsyncSession) -> None:
    await _run(session, delete(ExposedPeople))


async def people_exposed_cube(
    session: AsyncSession,
    *,
    filters: DashboardFilter,
    whole: Sequence[date],
    partial: Sequence[tuple[date, date]],
    twins: Mapping[uuid.UUID, uuid.UUID],
    settings: Settings,
) -> Cube | None:
    """People exposed (exposures and exact people by kind of exposure) over these whole
    months and partial ranges of days; None with a station filter (counted live)."""
    if filters.station_id is not None:
        return None
    counts: dict[str, int] = {}
    bits: dict[str, int] = {}
    picks = [(col(ExposedPeople.grain) == "month") & col(ExposedPeople.start).in_(whole)] if whole else []
    picks += [
        (col(ExposedPeople.grain) == "day") & (col(ExposedPeople.start) >= a) & (col(ExposedPeople.start) <= b)
        for a, b in partial
    ]
    days: dict[str, list[int]] = {}
    columns = (ExposedPeople.grain, ExposedPeople.exposure, ExposedPeople.exposures, ExposedPeople.people)
    kind = filters.kind or EVERY_KIND
    stmt = select(*(col(c) for c in columns)).where(or_(*picks), col(ExposedPeople.kind) == kind)
    for grain, exposure, exposures, people in await read(session, stmt):
        counts[exposure] = counts.get(exposure, 0) + exposures
        if grain == "month":
            bits[exposure] = bits.get(exposure, 0) | int.from_bytes(people, "little")
        else:
            days.setdefault(exposure, []).extend(unpacked(people))
    for exposure, numbers in days.items():
        bits[exposure] = bits.get(exposure, 0) | int.from_bytes(bitset(numbers), "little")

    pairs: list[Twin] = []
    if twins:
        numbered = await twin_numbers(session, twins)
        pairs = [(numbered[s], numbered.get(live), live) for s, live in twins.items() if s in numbered]
    domain = list(EXPOSURE_LABELS) + sorted(set(counts) - set(EXPOSURE_LABELS), key=sort_key)
    resolved = [{ALL: domain}]
    keys, totals = cube_keys([domain], resolved)
    cells: dict[tuple[str, ...], Count] = {}
    every = 0
    for key in keys:
        union = bits.get(key[0], 0)
        every |= union
        cells[key] = Count(counts.get(key[0], 0), people_in(union, pairs))
    for key, parts in totals:
        cells[key] = Count(sum(cells[p].value for p in parts), people_in(every, pairs))
    return Cube(("exposure",), cells, cube_equations([domain], resolved))
