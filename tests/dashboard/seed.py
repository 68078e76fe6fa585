"""A random organisation, seeded with the real services (incidents logged, check-ins
recorded, flags raised as they would be) plus direct rows for referrals and requests,
whose services are still being written."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from tests.cast import actor_for, make_person, make_station
from tests.helpers import answers_for
from trim.accounts.models import Person, Station
from trim.assessments import service as assessments
from trim.config import Settings
from trim.db import AsyncSession
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.incidents import service as incidents
from trim.incidents.models import Exposure, IncidentKind
from trim.referrals.models import CONSENTED_STATUSES, Referral
from trim.requests.models import PeerRequest, Urgency

# Some kinds common, some rare, so the dashboard has both big and small cells.
KIND_WEIGHTS = {
    "difficult_rescue": 8,
    "mass_casualty": 3,
    "violence_against_staff": 5,
    "child_death": 2,
    "suicide": 2,
    "colleague_death_or_injury": 1,
    "other": 1,
}


@dataclass
class Programme:
    stations: list[Station]
    responders: list[Person]
    peers: list[Person]
    lead: Person


async def seed_programme(
    db: AsyncSession, *, rng: random.Random, settings: Settings, now: datetime, incidents_count: int = 30
) -> Programme:
    """Stations, people and about 15 months of incidents ending at `now`."""
    stations = [await make_station(db, f"Station {name}") for name in ("North", "South", "East")]
    responders = [
        await make_person(db, roles=["responder"], station=rng.choice(stations), password=False) for _ in range(40)
    ]
    peers = [
        await make_person(db, roles=["responder", "peer"], station=stations[i % 3], password=False) for i in range(6)
    ]
    lead = await make_person(db, roles=["lead"], station=stations[0], name="Seed Lead", password=False)
    await db.commit()
    lead_actor = actor_for(lead, ["lead"])
    kinds = list(KIND_WEIGHTS)
    weights = list(KIND_WEIGHTS.values())
    logged = []
    for _ in range(incidents_count):
        occurred = now - timedelta(days=rng.uniform(1, 460), minutes=rng.randint(0, 1440))
        exposed = rng.sample(responders + peers[:2], rng.randint(1, 8))
        data = incidents.IncidentInput(
            occurred_at=occurred,
            kind=rng.choices(kinds, weights)[0],
            station_id=rng.choice(stations).id,
            summary="Seeded incident.",
            exposures=[incidents.ExposureRef(rng.choice(["direct", "witness", "support"]), p.id) for p in exposed],
        )
        log_time = min(now, occurred + timedelta(hours=rng.uniform(0, 100)))
        incident = await incidents.log_incident(db, actor=lead_actor, data=data, now=log_time, settings=settings)
        await db.commit()
        logged.append((incident, exposed, log_time))
    # A few people were added in error and removed again.
    for incident, exposed, log_time in rng.sample(logged, 3):
        if len(exposed) > 1:
            await incidents.remove_exposure(
                db, actor=lead_actor, incident_id=incident.id, person_id=exposed[0].id, now=log_time
            )
            await db.commit()
    await _record_checkins(db, rng=rng, settings=settings, now=now, peers=peers)
    await _requests(db, rng=rng, now=now, people=responders + peers, peers=peers)
    await _referrals(db, rng=rng, now=now, lead=lead)
    # Its own generator, so the tests' random changes after seeding are as they were.
    await _periodic_and_self_answered(db, rng=random.Random(len(logged)), now=now, people=responders)
    return Programme(stations, responders, peers, lead)


async def _periodic_and_self_answered(
    db: AsyncSession, *, rng: random.Random, now: datetime, people: list[Person]
) -> None:
    """Periodic check-ins as the periodic sweep makes them (no exposure, no incident), and
    some check-ins held as "answered themselves, preferred not to talk" (self_completed)."""
    for person in rng.sample(people, 15):
        for n in range(rng.randint(1, 3)):
            due = now - timedelta(days=rng.uniform(0, 440)) + timedelta(seconds=n)
            outcome = rng.choice(["completed", "completed", "declined", "not_needed", None, None, "cancelled"])
            recorded = min(now, due + timedelta(days=rng.uniform(0, 12))) if outcome else None
            db.add(
                CheckIn(
                    exposure_id=None,
                    incident_id=None,
                    person_id=person.id,
                    kind="periodic",
                    offset_days=0,
                    scheduled_for=due,
                    due_at=due,
                    outcome=outcome,
                    recorded_at=recorded,
                    self_completed=outcome == "completed" and rng.random() < 0.4,
                )
            )
    held = list(await db.exec(select(CheckIn).where(col(CheckIn.outcome) == "completed").order_by(col(CheckIn.id))))
    for checkin in held:
        if checkin.kind != "periodic" and rng.random() < 0.2:
            checkin.self_completed = True
            db.add(checkin)
    # The ids are random, so which ones the draws mark differs from run to run: the latest
    # held after an incident is always one, so every recent period has one to count.
    after_incidents = sorted((c for c in held if c.kind != "periodic"), key=lambda c: c.due_at)
    if after_incidents:
        after_incidents[-1].self_completed = True
        db.add(after_incidents[-1])
    await db.commit()


async def _record_checkins(
    db: AsyncSession, *, rng: random.Random, settings: Settings, now: datetime, peers: list[Person]
) -> None:
    by_id = {p.id: p for p in peers}
    checkins = list(await db.exec(select(CheckIn).order_by(col(CheckIn.due_at), col(CheckIn.id))))
    plans = []
    for checkin in checkins:
        roll = rng.random()
        outcome = (
            "completed"
            if roll < 0.55
            else "declined"
            if roll < 0.67
            else "unreachable"
            if roll < 0.73
            else "not_needed"
            if roll < 0.77
            else None
        )
        when = checkin.due_at + timedelta(hours=rng.uniform(-settings.early_record_hours, 24 * 12))
        if outcome is None or when > now or checkin.peer_id is None:
            continue
        plans.append((when, checkin.id, checkin.peer_id, checkin.kind, outcome))
    for when, checkin_id, peer_id, kind, outcome in sorted(plans):
        current = await db.get(CheckIn, checkin_id, populate_existing=True)
        if current is None or current.outcome is not None:
            continue  # opted out or removed meanwhile
        answers = (
            answers_for(kind, risk_yes=rng.choice([0, 1, 2, 3, 4, 6]), tsq_yes=rng.choice([0, 2, 5, 7]))
            if outcome == "completed"
            else {}
        )
        submission = assessments.Submission(
            outcome=outcome,
            answers=answers,
            reason="Seeded reason." if outcome in ("unreachable", "not_needed") else None,
            safety_concern=rng.random() < 0.03,
            opt_out=outcome == "declined" and rng.random() < 0.3,
        )
        peer = by_id.get(peer_id) or await db.get(Person, peer_id)  # the tests' cast may be peers too
        assert peer is not None
        await assessments.record_checkin(
            db,
            actor=actor_for(peer, ["responder", "peer"]),
            checkin_id=checkin_id,
            submission=submission,
            now=when,
            settings=settings,
        )
        await db.commit()


async def _requests(
    db: AsyncSession, *, rng: random.Random, now: datetime, people: list[Person], peers: list[Person]
) -> None:
    exposures = list(await db.exec(select(Exposure)))
    urgencies = [u.value for u in Urgency]
    for index in range(30):
        if index < 8 and exposures:
            # Soon after an incident: the accepted request may be the first contact.
            exposure = rng.choice(exposures)
            person = await db.get(Person, exposure.person_id)
            assert person is not None
            created = exposure.added_at + timedelta(hours=rng.uniform(-30, 40))
        else:
            person = rng.choice(people)
            created = now - timedelta(days=rng.uniform(0, 440))
        created = min(created, now - timedelta(minutes=5))
        roll = rng.random()
        accepted_at = created + timedelta(hours=rng.uniform(0.1, 80)) if roll < 0.7 else None
        if accepted_at is not None and accepted_at > now:
            accepted_at = None
        status = ("closed" if rng.random() < 0.5 else "accepted") if accepted_at else rng.choice(["open", "withdrawn"])
        db.add(
            PeerRequest(
                requester_id=person.id,
                requester_station_id=person.station_id,
                urgency=rng.choice(urgencies),
                contact_method="phone",
                status=status,
                created_at=created,
                accepted_at=accepted_at,
                accepted_by_id=rng.choice([p for p in peers if p.id != person.id]).id if accepted_at else None,
            )
        )
    await db.commit()


async def _referrals(db: AsyncSession, *, rng: random.Random, now: datetime, lead: Person) -> None:
    flags = list(await db.exec(select(Flag).order_by(col(Flag.raised_at), col(Flag.id))))
    for flag in flags:
        roll = rng.random()
        if roll < 0.7:
            consent = rng.random() < 0.8
            status = rng.choice(CONSENTED_STATUSES) if consent else "declined"
            created = min(now, flag.raised_at + timedelta(days=rng.uniform(0, 5)))
            db.add(
                Referral(
                    flag_id=flag.id,
                    person_id=flag.person_id,
                    consent=consent,
                    status=status,
                    created_at=created,
                    updated_at=created,
                    created_by_id=lead.id,
                )
            )
            flag.status = "referred" if consent else "declined"
        elif roll < 0.85:
            flag.status = "closed"
        db.add(flag)
    people = list(await db.exec(select(Person).where(col(Person.id).in_([f.person_id for f in flags]))))
    for _ in range(4):
        if not people:
            break
        created = now - timedelta(days=rng.uniform(0, 400))
        db.add(
            Referral(
                person_id=rng.choice(people).id,
                consent=True,
                status=rng.choice(CONSENTED_STATUSES),
                created_at=created,
                updated_at=created,
                created_by_id=lead.id,
            )
        )
    await db.commit()


ALL_KINDS = [k.value for k in IncidentKind]
