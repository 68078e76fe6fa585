"""What the journeys share: one incident, logged by the supervisor in journey (a) and
followed by the peer, the lead and (as a deny check) the supervisor again.

A journey that needs the incident calls `story.incident_id()`: the one journey (a) logged
through the browser, or, when a journey runs on its own (`pytest -k peer`), the same
incident logged through the service, so every journey can run alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from tests.e2e.org import HARBOUR, Member, Org
from tests.live_server import LiveServer
from trim.accounts.actor import Actor
from trim.db import AsyncSession
from trim.followups.models import CheckIn
from trim.incidents import service as incidents

NORTHGATE = "Northgate Fire Station"
KIND = "difficult_rescue"
KIND_LABEL = "Prolonged or difficult rescue"
SUMMARY = "Two-hour extrication from a lorry cab on the ring road; driver did not survive."


@dataclass(frozen=True)
class Scheduled:
    """One check-in as the database holds it."""

    id: uuid.UUID
    person_id: uuid.UUID
    peer_id: uuid.UUID | None
    kind: str
    due_at: datetime


class Story:
    def __init__(self, live: LiveServer, org: Org) -> None:
        self.live = live
        self.org = org
        self._incident_id: uuid.UUID | None = None

    # -- the incident of journey (a) --------------------------------------------------

    @property
    def occurred_at(self) -> datetime:
        """Four days before "now" at 14:30 local: the day-3 check-in is due."""
        zone = ZoneInfo(self.live.settings.timezone)
        day = (self.live.clock() - timedelta(days=4)).astimezone(zone)
        return day.replace(hour=14, minute=30, second=0, microsecond=0)

    @property
    def searched(self) -> list[Member]:
        """The two Northgate firefighters the supervisor finds by name."""
        return self.org.at_station(NORTHGATE)[:2]

    @property
    def crew(self) -> list[Member]:
        """Harbour's whole crew, added with "Add everyone"."""
        return [m for m in self.org.harbour_crew if m.station_id == self.org.stations[HARBOUR]]

    @property
    def exposures(self) -> dict[uuid.UUID, str]:
        """Everyone exposed and how: one witness, one supporting, the rest directly involved."""
        people = [*self.searched, *self.crew]
        how = {p.id: "direct" for p in people}
        how[self.searched[1].id] = "witness"
        how[self.crew[-1].id] = "support"
        return how

    def logged(self, incident_id: uuid.UUID) -> None:
        self._incident_id = incident_id

    def incident_id(self) -> uuid.UUID:
        if self._incident_id is None:
            self._incident_id = self.live.run_db(self._log_through_service)
        return self._incident_id

    async def _log_through_service(self, session: AsyncSession) -> uuid.UUID:
        supervisor = self.org.supervisor
        actor = Actor(
            id=supervisor.id,
            name=supervisor.name,
            email=supervisor.email,
            roles=frozenset({"supervisor", "responder"}),
            station_id=supervisor.station_id,
        )
        data = incidents.IncidentInput(
            occurred_at=self.occurred_at,
            kind=KIND,
            station_id=self.org.stations[NORTHGATE],
            summary=SUMMARY,
            exposures=[incidents.ExposureRef(how, pid) for pid, how in self.exposures.items()],
        )
        incident = await incidents.log_incident(
            session, actor=actor, data=data, now=self.live.clock(), settings=self.live.settings
        )
        return incident.id

    # -- looking at what the journeys changed -------------------------------------------

    def schedule(self) -> list[Scheduled]:
        """The incident's open check-ins, by due time."""
        incident_id = self.incident_id()

        async def read(session: AsyncSession) -> list[Scheduled]:
            rows = await session.exec(
                select(CheckIn)
                .where(CheckIn.incident_id == incident_id, col(CheckIn.outcome).is_(None))
                .order_by(col(CheckIn.due_at), col(CheckIn.person_id))
            )
            return [Scheduled(c.id, c.person_id, c.peer_id, c.kind, c.due_at) for c in rows]

        return self.live.run_db(read)

    def checkins_of(self, person: Member) -> list[Scheduled]:
        return [c for c in self.schedule() if c.person_id == person.id]
