"""Demo seed: incidents of different ages, check-ins in every state, and every kind of flag."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from trim.accounts.actor import Actor
from trim.accounts.models import Person
from trim.assessments import instruments as catalogue
from trim.assessments import service as assessments
from trim.config import Settings
from trim.followups.models import CheckIn, Outcome
from trim.incidents import service as incidents

SUMMARIES = {
    "mass_casualty": "Coach overturned on the A38; multiple casualties, long scene.",
    "child_death": "Cardiac arrest of an infant at home; resuscitation unsuccessful.",
    "violence_against_staff": "Crew threatened with a knife during a call-out.",
    "difficult_rescue": "Four-hour extrication after a lorry collision.",
    "suicide": "Person found deceased at a railway crossing.",
    "colleague_death_or_injury": "Firefighter seriously injured in a roof collapse.",
}


def _actor(person: Any, roles: list[str]) -> Actor:
    return Actor(
        id=person.id, name=person.name, email=person.email, roles=frozenset(roles), station_id=person.station_id
    )


def _answers(kind: str, risk_yes: int, tsq_yes: int, rng: random.Random) -> dict[str, dict[str, bool]]:
    out: dict[str, dict[str, bool]] = {}
    for inst in catalogue.offered_at(catalogue.load(), kind):
        count = risk_yes if inst.id == "trim_risk" else tsq_yes
        chosen = set(rng.sample([i.id for i in inst.items], count))
        out[inst.id] = {i.id: i.id in chosen for i in inst.items}
    return out


async def _log(
    session: Any,
    cast: Any,
    settings: Settings,
    *,
    days_ago: float,
    kind: str,
    station: Any,
    people: list[Any],
    now: datetime,
) -> Any:
    occurred = now - timedelta(days=days_ago)
    logged_at = min(now, occurred + timedelta(hours=2))  # logged promptly, as a supervisor would
    return await incidents.log_incident(
        session,
        actor=_actor(cast.supervisor, ["supervisor", "responder"]),
        data=incidents.IncidentInput(
            occurred_at=occurred,
            kind=kind,
            station_id=station.id,
            summary=SUMMARIES[kind],
            exposures=[incidents.ExposureRef(exposure, p.id) for p, exposure in people],
        ),
        now=logged_at,
        settings=settings,
    )


async def _record(
    session: Any,
    settings: Settings,
    checkin: CheckIn,
    *,
    outcome: str = "completed",
    risk_yes: int = 0,
    tsq_yes: int = 0,
    safety: bool = False,
    reason: str | None = None,
    notes: str | None = None,
    rng: random.Random,
) -> None:
    peer = await session.get(Person, checkin.peer_id)
    when = checkin.due_at + timedelta(hours=rng.randint(1, 20))
    await assessments.record_checkin(
        session,
        actor=_actor(peer, ["responder", "peer"]),
        checkin_id=checkin.id,
        now=when,
        settings=settings,
        submission=assessments.Submission(
            outcome=outcome,
            safety_concern=safety,
            reason=reason,
            notes=notes,
            answers=_answers(checkin.kind, risk_yes, tsq_yes, rng) if outcome == Outcome.completed else {},
        ),
    )


async def _checkins(session: Any, incident_id: Any) -> dict[tuple[Any, str], CheckIn]:
    rows = await session.exec(
        select(CheckIn).where(CheckIn.incident_id == incident_id).order_by(col(CheckIn.offset_days))
    )
    return {(c.person_id, c.kind): c for c in rows}


async def seed_checkins(session: Any, *, settings: Settings, now: datetime, cast: Any, rng: random.Random) -> None:
    r = cast.responders
    a, b, c, d = cast.stations[0], cast.stations[1], cast.stations[2], cast.stations[3]

    # Six weeks ago: a mass casualty. Day 3 and day 28 mostly done; repeated high scores.
    big = await _log(
        session,
        cast,
        settings,
        days_ago=41,
        kind="mass_casualty",
        station=a,
        now=now,
        people=[
            (r[0], "direct"),
            (r[4], "direct"),
            (r[8], "witness"),
            (r[12], "direct"),
            (r[16], "support"),
            (r[20], "witness"),
        ],
    )
    cs = await _checkins(session, big.id)
    await _record(
        session,
        settings,
        cs[(r[0].id, "day3")],
        risk_yes=4,
        notes="Not sleeping; keeps replaying the scene. Good support at home.",
        rng=rng,
    )
    await _record(session, settings, cs[(r[0].id, "day28")], risk_yes=3, tsq_yes=4, rng=rng)  # consecutive
    await _record(session, settings, cs[(r[4].id, "day3")], risk_yes=1, rng=rng)
    await _record(session, settings, cs[(r[4].id, "day28")], risk_yes=2, tsq_yes=7, rng=rng)  # TSQ positive
    await _record(session, settings, cs[(r[8].id, "day3")], outcome="declined", rng=rng)
    await _record(session, settings, cs[(r[12].id, "day3")], risk_yes=2, rng=rng)
    await _record(session, settings, cs[(r[12].id, "day28")], risk_yes=0, tsq_yes=1, rng=rng)
    await _record(
        session,
        settings,
        cs[(r[16].id, "day3")],
        outcome="unreachable",
        reason="Three calls, no answer; left a message.",
        rng=rng,
    )
    # r[20]'s day 3 and everyone's remaining day 28 stay open: overdue now.
    await _record(session, settings, cs[(r[20].id, "day3")], risk_yes=1, rng=rng)

    # Ten days ago: a child's death. One safety concern (urgent), one person not yet seen.
    child = await _log(
        session,
        cast,
        settings,
        days_ago=10,
        kind="child_death",
        station=b,
        now=now,
        people=[(r[1], "direct"), (r[5], "direct"), (r[9], "support"), (r[13], "witness")],
    )
    cs = await _checkins(session, child.id)
    await _record(
        session,
        settings,
        cs[(r[1].id, "day3")],
        risk_yes=5,
        safety=True,
        notes="Said they did not want to be here any more. Stayed with them; OH informed.",
        rng=rng,
    )
    await _record(session, settings, cs[(r[5].id, "day3")], risk_yes=2, rng=rng)
    await _record(
        session,
        settings,
        cs[(r[9].id, "day3")],
        outcome="not_needed",
        reason="Only on scene briefly in a support role; asked not to be contacted.",
        rng=rng,
    )

    # Exactly three days ago: day 3 check-ins due today.
    await _log(
        session,
        cast,
        settings,
        days_ago=3,
        kind="violence_against_staff",
        station=c,
        now=now,
        people=[(r[2], "direct"), (r[6], "direct"), (r[10], "witness")],
    )
    # Six days ago: day 3 now overdue.
    await _log(
        session,
        cast,
        settings,
        days_ago=6,
        kind="difficult_rescue",
        station=d,
        now=now,
        people=[(r[3], "direct"), (r[7], "support")],
    )
    # Yesterday: day 3 still to come.
    await _log(
        session,
        cast,
        settings,
        days_ago=1,
        kind="suicide",
        station=a,
        now=now,
        people=[(r[11], "witness"), (r[15], "direct"), (r[0], "support")],
    )
    # r[0] has now been at three incidents within 90 days: a proactive offer of support.
    await _log(
        session,
        cast,
        settings,
        days_ago=0.5,
        kind="colleague_death_or_injury",
        station=b,
        now=now,
        people=[(r[0], "witness")],
    )
    # Most peer supporters were there themselves: the only one left works at the same
    # station as some of them, so those people are left without a peer for the lead to assign.
    await _log(
        session,
        cast,
        settings,
        days_ago=2,
        kind="difficult_rescue",
        station=b,
        now=now,
        people=[(p, "direct") for p in cast.peers[:5]] + [(r[17], "witness")],
    )
