"""The dashboard's SQL. Every figure is an aggregate computed by the database; only
the aggregated rows (a few hundred) come back.

For speed at national scale the rows of a period are read once per source: the
period's exposures and the period's check-ins are each a materialized CTE, and every
figure drawn from them is one member of a single UNION ALL over it. Each member
returns the same eight columns: tag, three dimension values, rows, distinct people,
and two statistics (median and 90th percentile, for the time figures).

Distinct people are counted in two hashable steps (rows per person, then persons per
cell), cheaper than count(DISTINCT), which sorts. Totals take their people from their
cells when that settles the side of k (rules.margin_people); the rare total it does
not settle is counted exactly by one more statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    String,
    Uuid,
    bindparam,
    case,
    cast,
    false,
    literal,
    literal_column,
    null,
    text,
    tuple_,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlalchemy.sql import Executable, Select
from sqlmodel import col, func
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.models import Person
from trim.dashboard import rules
from trim.dashboard.figures import ALL, Cube, Stat, cube_equations, cube_keys
from trim.dashboard.rules import Count
from trim.followups.rules import offset_of
from trim.incidents.models import Incident

WIDTH = 3  # dimension columns in every member


@dataclass(frozen=True)
class DashboardFilter:
    period: rules.Period
    station_id: uuid.UUID | None = None
    kind: str | None = None


class Dialect:
    """The few things PostgreSQL and SQLite write differently."""

    def __init__(self, session: AsyncSession) -> None:
        self.postgres = session.get_bind().dialect.name == "postgresql"

    async def tune(self, session: AsyncSession) -> None:
        """For this transaction only: room to hash a year of check-ins in memory; no JIT
        (compiling these short aggregates costs more than it saves); and a plan for the
        actual period every time (asyncpg prepares statements, and a generic plan made
        without the period's bounds reads whole tables)."""
        if self.postgres:
            # One round trip for the three (set_config(..., true) is SET LOCAL).
            await session.exec(
                text(  # type: ignore[call-overload]
                    "SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true),"
                    " set_config('plan_cache_mode', 'force_custom_plan', true)"
                )
            )

    def hours(self, later: Any, earlier: Any) -> ColumnElement[float]:
        """Hours from `earlier` to `later`, as a float."""
        if self.postgres:
            seconds: ColumnElement[float] = cast(func.extract("epoch", later - earlier), Float)
            return seconds / 3600.0
        return cast((func.julianday(later) - func.julianday(earlier)) * 24.0, Float)

    def before(self, when: Any, due_at: Any, window: timedelta) -> ColumnElement[bool]:
        """`when` < `due_at` + `window`."""
        if self.postgres:
            return when < due_at + window  # type: ignore[no-any-return]
        return func.julianday(when) < func.julianday(due_at) + window.total_seconds() / 86400


class Twins:
    """Counting a person once when they have a purged case and a live one.

    `pairs` maps each such stand-in to the live person it stands in for (computed with
    the secret at request time: records.retention.live_twins). Every source of people
    selects its person as `person(column)` and joins `join(stmt, column)`; with no
    pairs both leave the statement exactly as it was."""

    def __init__(self, pairs: Mapping[uuid.UUID, uuid.UUID], sql: Dialect) -> None:
        self.table: FromClause | None = None
        if not pairs:
            return
        stand_ins, lives = list(pairs), list(pairs.values())
        if sql.postgres:
            # Two arrays, whatever the number of pairs (a bound value each would hit
            # the protocol's limit of 32,767).
            stmt: Any = sa_select(
                func.unnest(bindparam("twin_stand_ins", stand_ins, type_=ARRAY(Uuid))).label("stand_in"),
                func.unnest(bindparam("twin_lives", lives, type_=ARRAY(Uuid))).label("live"),
            )
        else:
            # SQLite names a VALUES list's columns column1, column2 (and allows no alias list).
            rows = ", ".join(f"(:twin_s{i}, :twin_l{i})" for i in range(len(stand_ins)))
            binds = [bindparam(f"twin_s{i}", v, type_=Uuid) for i, v in enumerate(stand_ins)]
            binds += [bindparam(f"twin_l{i}", v, type_=Uuid) for i, v in enumerate(lives)]
            stmt = (
                text(f"SELECT column1 AS stand_in, column2 AS live FROM (VALUES {rows})")  # noqa: S608 (names only)
                .bindparams(*binds)
                .columns(stand_in=Uuid, live=Uuid)
            )
        self.table = stmt.cte("twins")

    def person(self, column: Any, name: str = "person_id") -> ColumnElement[Any]:
        if self.table is None:
            return column.label(name)  # type: ignore[no-any-return]
        return func.coalesce(self.table.c.live, column).label(name)

    def join(self, stmt: Select[Any], column: Any) -> Select[Any]:
        if self.table is None:
            return stmt
        return stmt.outerjoin(self.table, self.table.c.stand_in == column)


def materialized(stmt: Select[Any], name: str) -> FromClause:
    """A CTE computed once per statement however many members read it."""
    return stmt.cte(name).prefix_with("MATERIALIZED")


# -- the incidents in scope ------------------------------------------------------------------------


def month_of(when: Any, months: Sequence[rules.Month]) -> ColumnElement[str]:
    """The month label of a time inside the period, by the months' UTC bounds (so it is
    the organisation's month on both databases, daylight saving included)."""
    if len(months) == 1:
        return literal(months[0].label)
    return case(*((when < m.end, m.label) for m in months[:-1]), else_=months[-1].label)


def incidents(f: DashboardFilter, months: Sequence[rules.Month]) -> FromClause:
    """The incidents of the period (and station, and kind), with their month."""
    stmt: Select[*tuple[Any, ...]] = sa_select(
        col(Incident.id).label("incident_id"),
        col(Incident.occurred_at).label("occurred_at"),
        col(Incident.kind).label("kind"),
        month_of(col(Incident.occurred_at), months).label("month"),
    ).where(
        col(Incident.occurred_at) >= f.period.start,
        col(Incident.occurred_at) < f.period.end,
        # A support contact grown from a request for a peer is not a critical incident.
        col(Incident.source) == "logged",
    )
    if f.station_id is not None:
        stmt = stmt.where(col(Incident.station_id) == f.station_id)
    if f.kind is not None:
        stmt = stmt.where(col(Incident.kind) == f.kind)
    # A subquery, not a CTE: inlined where it is used, so the planner can walk from each
    # incident to its exposures and check-ins through their indexes.
    return stmt.subquery("cohort")


def unlinked(when: Any, person_id: Any, f: DashboardFilter) -> list[ColumnElement[bool]]:
    """For what has no incident: its own date in the period, the person's current
    station, and nothing at all when a kind of incident is asked for."""
    conditions: list[ColumnElement[bool]] = [when >= f.period.start, when < f.period.end]
    if f.station_id is not None:
        conditions.append(person_id.in_(sa_select(col(Person.id)).where(col(Person.station_id) == f.station_id)))
    if f.kind is not None:
        conditions.append(false())
    return conditions


# -- members of a combined statement ----------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One aggregate within a combined statement; its rows come back under `tag`."""

    tag: str
    select: Select[Any]


Row = tuple[tuple[str, ...], int, int, float | None, float | None]  # dims, rows, people, p50, p90


def _padded(values: Sequence[Any]) -> list[Any]:
    # Typed NULLs: PostgreSQL settles a UNION's column types member by member.
    return [*values, *([cast(null(), String)] * (WIDTH - len(values)))]


def member(
    tag: str,
    dims: Sequence[Any],
    rows: Any,
    people: Any,
    p50: Any = None,
    p90: Any = None,
    *,
    from_: Any = None,
) -> Select[Any]:
    """The eight columns every member returns (missing dimensions and statistics NULL)."""
    # Every column labelled: two identical unlabelled NULLs would be folded into one.
    stmt = sa_select(
        literal(tag).label("tag"),
        *[value.label(f"d{i}") for i, value in enumerate(_padded(dims))],
        rows.label("rows"),
        people.label("people"),
        (p50 if p50 is not None else cast(null(), Float)).label("p50"),
        (p90 if p90 is not None else cast(null(), Float)).label("p90"),
    )
    return stmt.select_from(from_) if from_ is not None else stmt


def counts(
    tag: str,
    base: FromClause,
    dims: Sequence[str],
    *,
    where: Sequence[ColumnElement[bool]] = (),
    keep: Sequence[str] | None = None,
) -> Member:
    """Rows and distinct people of `base` by `dims`; with `keep`, at the level that
    keeps only those dimensions (the others are ALL)."""
    level = list(dims) if keep is None else list(keep)
    grouped = [base.c[name] for name in level]
    per_person = (
        sa_select(*grouped, base.c.person_id, func.count().label("n"))
        .where(*where)
        .group_by(*grouped, base.c.person_id)
        .subquery()
    )
    out = [per_person.c[name] if name in level else literal(ALL) for name in dims]
    stmt = member(tag, out, func.sum(per_person.c.n), func.count(), from_=per_person)
    return Member(tag, stmt.group_by(*[per_person.c[name] for name in level]))


def stats(tag: str, base: FromClause, group: str, sql: Dialect) -> Member:
    """Per value of `group` and for ALL: rows, distinct people, and the median and 90th
    percentile of `hours`. percentile_cont over GROUPING SETS on PostgreSQL; on SQLite
    the same linear interpolation between ranked rows, with window functions."""
    if sql.postgres:
        g = base.c[group]
        stmt = member(
            tag,
            [case((func.grouping(g) == 1, literal(ALL)), else_=g)],
            func.count(),
            func.count(base.c.person_id.distinct()),
            func.percentile_cont(literal_column("0.5")).within_group(base.c.hours),
            func.percentile_cont(literal_column("0.9")).within_group(base.c.hours),
            from_=base,
        )
        return Member(tag, stmt.group_by(func.grouping_sets(g, tuple_())))
    levels = union_all(
        sa_select(base.c[group].label("g"), base.c.hours, base.c.person_id),
        sa_select(literal(ALL).label("g"), base.c.hours, base.c.person_id),
    ).subquery()
    ranked = sa_select(
        levels.c.g,
        levels.c.hours,
        levels.c.person_id,
        func.row_number().over(partition_by=levels.c.g, order_by=levels.c.hours).label("rn"),
        func.count().over(partition_by=levels.c.g).label("n"),
    ).subquery()

    def percentile(p: float) -> ColumnElement[float]:
        position = p * (ranked.c.n - 1)
        low = cast(position, Integer)
        at_low = func.max(case((ranked.c.rn == low + 1, ranked.c.hours)))
        at_high = func.max(case((ranked.c.rn == low + 2, ranked.c.hours)))
        return at_low + func.coalesce(func.max(position - low) * (at_high - at_low), 0.0)

    stmt = member(
        tag,
        [ranked.c.g],
        func.count(),
        func.count(ranked.c.person_id.distinct()),
        percentile(0.5),
        percentile(0.9),
        from_=ranked,
    )
    return Member(tag, stmt.group_by(ranked.c.g))


async def run(session: AsyncSession, members: Sequence[Member]) -> dict[str, list[Row]]:
    """All members as one statement; their rows by tag."""
    found: dict[str, list[Row]] = {m.tag: [] for m in members}
    if not members:
        return found
    combined = union_all(*(m.select for m in members)) if len(members) > 1 else members[0].select
    for tag, *rest in await _rows(session, combined):
        dims = tuple(str(value) for value in rest[:WIDTH] if value is not None)
        rows, people, p50, p90 = rest[WIDTH:]
        found[str(tag)].append(
            (
                dims,
                int(rows or 0),
                int(people or 0),
                float(p50) if p50 is not None else None,
                float(p90) if p90 is not None else None,
            )
        )
    return found


async def _rows(session: AsyncSession, stmt: Executable) -> list[tuple[Any, ...]]:
    """Rows of an aggregate query (a few hundred at most, never the records counted)."""
    return [tuple(row) for row in await read(session, stmt)]


async def read(session: AsyncSession, stmt: Executable) -> Sequence[Any]:
    """The rows of a read, on the session's connection (its transaction, its snapshot)
    but without the ORM: Core rows cost about a third of ORM rows in Python (2,000
    caseload rows: ~5 ms of CPU against ~17 ms). For reads only: nothing pending in the
    session is flushed first (the dashboard's requests write nothing)."""
    connection = await session.connection()
    return (await connection.execute(stmt)).all()


# -- cubes: counts with their totals -----------------------------------------------------------------


def sort_key(value: str) -> tuple[int, str]:
    offset = offset_of(value)
    return (offset if offset is not None else 10**9, value)


@dataclass
class CubePlan:
    """A figure's counts over some dimensions of a base, with totals over `groups`
    (label -> member values, None for every value of the dimension)."""

    tag: str
    base: FromClause
    dims: tuple[str, ...]
    domains: Sequence[Sequence[str]]
    groups: Sequence[Mapping[str, Sequence[str] | None]]
    where: tuple[ColumnElement[bool], ...] = ()
    exact: bool = False  # count the people behind every total exactly (they are shown)
    values: Mapping[tuple[str, ...], int] | None = None  # counts from elsewhere (incidents)
    cube: Cube | None = None
    unsettled: list[tuple[tuple[str, ...], Member]] = field(default_factory=list)

    def members(self) -> list[Member]:
        found = [counts(self.tag, self.base, self.dims, where=self.where)]
        if self.exact:
            for keep in sorted(_levels(self.dims, self.groups) - {self.dims}):
                tag = f"{self.tag}:{'+'.join(keep) or ALL}"
                found.append(counts(tag, self.base, self.dims, where=self.where, keep=keep))
        return found

    def settle(self, found: Mapping[str, list[Row]], k: int) -> None:
        """The cube from the finest counts; totals whose people are not settled get a
        member of their own, to be run with `run` and passed to `fill`."""
        finest = {dims: (rows, people) for dims, rows, people, _, _ in found[self.tag]}
        exact_totals = {
            dims: people
            for tag, rows in found.items()
            if tag.startswith(f"{self.tag}:")
            for dims, _, people, _, _ in rows
        }
        domains = [
            list(domain) + sorted({key[axis] for key in finest} - set(domain), key=sort_key)
            for axis, domain in enumerate(self.domains)
        ]
        resolved = [
            {label: list(values) if values is not None else domain for label, values in group.items()}
            for group, domain in zip(self.groups, domains, strict=True)
        ]
        keys, totals = cube_keys(domains, resolved)
        cells: dict[tuple[str, ...], Count] = {}
        for key in keys:
            rows, people = finest.get(key, (0, 0))
            cells[key] = Count(self.values.get(key, 0) if self.values is not None else rows, people)
        for key, parts in totals:
            value = sum(cells[p].value for p in parts)
            if key in exact_totals:
                cells[key] = Count(value, exact_totals[key])
                continue
            bound = rules.margin_people((cells[p].people for p in parts), k)
            cells[key] = Count(value, bound if bound is not None else 0)
            if bound is None:
                conditions = [
                    self.base.c[name].in_(group[part]) if part in group else self.base.c[name] == part
                    for name, part, group in zip(self.dims, key, resolved, strict=True)
                ]
                tag = f"{self.tag}#{len(self.unsettled)}"
                stmt = member(tag, [], func.count(), func.count(self.base.c.person_id.distinct()), from_=self.base)
                self.unsettled.append((key, Member(tag, stmt.where(*self.where, *conditions))))
        self.cube = Cube(self.dims, cells, cube_equations(domains, resolved))

    def fill(self, found: Mapping[str, list[Row]]) -> Cube:
        assert self.cube is not None
        for key, extra in self.unsettled:
            for _, _, people, _, _ in found.get(extra.tag, []):
                self.cube.cells[key] = Count(self.cube.cells[key].value, people)
        return self.cube


def _levels(dims: Sequence[str], groups: Sequence[Mapping[str, Sequence[str] | None]]) -> set[tuple[str, ...]]:
    """Every level of totals over ALL groups: each subset of the dimensions that have one."""
    totalled = [d for d, g in zip(dims, groups, strict=True) if ALL in g]
    fixed = [d for d in dims if d not in totalled]
    found: set[tuple[str, ...]] = set()
    for mask in range(2 ** len(totalled)):
        kept = {d for i, d in enumerate(totalled) if mask & (1 << i)}
        found.add(tuple(d for d in dims if d in kept or d in fixed))
    return found


def stat_cube(found: Sequence[Row], months: Sequence[str]) -> tuple[Cube, dict[str, Stat]]:
    """Counts and statistics by month (and ALL) from a `stats` member."""
    by_month = {dims[0]: (rows, Stat(p50, p90, people)) for dims, rows, people, p50, p90 in found}
    cells: dict[tuple[str, ...], Count] = {}
    for month in [*months, ALL]:
        rows, stat = by_month.get(month, (0, Stat(None, None, 0)))
        cells[(month,)] = Count(rows, stat.people)
    return Cube(("month",), cells, cube_equations([list(months)], [{ALL: list(months)}])), {
        g: stat for g, (_, stat) in by_month.items()
    }


async def execute(session: AsyncSession, statement: Any, **kw: Any) -> Any:
    """One statement of any shape (the rollups mix core selects, inserts and deletes,
    which the typed `session.exec` overloads do not all name)."""
    return await session.exec(statement, **kw)
