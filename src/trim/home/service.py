"""What needs this person now: counts and links per role, from each area's own services.

It sits above the areas (like records/): every count comes from a service function that
already applies the caller's scope, so home can show nothing the person could not open."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.config import Settings
from trim.flags import service as flags
from trim.followups import rules as followup_rules
from trim.followups import service as followups
from trim.followups.models import CheckInStatus
from trim.incidents import service as incidents
from trim.planning import service as planning
from trim.referrals import service as referrals
from trim.referrals.models import ReferralStatus
from trim.requests import service as requests
from trim.requests.models import RequestStatus

# A supervisor's home lists the incidents they logged this recently.
RECENT_INCIDENTS = timedelta(days=14)
OPEN_REFERRALS = (ReferralStatus.referred, ReferralStatus.contact_made)


@dataclass(frozen=True)
class Item:
    """One thing that needs the person: what, how many (None: not a count), where to act."""

    text: str
    href: str
    count: int | None = None
    urgent: bool = False
    detail: str = ""
    when: datetime | None = None


@dataclass
class Section:
    title: str
    items: list[Item] = field(default_factory=list)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _age(since: datetime, now: datetime) -> str:
    days = (now - since).days
    if days >= 1:
        return f"{days} {_plural(days, 'day', 'days')}"
    hours = int((now - since).total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} {_plural(hours, 'hour', 'hours')}"
    return "under an hour"


async def _lead(session: AsyncSession, actor: Actor, now: datetime, settings: Settings) -> Section:
    section = Section("Across the programme")
    open_flags = [f for f in await flags.list_flags(session, actor=actor, open_only=True) if f.person_id != actor.id]
    urgent = [f for f in open_flags if f.urgent]
    if urgent:
        oldest = min(f.raised_at for f in urgent)
        section.items.append(
            Item(
                f"{_plural(len(urgent), 'urgent flag', 'urgent flags')} open",
                "/flags",
                len(urgent),
                urgent=True,
                detail=f"the oldest has waited {_age(oldest, now)}",
            )
        )
    others = len(open_flags) - len(urgent)
    if others:
        section.items.append(Item(f"other {_plural(others, 'flag', 'flags')} open", "/flags", others))
    counts = await followups.count_by_status(session, actor=actor, now=now, settings=settings)
    if counts["overdue"]:
        n = counts["overdue"]
        section.items.append(Item(f"{_plural(n, 'check-in', 'check-ins')} overdue", "/overview", n, urgent=True))
    if counts["due"]:
        n = counts["due"]
        section.items.append(Item(f"{_plural(n, 'check-in', 'check-ins')} due now", "/overview", n))
    if counts["unassigned"]:
        n = counts["unassigned"]
        section.items.append(Item(f"open {_plural(n, 'check-in', 'check-ins')} with no peer", "/overview", n))
    waiting = [
        r
        for r in await requests.list_requests(session, actor=actor, settings=settings, now=now)
        if r.request.status == RequestStatus.open and r.request.requester_id != actor.id
    ]
    if waiting:
        n = len(waiting)
        section.items.append(
            Item(
                f"{_plural(n, 'request', 'requests')} for a peer waiting",
                "/requests",
                n,
                urgent=any(r.request.safety_concern for r in waiting),
            )
        )
    referred = [
        r
        for r in await referrals.list_referrals(session, actor=actor)
        if r.referral.status == ReferralStatus.referred and r.referral.person_id != actor.id
    ]
    if referred:
        n = len(referred)
        section.items.append(Item(f"{_plural(n, 'referral', 'referrals')} waiting for contact", "/flags", n))
    return section


async def _peer(session: AsyncSession, actor: Actor, now: datetime, settings: Settings) -> Section:
    section = Section("Your check-ins and requests")
    mine = await followups.list_checkins(
        session, actor=actor, statuses=("due", "overdue"), now=now, settings=settings, mine_as="peer", limit=500
    )
    overdue = sum(1 for c in mine if c.status == CheckInStatus.overdue)
    due = len(mine) - overdue
    if overdue:
        section.items.append(
            Item(f"{_plural(overdue, 'check-in', 'check-ins')} overdue", "/checkins", overdue, urgent=True)
        )
    if due:
        section.items.append(Item(f"{_plural(due, 'check-in', 'check-ins')} due today", "/checkins", due))
    visible = await requests.list_requests(session, actor=actor, settings=settings, now=now)
    taken = [r for r in visible if r.level == "taken" and r.request.status == RequestStatus.accepted]
    if taken:
        n = len(taken)
        section.items.append(Item(f"{_plural(n, 'request', 'requests')} you took, still open", "/requests", n))
    offered = [r for r in visible if r.level == "offered"]
    if offered:
        n = len(offered)
        section.items.append(
            Item(
                f"{_plural(n, 'request', 'requests')} you could take",
                "/requests",
                n,
                urgent=any(r.request.safety_concern for r in offered),
            )
        )
    return section


async def _for_me(session: AsyncSession, actor: Actor, now: datetime, settings: Settings) -> Section:
    section = Section("For you")
    upcoming = await followups.list_checkins(
        session,
        actor=actor,
        statuses=followup_rules.OPEN_STATUSES,
        now=now,
        settings=settings,
        mine_as="person",
        limit=1,
    )
    if upcoming:
        nxt = upcoming[0]
        with_whom = f" with {nxt.peer_name}" if nxt.peer_name else ""
        section.items.append(Item(f"Your next check-in{with_whom}", "/me/checkins", when=nxt.due_at))
    for view in await referrals.list_referrals(session, actor=actor, person_id=actor.id):
        r = view.referral
        if r.share_requested_at and not r.share_assessment and r.status in OPEN_REFERRALS:
            section.items.append(
                Item("A referral asks to share your check-ins: yours to decide", f"/referrals/{r.id}", urgent=True)
            )
    for own in await requests.list_requests(session, actor=actor, settings=settings, now=now, mine_only=True):
        if own.request.status in (RequestStatus.open, RequestStatus.accepted):
            state = "a peer has taken it" if own.request.status == RequestStatus.accepted else "waiting for a peer"
            section.items.append(Item("Your request for a peer", f"/requests/{own.request.id}", detail=state))
    return section


async def _clinician(session: AsyncSession, actor: Actor) -> Section:
    section = Section("Referrals to you")
    new = [
        r
        for r in await referrals.list_referrals(session, actor=actor, addressed_to_me=True)
        if r.referral.status == ReferralStatus.referred
    ]
    if new:
        n = len(new)
        oldest = min(r.referral.created_at for r in new)
        section.items.append(
            Item(
                f"new {_plural(n, 'referral', 'referrals')} waiting for contact",
                "/referrals",
                n,
                when=oldest,
                detail="the oldest sent",
            )
        )
    return section


async def _supervisor(session: AsyncSession, actor: Actor, now: datetime) -> Section:
    section = Section("Incidents you logged recently")
    recent, _ = await incidents.list_incidents(session, actor=actor, limit=20)
    for incident in recent:
        if incident.logged_by_person_id == actor.id and incident.occurred_at >= now - RECENT_INCIDENTS:
            section.items.append(
                Item(
                    f"{incident.kind_label} at {incident.station_name}"
                    if incident.station_name
                    else incident.kind_label,
                    f"/incidents/{incident.id}",
                    when=incident.occurred_at,
                )
            )
    return section


async def home_for(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> list[Section]:
    """What needs this person now, one section per role they hold (empty sections left out)."""
    sections: list[Section] = []
    if actor.is_lead:
        lead = await _lead(session, actor, now, settings)
        # Planning due comes straight after any urgent flags.
        after_urgent = sum(1 for item in lead.items if item.urgent and item.href == "/flags")
        lead.items[after_urgent:after_urgent] = await planning_due_items(
            session, actor=actor, now=now, settings=settings
        )
        sections.append(lead)
    if actor.is_peer:
        sections.append(await _peer(session, actor, now, settings))
    if actor.is_clinician:
        sections.append(await _clinician(session, actor))
    if actor.is_supervisor:
        sections.append(await _supervisor(session, actor, now))
    sections.append(await _for_me(session, actor, now, settings))
    return [s for s in sections if s.items]


async def planning_due_items(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> list[Item]:
    """The lead's "planning due" item (design section 12): incidents past the planning
    window without a planning record; none when there are none."""
    due = await planning.planning_due(session, actor=actor, now=now, settings=settings)
    if not due:
        return []
    n = len(due)
    oldest = min(d.due_since for d in due)
    return [
        Item(
            f"{_plural(n, 'incident', 'incidents')} with planning due",
            "/overview#planning-due",
            n,
            urgent=True,
            detail=f"no planning meeting recorded; the oldest has been due {_age(oldest, now)}",
        )
    ]
