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


# A year of earlier incidents, oldest first, so every dashboard chart has figures above k.
HISTORY_KINDS = (
    "difficult_rescue",
    "violence_against_staff",
    "mass_casualty",
    "difficult_rescue",
    "child_death",
    "violence_against_staff",
    "suicide",
    "difficult_rescue",
)
HOW = ("direct", "witness", "support")


async def seed_history(session: Any, *, settings: Settings, now: datetime, cast: Any, rng: random.Random) -> None:
    """Eight incidents over the past year with seven people each (from the responders the
    recent incidents above leave out), their check-ins held, declined or unreachable, and
    some never done (missed): at k=5 every chart of the dashboard shows something."""
    pool = cast.responders[18:]
    for n, kind in enumerate(HISTORY_KINDS):
        people = [(pool[(n * 5 + j) % len(pool)], HOW[j % len(HOW)]) for j in range(7)]
        incident = await _log(
            session,
            cast,
            settings,
            days_ago=330 - n * 38,
            kind=kind,
            station=cast.stations[n % len(cast.stations)],
            now=now,
            people=people,
        )
        checkins = await _checkins(session, incident.id)
        for person, _ in people:
            for offset in ("day3", "day28", "day90"):
                checkin = checkins.get((person.id, offset))
                if checkin is None or checkin.peer_id is None or checkin.outcome is not None:
                    continue
                roll = rng.random()
                if roll < 0.74:
                    tsq = rng.choice((0, 1, 2, 6, 7)) if offset != "day3" else 0
                    await _record(
                        session, settings, checkin, risk_yes=rng.choice((0, 1, 1, 2, 3, 4)), tsq_yes=tsq, rng=rng
                    )
                elif roll < 0.87:
                    await _record(session, settings, checkin, outcome="declined", rng=rng)
                elif roll < 0.96:
                    await _record(
                        session,
                        settings,
                        checkin,
                        outcome="unreachable",
                        reason="Two calls and a text, no answer.",
                        rng=rng,
                    )
                # else (one in 25) left open: past its grace period the dashboard counts it missed


async def seed_history_support(
    session: Any, *, settings: Settings, now: datetime, cast: Any, rng: random.Random
) -> None:
    """Behind the year of incidents: referrals offered on their flags (most accepted, some
    taken up), and requests for a peer taken and closed, so those charts show figures too."""
    from trim.flags.models import Flag
    from trim.referrals import service as referrals
    from trim.requests import service as requests

    lead = _actor(cast.lead, ["lead", "responder"])
    clinician = _actor(cast.clinician, ["clinician"])
    pool_ids = [p.id for p in cast.responders[18:]]
    flags = list(
        await session.exec(
            select(Flag)
            .where(col(Flag.person_id).in_(pool_ids), col(Flag.urgent).is_(False))
            .order_by(col(Flag.raised_at))
        )
    )
    for n, flag in enumerate(flags[:9]):
        when = flag.raised_at + timedelta(days=2)
        if when > now:
            continue
        agreed = n % 4 != 3
        referral = await referrals.offer_referral(
            session,
            actor=lead,
            flag_id=flag.id,
            consent=agreed,
            share_assessment=False,
            now=when,
            clinician_id=cast.clinician.id if agreed else None,
        )
        if agreed and n % 3 != 2:
            await referrals.set_status(
                session, actor=clinician, referral_id=referral.id, status="contact_made", now=when + timedelta(days=3)
            )
            await referrals.set_status(
                session,
                actor=clinician,
                referral_id=referral.id,
                status="taken_up" if n % 2 else "not_taken_up",
                now=when + timedelta(days=10),
            )
    peer = cast.peers[5]
    taker = _actor(peer, ["responder", "peer"])
    for n, person in enumerate(cast.responders[18:26]):
        asked_at = now - timedelta(days=300 - n * 33)
        request = await requests.submit(
            session,
            actor=_actor(person, ["responder"]),
            data=requests.RequestInput(("today", "this_week", "when_convenient")[n % 3], "in_person", None, False),
            now=asked_at,
            settings=settings,
        )
        await requests.accept(
            session, actor=taker, request_id=request.id, now=asked_at + timedelta(hours=3), settings=settings
        )
        await requests.close(
            session,
            actor=taker,
            request_id=request.id,
            outcome="supported",
            now=asked_at + timedelta(days=2),
            settings=settings,
        )
