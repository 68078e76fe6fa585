"""Roster import: create or update people by staff number from a CSV file."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import email_change, links
from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole, Station
from trim.accounts.rules import (
    ROLE_LABELS,
    ROSTER_COLUMNS,
    ROSTER_OPTIONAL_COLUMNS,
    RosterProblem,
    RosterRow,
    check_roster_header,
    parse_roster,
    privileged,
    role_change_message,
)
from trim.accounts.service import roles_by_person, tell_leads_of_privileged_grant
from trim.config import Settings
from trim.errors import InvalidInput
from trim.notifications import service as notifications
from trim.privacy import audit

MAX_BYTES = 20 * 1024 * 1024


class GroupsRecorder(Protocol):
    """Makes a person's high-exposure groups exactly these names from the `groups` column and
    returns the names no group has (trim.groups passes its own)."""

    async def __call__(
        self, session: AsyncSession, *, person_id: uuid.UUID, names: list[str], now: datetime, actor: Actor
    ) -> list[str]: ...


class CourseRecorder(Protocol):
    """Records a peer's course from the trained_on / refresher_due columns (trim.peers
    passes its own, so accounts need not know the peers' tables)."""

    async def __call__(
        self,
        session: AsyncSession,
        *,
        person_id: uuid.UUID,
        name: str,
        completed_on: date,
        refresher_due: date | None,
        now: datetime,
    ) -> None: ...


@dataclass(frozen=True)
class PrivilegedGrant:
    """A line that gave someone the lead, clinician or admin role (said in the report)."""

    line: int
    name: str
    staff_number: str
    roles: list[str]
    created: bool

    def describe(self) -> str:
        roles = ", ".join(ROLE_LABELS.get(r, r).lower() for r in self.roles)
        how = "new account with" if self.created else "now has"
        return f"line {self.line}: {self.name} ({self.staff_number}), {how} a role with wider access: {roles}"


@dataclass
class RosterReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stations_created: list[str] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)
    role_changes: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    invited: int = 0
    privileged: list[PrivilegedGrant] = field(default_factory=list)
    # (line, name): a new email address waiting for the person to confirm it from there.
    email_changes: list[tuple[int, str]] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def read_csv(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """Decode and split the file; a file that is not a roster at all is one clear error."""
    if len(data) > MAX_BYTES:
        raise InvalidInput.field("file", "The file is larger than 20 MB; split it and import each part.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput.field("file", "The file is not UTF-8 text; save it as 'CSV UTF-8' and try again.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput.field("file", "The file is empty.") from None
    except csv.Error as exc:
        raise InvalidInput.field("file", f"The file is not valid CSV: {exc}.") from None
    problem = check_roster_header(header)
    if problem:
        raise InvalidInput.field("file", problem[0].upper() + problem[1:] + ".")
    names = [h.strip().lower() for h in header]
    records: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            known = ROSTER_COLUMNS + ROSTER_OPTIONAL_COLUMNS
            record = {names[i]: row[i] for i in range(min(len(names), len(row))) if names[i] in known}
            # A short row under an optional column says "empty", not "no such column".
            record.update({c: "" for c in ROSTER_OPTIONAL_COLUMNS if c in names and c not in record})
            records.append((line, record))
    except csv.Error as exc:
        raise InvalidInput.field("file", f"Line {reader.line_num} is not valid CSV: {exc}.") from None
    return records


async def import_roster(
    session: AsyncSession,
    *,
    actor: Actor,
    data: bytes,
    now: datetime,
    settings: Settings,
    on_progress: Callable[[int, int], None] | None = None,
    invite: bool = False,
    record_course: CourseRecorder | None = None,
    record_groups: GroupsRecorder | None = None,
) -> RosterReport:
    """Import every good row; report every bad one with its line number. Safe to run twice.

    With `invite`, everyone imported who has no password, has not joined and holds no live
    invitation is emailed one. A new email for someone already here is only pending until
    they confirm it from that address (email_change). Lines granting the lead, clinician
    or admin role are listed in the report and the leads are emailed once. With
    `record_course`, a row's trained_on / refresher_due become the peer's course; with
    `record_groups`, a row's groups become the person's high-exposure groups (a name no group
    has is reported on its line; the rest of the line is imported)."""
    parsed = parse_roster(read_csv(data), phone_region=settings.phone_region)
    report = RosterReport(problems=list(parsed.problems))
    rows = parsed.rows
    total = len(rows)

    stations = {s.name.lower(): s for s in (await session.exec(select(Station))).all()}
    existing_by_staff: dict[str, Person] = {}
    existing_by_email: dict[str, Person] = {}
    for start in range(0, total, 500):
        chunk = rows[start : start + 500]
        for person in await session.exec(
            select(Person).where(col(Person.staff_number).in_([r.staff_number for r in chunk]))
        ):
            existing_by_staff[person.staff_number] = person
        for person in await session.exec(select(Person).where(col(Person.email).in_([r.email for r in chunk]))):
            existing_by_email[person.email] = person
    current_roles = await roles_by_person(session, [p.id for p in existing_by_staff.values()])

    imported: list[uuid.UUID] = []
    for index, row in enumerate(rows, start=1):
        problem = _conflict(row, existing_by_staff, existing_by_email, current_roles, actor)
        if problem:
            report.problems.append(RosterProblem(row.line, problem))
        else:
            station_id: uuid.UUID | None = None
            if row.station:
                station = stations.get(row.station.lower())
                if station is None:
                    station = Station(name=row.station)
                    session.add(station)
                    await session.flush()  # stations first: people refer to them
                    stations[row.station.lower()] = station
                    report.stations_created.append(row.station)
                    audit.record(
                        session,
                        actor=actor,
                        action="station.created",
                        target_type="station",
                        target_id=station.id,
                        at=now,
                    )
                station_id = station.id
            found = existing_by_staff.get(row.staff_number)
            if found is None:
                person = Person(
                    staff_number=row.staff_number,
                    name=row.name,
                    email=row.email,
                    station_id=station_id,
                    manager_staff_number=row.manager_staff_number or None,
                    phone=row.phone or None,
                    created_at=now,
                    updated_at=now,
                )
                session.add(person)
                for role in row.roles:
                    session.add(PersonRole(person_id=person.id, role=role))
                existing_by_staff[row.staff_number] = person
                existing_by_email[row.email] = person
                current_roles[person.id] = list(row.roles)
                report.created += 1
                audit.record(
                    session,
                    actor=actor,
                    action="person.created",
                    target_type="person",
                    target_id=person.id,
                    subject_id=person.id,
                    details={"roles": row.roles, "via": "roster"},
                    at=now,
                )
                if privileged(row.roles):
                    # Recorded as a role change too, so the lead's overview lists it.
                    audit.record(
                        session,
                        actor=actor,
                        action="person.roles_changed",
                        target_type="person",
                        target_id=person.id,
                        subject_id=person.id,
                        details={"added": row.roles, "removed": [], "created": True, "via": "roster"},
                        at=now,
                    )
                    report.privileged.append(
                        PrivilegedGrant(row.line, row.name, row.staff_number, privileged(row.roles), True)
                    )
            else:
                person = found
                changed = _apply(person, row, station_id, now)
                old_roles = current_roles.get(person.id, [])
                added = [r for r in row.roles if r not in old_roles]
                removed = [r for r in old_roles if r not in row.roles]
                if added or removed:
                    for role in removed:
                        stale = await session.get(PersonRole, (person.id, role))
                        if stale is not None:
                            await session.delete(stale)
                    for role in added:
                        session.add(PersonRole(person_id=person.id, role=role))
                    current_roles[person.id] = list(row.roles)
                    report.role_changes.append((person.name, added, removed))
                    if privileged(added):
                        report.privileged.append(
                            PrivilegedGrant(row.line, person.name, person.staff_number, privileged(added), False)
                        )
                    audit.record(
                        session,
                        actor=actor,
                        action="person.roles_changed",
                        target_type="person",
                        target_id=person.id,
                        subject_id=person.id,
                        details={"added": added, "removed": removed, "via": "roster"},
                        at=now,
                    )
                    subject, body = role_change_message(added, removed)
                    await notifications.enqueue(
                        session,
                        person_id=person.id,
                        kind="account",
                        subject=subject,
                        body=body,
                        link="/profile",
                        now=now,
                    )
                new_email = row.email not in (person.email, person.pending_email)
                if new_email:
                    await email_change.start(
                        session,
                        actor=actor,
                        person=person,
                        new_email=row.email,
                        now=now,
                        settings=settings,
                        via="roster",
                    )
                    report.email_changes.append((row.line, person.name))
                if changed or added or removed or new_email:
                    session.add(person)
                    report.updated += 1
                    if changed:
                        audit.record(
                            session,
                            actor=actor,
                            action="person.updated",
                            target_type="person",
                            target_id=person.id,
                            subject_id=person.id,
                            details={"fields": changed, "via": "roster"},
                            at=now,
                        )
                else:
                    report.unchanged += 1
            imported.append(existing_by_staff[row.staff_number].id)
            if row.trained_on is not None and record_course is not None:
                await session.flush()  # the person exists before their course
                await record_course(
                    session,
                    person_id=existing_by_staff[row.staff_number].id,
                    name=settings.peer_roster_course_name,
                    completed_on=row.trained_on,
                    refresher_due=row.refresher_due,
                    now=now,
                )
            if row.groups is not None and record_groups is not None:
                await session.flush()  # the person exists before their memberships
                unknown = await record_groups(
                    session, person_id=existing_by_staff[row.staff_number].id, names=row.groups, now=now, actor=actor
                )
                for name in unknown:
                    report.problems.append(
                        RosterProblem(row.line, f"no high-exposure group is called {name!r}; the rest was imported")
                    )
        if on_progress and (index % 100 == 0 or index == total):
            await session.flush()
            on_progress(index, total)
    await session.flush()
    if report.privileged:
        granted = {r for grant in report.privileged for r in grant.roles}
        grantees = [existing_by_staff[grant.staff_number].id for grant in report.privileged]
        await tell_leads_of_privileged_grant(
            session,
            person_ids=grantees,
            roles=sorted(granted),
            created=all(grant.created for grant in report.privileged),
            now=now,
        )
    if invite:
        report.invited = await links.invite_waiting(
            session, actor=actor, person_ids=imported, now=now, settings=settings
        )
    report.problems.sort(key=lambda p: p.line)
    return report


def _conflict(
    row: RosterRow,
    by_staff: dict[str, Person],
    by_email: dict[str, Person],
    roles: dict[uuid.UUID, list[str]],
    actor: Actor,
) -> str | None:
    owner = by_email.get(row.email)
    if owner is not None and owner.staff_number != row.staff_number:
        return f"email {row.email} belongs to staff number {owner.staff_number}"
    person = by_staff.get(row.staff_number)
    if person is not None and person.id == actor.id and sorted(roles.get(person.id, [])) != sorted(row.roles):
        return "this row would change your own roles; ask another administrator"
    return None


def _apply(person: Person, row: RosterRow, station_id: uuid.UUID | None, now: datetime) -> list[str]:
    """Name, station, line manager and phone change at once; a new email waits for confirmation
    (email_change)."""
    changed = []
    if person.name != row.name:
        person.name = row.name
        changed.append("name")
    if row.station and person.station_id != station_id:
        person.station_id = station_id
        changed.append("station_id")
    if row.manager_staff_number is not None and person.manager_staff_number != (row.manager_staff_number or None):
        person.manager_staff_number = row.manager_staff_number or None
        changed.append("manager_staff_number")
    if row.phone is not None and person.phone != (row.phone or None):
        person.phone = row.phone or None
        changed.append("phone")
    if changed:
        person.updated_at = now
    return changed
