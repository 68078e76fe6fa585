"""Flags: raising them (once per cause), telling the right people, and acting on them.

Every change to the flags table is made here. The areas whose events raise flags
(assessments, incidents, requests) and the referral conversation that resolves one call
in; flags calls only accounts, notifications and privacy.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.config import Settings
from trim.errors import Conflict, InvalidInput, NotFound
from trim.flags import rules
from trim.flags.models import Flag, FlagStatus
from trim.followups import rules as followups
from trim.followups.models import CheckIn, Outcome
from trim.incidents.models import Exposure, Incident
from trim.notifications import service as notifications
from trim.privacy import audit, policy
from trim.referrals.models import Referral, ReferralService

# -- raising -------------------------------------------------------------------------


async def raise_flag(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    cause: str,
    cause_key: str,
    now: datetime,
    exposure_id: uuid.UUID | None = None,
    source_assessment_id: uuid.UUID | None = None,
    source_request: uuid.UUID | None = None,
    peer_id: uuid.UUID | None = None,
) -> Flag | None:
    """Raise a flag once per cause: a second attempt (a retry, a twin request, another
    peer at the same moment) finds the unique cause_key taken and raises nothing."""
    existing = (await session.exec(select(Flag.id).where(Flag.cause_key == cause_key))).first()
    if existing is not None:
        return None
    flag = Flag(
        person_id=person_id,
        exposure_id=exposure_id,
        cause=cause,
        cause_key=cause_key,
        urgent=cause in rules.URGENT_CAUSES,
        raised_at=now,
        source_assessment_id=source_assessment_id,
        source_request_id=source_request,
    )
    try:
        async with session.begin_nested():
            session.add(flag)
            await session.flush()
    except IntegrityError:
        return None
    audit.record_row(
        session, actor="system", action="flag.raised", row=flag, details={"cause": cause, "urgent": flag.urgent}, at=now
    )
    await _notify_flag(session, flag=flag, now=now, peer_id=peer_id)
    return flag


async def _notify_flag(
    session: AsyncSession, *, flag: Flag, now: datetime, again: bool = False, peer_id: uuid.UUID | None = None
) -> None:
    """Tell the person's peer (for an exposure, or `peer_id`: the peer of the periodic
    check-in that raised it) and the lead; urgent ones cannot be switched off. The email
    says only that a flag needs attention, with a link."""
    kind = "urgent_flag" if flag.urgent else "flag"
    subject = "Urgent: a safety concern needs you now" if flag.urgent else "A flag needs your attention"
    if again:
        subject = "A flag under watchful waiting needs your attention again"
    body = (
        "A safety concern was raised. Please open trim now and follow the crisis guidance."
        if flag.urgent
        else "Someone you support may benefit from an offer of a confidential referral."
    )
    link = f"/flags/{flag.id}"
    # Reopened after watchful waiting: a new email, once per reopening.
    prefix = f"flag:{flag.id}:reopened:{flag.monitor_checkin_id}" if again else f"flag:{flag.id}"
    recipients = list(await notifications.role_holders(session, "lead"))
    if flag.exposure_id is not None:
        peer = (await session.exec(select(Exposure.peer_id).where(Exposure.id == flag.exposure_id))).first()
        if peer is not None and peer not in recipients:
            recipients.append(peer)
    elif peer_id is not None and peer_id not in recipients:
        recipients.append(peer_id)
    messages = [
        notifications.Message(
            kind, subject, body, person_id=person, link=link, urgent=flag.urgent, dedupe_key=f"{prefix}:{person}"
        )
        for person in recipients
        if person != flag.person_id
    ]
    await notifications.enqueue_many(session, messages, now=now)


async def evaluate_exposure(
    session: AsyncSession,
    *,
    exposure_id: uuid.UUID,
    person_id: uuid.UUID,
    history: Sequence[rules.ScheduledCheckin],
    now: datetime,
    settings: Settings,
    source_assessment_id: uuid.UUID | None = None,
) -> list[Flag]:
    """Raise whatever exposure-level flags the exposure's recorded check-ins (`history`,
    as assessments reads them) now call for."""
    causes = rules.exposure_flags(history, consecutive=settings.consecutive_elevated_for_flag)
    raised = []
    for cause in sorted(causes):
        flag = await raise_flag(
            session,
            person_id=person_id,
            exposure_id=exposure_id,
            cause=cause,
            cause_key=f"{cause}:{exposure_id}",
            source_assessment_id=source_assessment_id,
            now=now,
        )
        if flag is not None:
            raised.append(flag)
    return raised


async def evaluate_periodic(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    peer_id: uuid.UUID | None,
    history: Mapping[uuid.UUID, rules.ScheduledCheckin],
    now: datetime,
    settings: Settings,
    source_assessment_id: uuid.UUID | None = None,
) -> list[Flag]:
    """Raise whatever flags the person's periodic check-ins (`history` by check-in id, as
    assessments reads them) now call for: no exposure, keyed by the check-in that met
    the cause, so each is raised once however often it is submitted."""
    causes = rules.periodic_flags(
        [(str(k), c) for k, c in history.items()], consecutive=settings.consecutive_elevated_for_flag
    )
    raised = []
    for cause, key in sorted(causes):
        flag = await raise_flag(
            session,
            person_id=person_id,
            cause=cause,
            cause_key=f"{cause}:periodic:{key}",
            source_assessment_id=source_assessment_id,
            peer_id=peer_id,
            now=now,
        )
        if flag is not None:
            raised.append(flag)
    return raised


async def check_cumulative(
    session: AsyncSession, *, person_ids: Sequence[uuid.UUID], now: datetime, settings: Settings
) -> list[Flag]:
    """Several incidents in a short time: a flag offering a proactive check-in, even when
    every score is low. The same cluster of incidents raises it once."""
    window = timedelta(days=settings.cumulative_window_days)
    raised: list[Flag] = []
    times: dict[uuid.UUID, list[datetime]] = {pid: [] for pid in person_ids}
    for start_at in range(0, len(person_ids), 500):
        chunk = list(person_ids[start_at : start_at + 500])
        rows = await session.exec(
            select(Exposure.person_id, Incident.occurred_at)
            .join(Incident, col(Incident.id) == col(Exposure.incident_id))
            .where(col(Exposure.person_id).in_(chunk), col(Exposure.removed_at).is_(None))
        )
        for person, occurred in rows:
            times[person].append(occurred)
    due: dict[str, uuid.UUID] = {}
    for person_id in person_ids:
        if len(times[person_id]) < settings.cumulative_incidents_for_flag:
            continue
        start = rules.cumulative_window_start(
            times[person_id], threshold=settings.cumulative_incidents_for_flag, window=window
        )
        if start is not None:
            due[f"cumulative:{person_id}:{start.date().isoformat()}"] = person_id
    keys = list(due)
    for start_at in range(0, len(keys), 500):
        for existing in await session.exec(
            select(Flag.cause_key).where(col(Flag.cause_key).in_(keys[start_at : start_at + 500]))
        ):
            due.pop(existing, None)
    if not due:
        return raised
    fresh = [
        Flag(person_id=person_id, cause="cumulative_exposure", cause_key=key, raised_at=now)
        for key, person_id in due.items()
    ]
    try:
        async with session.begin_nested():  # one savepoint for them all
            session.add_all(fresh)
            await session.flush()
        raised = fresh
        for flag in fresh:
            audit.record_row(
                session,
                actor="system",
                action="flag.raised",
                row=flag,
                details={"cause": flag.cause, "urgent": False},
                at=now,
            )
        await notifications.notify_role(
            session,
            role="lead",
            kind="flag",
            subject="New offers of support to make",
            body=f"{len(fresh)} colleague(s) have been at several incidents in a short time. Consider offering "
            "a check-in.",
            link="/flags",
            now=now,
        )
    except IntegrityError:
        # Another transaction raised one of them meanwhile: go one at a time.
        for key, person_id in due.items():
            one = await raise_flag(session, person_id=person_id, cause="cumulative_exposure", cause_key=key, now=now)
            if one is not None:
                raised.append(one)
    return raised


# -- acting on a flag ------------------------------------------------------------------


async def open_flag_to_act_on(session: AsyncSession, *, actor: Actor, flag_id: uuid.UUID) -> Flag:
    """The flag, if the actor may see it, act on it (never the person themselves), and it
    is still open; the same NotFound otherwise, and a Conflict once it was resolved."""
    flag = await policy.access_flag(session, actor, flag_id)
    if not policy.can_act_on_flag(actor, flag):
        raise NotFound()
    # Two people acting on one flag at once (a peer offering a referral while the lead closes
    # it): the row lock makes the second wait for the first and then see its outcome, so a
    # flag is resolved once and never gets two referrals. (SQLite: one writer at a time.)
    await session.refresh(flag, with_for_update=True)
    if flag.status != FlagStatus.open:
        raise Conflict("This flag has already been resolved.")
    return flag


def _resolve(flag: Flag, *, actor: Actor, status: FlagStatus, now: datetime) -> None:
    flag.status = status.value
    flag.resolved_at = now
    flag.resolved_by_id = actor.id
    flag.acknowledged_at = flag.acknowledged_at or now
    flag.acknowledged_by_id = flag.acknowledged_by_id or actor.id


async def resolve_by_referral(session: AsyncSession, *, actor: Actor, flag: Flag, consent: bool, now: datetime) -> Flag:
    """The referral conversation was held on this open flag (from `open_flag_to_act_on`):
    referred when the person agreed, declined when they said no. Audited by referrals, as
    the referral it records."""
    if not policy.can_act_on_flag(actor, flag) or flag.status != FlagStatus.open:
        raise NotFound()
    _resolve(flag, actor=actor, status=FlagStatus.referred if consent else FlagStatus.declined, now=now)
    session.add(flag)
    return flag


async def close_flag(session: AsyncSession, *, actor: Actor, flag_id: uuid.UUID, reason: str, now: datetime) -> Flag:
    """Close a flag with a reason (e.g. already seeing their GP)."""
    cleaned = reason.strip()
    if not cleaned:
        raise InvalidInput.field("reason", "Give a short reason for closing the flag.")
    if len(cleaned) > rules.REASON_MAX:
        raise InvalidInput.field("reason", f"Keep the reason under {rules.REASON_MAX} characters.")
    flag = await open_flag_to_act_on(session, actor=actor, flag_id=flag_id)
    _resolve(flag, actor=actor, status=FlagStatus.closed, now=now)
    flag.resolution_reason = cleaned
    session.add(flag)
    audit.record_row(session, actor=actor, action="flag.closed", row=flag, at=now)
    return flag


@dataclass(frozen=True)
class Monitored:
    flag: Flag
    checkin: CheckIn


async def monitor_flag(
    session: AsyncSession, *, actor: Actor, flag_id: uuid.UUID, days: int | None, now: datetime, settings: Settings
) -> Monitored:
    """Resolve a flag by watchful waiting (design section 4): an extra check-in (kind
    "monitor") with the person's peer in `days` days, scheduled like any other and judged
    by the same rules; its answers close the flag or reopen it."""
    chosen = settings.monitor_default_days if days is None else days
    problem = rules.monitor_days_problem(chosen, shortest=settings.monitor_min_days, longest=settings.monitor_max_days)
    if problem:
        raise InvalidInput.field("days", problem)
    flag = await open_flag_to_act_on(session, actor=actor, flag_id=flag_id)
    if flag.exposure_id is None:
        raise InvalidInput(
            "Watchful waiting adds a check-in to an incident's follow-up, and this flag has no incident: "
            "offer a referral, or close it with a reason."
        )
    if flag.urgent and flag.acknowledged_at is None:
        raise Conflict("Say what was done straight away (acknowledge the flag) before choosing watchful waiting.")
    exposure = await session.get(Exposure, flag.exposure_id)
    incident = await session.get(Incident, exposure.incident_id) if exposure is not None else None
    if exposure is None or incident is None or exposure.removed_at is not None or exposure.opted_out_at is not None:
        raise InvalidInput(
            "This person has no follow-up on that incident any more, so no check-in can be added: "
            "offer a referral, or close the flag with a reason."
        )
    if exposure.peer_id is None:
        raise InvalidInput("There is no peer supporter for this person yet: the lead names one first.")
    zone = settings.zone
    offset = rules.monitor_offset(
        incident_day=incident.occurred_at.astimezone(zone).date(), today=now.astimezone(zone).date(), days=chosen
    )
    scheduled = followups.scheduled_time(incident.occurred_at, offset, zone)
    checkin = CheckIn(
        exposure_id=exposure.id,
        incident_id=exposure.incident_id,
        person_id=exposure.person_id,
        peer_id=exposure.peer_id,
        kind=followups.MONITOR_KIND,
        offset_days=offset,
        scheduled_for=scheduled,
        due_at=followups.due_time(scheduled, now),
        created_at=now,
    )
    session.add(checkin)
    await session.flush()
    flag.status = FlagStatus.monitoring.value
    flag.monitor_checkin_id = checkin.id
    flag.acknowledged_at = flag.acknowledged_at or now
    flag.acknowledged_by_id = flag.acknowledged_by_id or actor.id
    session.add(flag)
    audit.record_row(
        session,
        actor=actor,
        action="flag.monitoring",
        row=flag,
        details={"checkin_id": checkin.id, "days": chosen},
        at=now,
    )
    return Monitored(flag=flag, checkin=checkin)


async def settle_monitored(
    session: AsyncSession,
    *,
    checkin_id: uuid.UUID,
    outcome: str,
    persistent: bool,
    tsq_flagged: bool,
    now: datetime,
    corrected: bool = False,
) -> list[Flag]:
    """A watchful-waiting check-in was recorded (assessments calls in, under the exposure
    lock): each flag it was watching closes when nothing persists, or opens again (with
    its peer and the lead told) for a person to act on.

    A correction of that check-in is judged again: when the corrected record shows
    difficulties, a flag this check-in had closed opens again, as it would have had the
    record been right the first time. A correction never closes a flag it had reopened:
    its peer and the lead were told, and a person decides."""
    verdict = rules.monitor_verdict(outcome=outcome, persistent=persistent, tsq_flagged=tsq_flagged)
    if verdict is None:
        return []
    watching: ColumnElement[bool] = col(Flag.status) == FlagStatus.monitoring
    if corrected and verdict == "reopen":
        closed_by_it = and_(
            col(Flag.status) == FlagStatus.closed, col(Flag.resolution_reason) == rules.MONITOR_SETTLED_REASON
        )
        watching = or_(watching, closed_by_it)
    watched = list(
        await session.exec(select(Flag).where(col(Flag.monitor_checkin_id) == checkin_id, watching).with_for_update())
    )
    for flag in watched:
        if verdict == "close":
            flag.status = FlagStatus.closed.value
            flag.resolved_at = now
            flag.resolution_reason = rules.MONITOR_SETTLED_REASON
            audit.record_row(session, actor="system", action="flag.closed", row=flag, details={"by": "monitor"}, at=now)
        else:
            details = None
            if flag.status == FlagStatus.closed:  # closed by this check-in's earlier record
                flag.resolution_reason, details = None, {"by": "correction"}
            flag.status = FlagStatus.open.value
            flag.resolved_at = None
            audit.record_row(session, actor="system", action="flag.reopened", row=flag, details=details, at=now)
        session.add(flag)
    if verdict == "reopen":
        for flag in watched:
            await _notify_flag(session, flag=flag, now=now, again=True)
    return watched


async def release_monitors(session: AsyncSession, *, exposure_id: uuid.UUID, now: datetime) -> list[Flag]:
    """The exposure's open check-ins were just cancelled (the person opted out, or was taken
    off the incident): a flag whose watchful-waiting check-in went with them opens again,
    so a person decides instead of it waiting for a check-in that will never come."""
    watched = list(
        await session.exec(
            select(Flag)
            .join(CheckIn, col(CheckIn.id) == col(Flag.monitor_checkin_id))
            .where(
                col(Flag.exposure_id) == exposure_id,
                Flag.status == FlagStatus.monitoring,
                CheckIn.outcome == Outcome.cancelled,
            )
            .with_for_update(of=Flag)
        )
    )
    for flag in watched:
        flag.status = FlagStatus.open.value
        flag.resolved_at = None
        session.add(flag)
        audit.record_row(session, actor="system", action="flag.reopened", row=flag, details={"by": "cancelled"}, at=now)
        await _notify_flag(session, flag=flag, now=now, again=True)
    return watched


async def acknowledge_flag(
    session: AsyncSession,
    *,
    actor: Actor,
    flag_id: uuid.UUID,
    action: str,
    note: str | None = None,
    now: datetime,
) -> Flag:
    """Someone has picked up an urgent flag and says what was done at once (design
    section 4): the on-call escalation stops. The audit holds the action, never the words.
    A second acknowledgement changes nothing."""
    flag = await policy.access_flag(session, actor, flag_id)
    if not policy.can_act_on_flag(actor, flag):
        raise NotFound()
    problem = rules.acknowledgement_problem(action, note)
    if problem:
        raise InvalidInput.field(*problem)
    if flag.acknowledged_at is None:
        flag.acknowledged_at = now
        flag.acknowledged_by_id = actor.id
        flag.acknowledged_action = action
        flag.acknowledged_note = (note or "").strip() or None
        session.add(flag)
        audit.record_row(session, actor=actor, action="flag.acknowledged", row=flag, details={"action": action}, at=now)
    return flag


# -- reading -------------------------------------------------------------------------


async def list_flags(
    session: AsyncSession,
    *,
    actor: Actor,
    person_id: uuid.UUID | None = None,
    open_only: bool = False,
    limit: int = 500,
    offset: int = 0,
) -> list[Flag]:
    """Flags in the actor's scope, urgent and newest first."""
    stmt = policy.visible_flags(actor)
    if person_id is not None:
        stmt = stmt.where(Flag.person_id == person_id)
    if open_only:
        stmt = stmt.where(Flag.status == FlagStatus.open)
    stmt = stmt.order_by(col(Flag.urgent).desc(), col(Flag.raised_at).desc(), col(Flag.id)).limit(limit).offset(offset)
    return list(await session.exec(stmt))


async def flag_causes(session: AsyncSession, *, flag_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The cause of each flag, for referral pages (the cause is what the referral says it
    came of; the caller has fetched the referrals through policy)."""
    if not flag_ids:
        return {}
    return {
        f_id: cause for f_id, cause in await session.exec(select(Flag.id, Flag.cause).where(col(Flag.id).in_(flag_ids)))
    }


async def pseudonyms_of_flags(
    session: AsyncSession, *, actor: Actor, flag_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """For flags born of a request without a name that the actor may not name: the
    pseudonym a referral page shows instead of the person's name, by flag id (the caller
    has fetched the referrals through policy)."""
    if not flag_ids:
        return {}
    found = list(await session.exec(select(Flag).where(col(Flag.id).in_(flag_ids))))
    return await policy.hidden_requester_names(session, actor, found)


async def flag_of_shared_referral(session: AsyncSession, *, actor: Actor, referral: Referral) -> Flag | None:
    """The flag behind a referral whose person agreed to share it with this clinician
    (who cannot see flags as such): None for anyone else."""
    if not policy.can_read_shared_assessment(actor, referral) or referral.flag_id is None:
        return None
    return await session.get(Flag, referral.flag_id)


@dataclass
class FlagView:
    flag: Flag
    person_name: str
    referral: Referral | None

    @property
    def status_label(self) -> str:
        return rules.STATUS_LABELS.get(self.flag.status, self.flag.status)


async def _flag_views(session: AsyncSession, flags: list[Flag], actor: Actor) -> list[FlagView]:
    # Only flags fetched through policy come here; a flag's referral shows with it. Someone
    # who asked for a peer without their name is shown to that peer by their pseudonym.
    names = await accounts.names_of(session, [f.person_id for f in flags])
    hidden = await policy.hidden_requester_names(session, actor, flags)
    referrals: dict[uuid.UUID, Referral] = {}
    if flags:
        for referral in await session.exec(select(Referral).where(col(Referral.flag_id).in_([f.id for f in flags]))):
            if referral.flag_id is not None:
                referrals[referral.flag_id] = referral
    return [
        FlagView(flag=f, person_name=hidden.get(f.id) or names.get(f.person_id, ""), referral=referrals.get(f.id))
        for f in flags
    ]


async def unnamed_flags(session: AsyncSession, *, actor: Actor, flags: Sequence[Flag]) -> set[uuid.UUID]:
    """Flags (fetched through policy) whose person the actor may not name: born of a request
    without a name, until the requester shows it."""
    return set(await policy.hidden_requester_names(session, actor, flags))


async def flags_to_act_on(session: AsyncSession, *, actor: Actor) -> list[FlagView]:
    """The flags page: flags in the actor's scope about other people, with their referral."""
    flags = await list_flags(session, actor=actor)
    return await _flag_views(session, [f for f in flags if f.person_id != actor.id], actor)


@dataclass
class UrgentRow:
    """An urgent flag on the lead's overview: how long it has waited, or who picked it up,
    how quickly and what kind of action it was (never the words)."""

    view: FlagView
    waited: str | None  # still waiting: for how long
    within: str | None  # picked up: how quickly
    by_name: str | None
    action_label: str | None


async def urgent_overview(
    session: AsyncSession, *, actor: Actor, now: datetime, recent_days: int = 30
) -> list[UrgentRow]:
    """The lead's overview, at the top: urgent flags nobody has picked up (oldest first),
    then those picked up in the last `recent_days`, with how quickly."""
    if not actor.is_lead:
        raise NotFound()
    waiting = list(
        await session.exec(
            policy.visible_flags(actor)
            .where(col(Flag.urgent).is_(True), Flag.status == FlagStatus.open, col(Flag.acknowledged_at).is_(None))
            .order_by(col(Flag.raised_at), col(Flag.id))
            .limit(200)
        )
    )
    picked_up = list(
        await session.exec(
            policy.visible_flags(actor)
            .where(col(Flag.urgent).is_(True), col(Flag.acknowledged_at) >= now - timedelta(days=recent_days))
            .order_by(col(Flag.acknowledged_at).desc(), col(Flag.id))
            .limit(50)
        )
    )
    flags = [f for f in waiting + picked_up if f.person_id != actor.id]
    views = await _flag_views(session, flags, actor)
    by = await accounts.names_of(session, [f.acknowledged_by_id for f in flags if f.acknowledged_by_id])
    rows = []
    for view in views:
        f = view.flag
        if f.acknowledged_at is None:
            rows.append(UrgentRow(view, rules.acknowledged_within(f.raised_at, now), None, None, None))
        else:
            rows.append(
                UrgentRow(
                    view,
                    None,
                    rules.acknowledged_within(f.raised_at, f.acknowledged_at),
                    by.get(f.acknowledged_by_id) if f.acknowledged_by_id else None,
                    rules.ACK_ACTIONS.get(f.acknowledged_action or "", "Resolved without a note of what was done"),
                )
            )
    return rows


async def flag_detail(session: AsyncSession, *, actor: Actor, flag_id: uuid.UUID, now: datetime) -> FlagView:
    """One flag with its referral, if the actor may see it. Opening it is audited."""
    flag = await policy.access_flag(session, actor, flag_id)
    audit.record_row(session, actor=actor, action="flag.viewed", row=flag, at=now)
    return (await _flag_views(session, [flag], actor))[0]


async def support_started(session: AsyncSession, *, exposures: Sequence[Exposure]) -> set[uuid.UUID]:
    """The exposures whose person's support has started: a completed check-in on it, or an
    open flag that its peer sees through it (its own, or one with no exposure, such as
    several incidents in a short time). A flag born of a request for a peer belongs to the
    request, not to any incident, so it is not counted (nor told) here. The answer is ids
    alone, for the removal rule (`policy.can_remove_exposure`); nothing of a flag is shown."""
    if not exposures:
        return set()
    by_id = {e.id: e for e in exposures}
    started = {
        e
        for e in await session.exec(
            select(CheckIn.exposure_id)
            .where(col(CheckIn.exposure_id).in_(list(by_id)), CheckIn.outcome == Outcome.completed)
            .distinct()
        )
        if e is not None
    }
    flags = await session.exec(
        select(Flag.person_id, Flag.exposure_id).where(
            Flag.status == FlagStatus.open,
            col(Flag.source_request_id).is_(None),
            col(Flag.person_id).in_(list({e.person_id for e in exposures})),
        )
    )
    for person_id, exposure_id in flags:
        if exposure_id is not None:
            if exposure_id in by_id:
                started.add(exposure_id)
        else:
            started.update(e.id for e in exposures if e.person_id == person_id)
    return started


@dataclass
class ReferralChoices:
    """Where a referral from a flag can go, for the form on the flag's page."""

    clinicians: list[accounts.PersonView]
    services: list[ReferralService]


async def referral_choices(session: AsyncSession, *, actor: Actor) -> ReferralChoices:
    """Clinicians who use trim (never the actor: nobody refers to themselves) and the active
    services in the lead's directory, for those who may act on flags."""
    if actor.is_token or not (actor.is_lead or actor.is_peer):
        return ReferralChoices(clinicians=[], services=[])
    clinicians = await accounts.search_people(session, actor=actor, role="clinician", limit=200)
    services = await session.exec(
        select(ReferralService).where(col(ReferralService.active).is_(True)).order_by(col(ReferralService.name))
    )
    return ReferralChoices(clinicians=[c for c in clinicians if c.id != actor.id], services=list(services))


# -- retention ------------------------------------------------------------------------


async def deidentify_for_exposure(session: AsyncSession, *, exposure_id: uuid.UUID, stand_in: uuid.UUID) -> None:
    """The retention purge: an exposure's flags move to the person's stand-in, and the
    free-text reason they were closed with goes."""
    await session.exec(
        update(Flag)
        .where(col(Flag.exposure_id) == exposure_id)
        .values(person_id=stand_in, resolution_reason=None)
        .execution_options(synchronize_session=False)
    )


async def deidentify_for_request(session: AsyncSession, *, request_id: uuid.UUID, stand_in: uuid.UUID) -> None:
    """The retention purge: the flag a request for a peer raised moves to the stand-in."""
    await session.exec(
        update(Flag)
        .where(col(Flag.source_request_id) == request_id)
        .values(person_id=stand_in, resolution_reason=None)
        .execution_options(synchronize_session=False)
    )


def deidentify(session: AsyncSession, *, flag: Flag, stand_in: uuid.UUID) -> None:
    """The retention purge: one flag (of no exposure nor request) moves to the stand-in."""
    flag.person_id = stand_in
    flag.resolution_reason = None
    session.add(flag)
