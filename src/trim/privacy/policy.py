"""Who may see what: section 3 of the design, in one place.

Each rule exists once, in two shapes side by side, deny by default: a Python
check for one record (`can_view_x(actor, row)`) and a SQL predicate or query for
lists and counts (`x_scope(actor)`, `visible_x(actor)`); tests prove they agree.
Services ask here; routes never decide. "Own" applies to every signed-in person:
anyone may see what is held about themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from trim.accounts.actor import Actor
from trim.accounts.models import Person
from trim.assessments.models import Assessment
from trim.errors import NotFound
from trim.flags.models import Flag, FlagStatus
from trim.followups.models import CheckIn
from trim.followups.rules import PERIODIC_KIND
from trim.incidents.models import Exposure, Incident
from trim.privacy.models import AuditEvent
from trim.referrals.models import Referral, ReferralStatus
from trim.requests import rules as request_rules
from trim.requests.models import ConversationMessage, PeerRequest, RequestStatus
from trim.requests.rules import PeerFacts
from trim.sharing.models import NoteStatus, SharedNote

# -- the staff directory ---------------------------------------------------------

# Roles that pick people from the directory (to log incidents, assign, manage).
PEOPLE_PICKERS = ("lead", "admin", "supervisor", "peer")


def can_pick_people(actor: Actor) -> bool:
    return not actor.is_token and actor.has(*PEOPLE_PICKERS)


def pickable_people(actor: Actor) -> SelectOfScalar[Person]:
    """The staff directory (names, staff numbers, stations): for those who pick people."""
    stmt = select(Person)
    if not can_pick_people(actor):
        return stmt.where(false())
    return stmt


# -- incidents ------------------------------------------------------------------------

INCIDENT_LOGGERS = ("lead", "peer", "supervisor")


def can_log_incident(actor: Actor) -> bool:
    if actor.is_token:
        return "incidents:write" in actor.token_scopes
    return actor.has(*INCIDENT_LOGGERS)


def _live_exposure(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        col(Exposure.incident_id) == col(Incident.id), col(Exposure.removed_at).is_(None), *conditions
    )


def incident_scope(actor: Actor) -> ColumnElement[bool]:
    """Incident facts: the lead all; anyone the incidents they logged or were exposed
    to; a peer those of people assigned to them; a supervisor their station's."""
    if actor.is_token or actor.id is None:
        return false()
    if actor.is_lead:
        return true()
    parts = [
        col(Incident.logged_by_person_id) == actor.id,
        _live_exposure(col(Exposure.person_id) == actor.id),
    ]
    if actor.is_peer:
        parts.append(_live_exposure(col(Exposure.peer_id) == actor.id))
    if actor.is_supervisor and actor.station_id is not None:
        # Their station's incidents; never a support contact born of a request for a peer.
        parts.append(and_(col(Incident.station_id) == actor.station_id, col(Incident.source) == "logged"))
    return or_(*parts)


def visible_incidents(actor: Actor) -> SelectOfScalar[Incident]:
    return select(Incident).where(incident_scope(actor))


def can_view_incident(actor: Actor, incident: Incident, exposures: Sequence[Exposure]) -> bool:
    """`incident_scope` for one incident; `exposures` holds its exposures (live or removed)."""
    if actor.is_token or actor.id is None:
        return False
    if actor.is_lead or incident.logged_by_person_id == actor.id:
        return True
    live = [e for e in exposures if e.incident_id == incident.id and e.removed_at is None]
    if any(e.person_id == actor.id for e in live):
        return True
    if actor.is_peer and any(e.peer_id == actor.id for e in live):
        return True
    return (
        actor.is_supervisor
        and actor.station_id is not None
        and incident.station_id == actor.station_id
        and incident.source == "logged"
    )


async def access_incident(session: AsyncSession, actor: Actor, incident_id: uuid.UUID) -> Incident:
    """The incident if the actor may see its facts; otherwise the same NotFound as a missing one."""
    found = (await session.exec(visible_incidents(actor).where(col(Incident.id) == incident_id))).first()
    if found is None:
        raise NotFound()
    return found


def token_incident_scope(actor: Actor) -> ColumnElement[bool]:
    """What an integration token may read back: the incidents it logged itself, while it
    holds the incidents:write scope. People never see incidents through this."""
    if not actor.is_token or actor.token_id is None or "incidents:write" not in actor.token_scopes:
        return false()
    return col(Incident.logged_by_token_id) == actor.token_id


def token_may_view_incident(actor: Actor, incident: Incident) -> bool:
    """`token_incident_scope` for one incident."""
    if not actor.is_token or actor.token_id is None or "incidents:write" not in actor.token_scopes:
        return False
    return incident.logged_by_token_id is not None and incident.logged_by_token_id == actor.token_id


async def access_token_incident(session: AsyncSession, actor: Actor, incident_id: uuid.UUID) -> Incident:
    """The incident if this token logged it; otherwise the same NotFound as a missing one."""
    stmt = select(Incident).where(token_incident_scope(actor), col(Incident.id) == incident_id)
    found = (await session.exec(stmt)).first()
    if found is None:
        raise NotFound()
    return found


def can_manage_incident(actor: Actor, incident: Incident) -> bool:
    """Change the facts or who was exposed: the lead, or the person who logged it."""
    if actor.is_token or actor.id is None:
        return False
    return actor.is_lead or incident.logged_by_person_id == actor.id


def can_remove_exposure(actor: Actor, incident: Incident, *, support_started: bool) -> bool:
    """Take someone off an incident: whoever manages it, until the person's support has
    started (a completed check-in, an open flag); from then on the lead alone, so support
    is never dismantled quietly by someone who cannot see it."""
    return can_manage_incident(actor, incident) and (actor.is_lead or not support_started)


@dataclass(frozen=True)
class ExposureAccess:
    """What the actor may see of one exposed person on an incident."""

    name: bool = False
    status: bool = False  # check-in schedule, status and assigned peer


NO_ACCESS = ExposureAccess()


def exposure_access(actor: Actor, incident: Incident, exposure: Exposure) -> ExposureAccess:
    if actor.is_token or actor.id is None:
        return NO_ACCESS
    if actor.is_lead:
        return ExposureAccess(name=True, status=True)
    if exposure.person_id == actor.id:
        return ExposureAccess(name=True, status=True)
    if actor.is_peer and exposure.peer_id == actor.id and exposure.removed_at is None:
        return ExposureAccess(name=True, status=True)
    if incident.logged_by_person_id == actor.id:
        # Names as entered, no status: the logger (often a supervisor) learns nothing more.
        return ExposureAccess(name=True, status=False)
    return NO_ACCESS


# -- the planning meeting and group briefings (section 12) ------------------------------

# Who holds the planning meeting: the lead, or a TRiM manager (a peer with that role).
PLANNERS = ("lead", "trim_manager")


def can_plan(actor: Actor) -> bool:
    """The coarse part of the planning rule: holds the lead or the TRiM manager role."""
    return not actor.is_token and actor.id is not None and actor.has(*PLANNERS)


def planning_scope(actor: Actor) -> ColumnElement[bool]:
    """Incidents whose planning record (and briefings) the actor may read and write: every
    logged critical incident, for the lead and TRiM managers. A support contact grown from
    a request for a peer has no planning meeting. Reading it shows the incident's facts
    and the names of the people exposed, with their routes; never their check-ins."""
    if not can_plan(actor):
        return false()
    return col(Incident.source) == "logged"


def can_plan_incident(actor: Actor, incident: Incident) -> bool:
    """`planning_scope` for one incident."""
    return can_plan(actor) and incident.source == "logged"


async def access_planning(session: AsyncSession, actor: Actor, incident_id: uuid.UUID) -> Incident:
    """The incident if the actor may hold its planning meeting; otherwise the same NotFound
    as a missing one."""
    found = (await session.exec(select(Incident).where(planning_scope(actor), col(Incident.id) == incident_id))).first()
    if found is None:
        raise NotFound()
    return found


def can_view_route(actor: Actor, incident: Incident, exposure: Exposure) -> bool:
    """A person's planning route goes with their schedule: the lead, the person, their
    assigned peer (planners read every route through `planning_scope`). A supervisor
    sees only that planning was held, never anyone's route."""
    return exposure_access(actor, incident, exposure).status


# -- check-ins ---------------------------------------------------------------------


def checkin_scope(actor: Actor) -> ColumnElement[bool]:
    """Check-in schedule and status: own; a peer's assigned ones; the lead all."""
    if actor.is_token or actor.id is None:
        return false()
    if actor.is_lead:
        return true()
    parts = [col(CheckIn.person_id) == actor.id]
    if actor.is_peer:
        parts.append(col(CheckIn.peer_id) == actor.id)
    return or_(*parts)


def can_view_checkin(actor: Actor, checkin: CheckIn) -> bool:
    if actor.is_token or actor.id is None:
        return False
    if actor.is_lead:
        return True
    if checkin.person_id == actor.id:
        return True
    return actor.is_peer and checkin.peer_id == actor.id


def visible_checkins(actor: Actor) -> SelectOfScalar[CheckIn]:
    return select(CheckIn).where(checkin_scope(actor))


async def access_checkin(session: AsyncSession, actor: Actor, checkin_id: uuid.UUID) -> CheckIn:
    found = (await session.exec(visible_checkins(actor).where(col(CheckIn.id) == checkin_id))).first()
    if found is None:
        raise NotFound()
    return found


def can_record_checkin(actor: Actor, checkin: CheckIn) -> bool:
    """Only the assigned peer records a check-in (the lead reassigns to themselves
    first, when they hold the peer role too)."""
    return (
        not actor.is_token
        and actor.is_peer
        and checkin.peer_id is not None
        and checkin.peer_id == actor.id
        and checkin.person_id != actor.id
    )


def can_answer_own_checkin(actor: Actor, checkin: CheckIn) -> bool:
    """Only the person a check-in is about answers its questionnaire themselves (design
    section 14); an integration's token never does."""
    return not actor.is_token and actor.id is not None and checkin.person_id == actor.id


def can_read_self_answers(actor: Actor, checkin: CheckIn) -> bool:
    """The person's own answers to a check-in: the person, and the peer who is to record it
    (or who did); the lead sees only that the person answered, like any assessment."""
    if can_answer_own_checkin(actor, checkin):
        return True
    return (
        not actor.is_token
        and actor.is_peer
        and actor.id is not None
        and actor.id in (checkin.peer_id, checkin.recorded_by_id)
    )


def can_see_contact_on_checkin(actor: Actor, checkin: CheckIn) -> bool:
    """The assigned peer sees the person's phone and email, to reach them (design section 5,
    Contact); the lead sees that a check-in is open, not how to ring the person."""
    return can_record_checkin(actor, checkin)


def exposure_scope_for_people(actor: Actor) -> ColumnElement[bool]:
    """Exposures whose person the actor may name with status (peer caseload, lead)."""
    if actor.is_token or actor.id is None:
        return false()
    if actor.is_lead:
        return true()
    parts = [col(Exposure.person_id) == actor.id]
    if actor.is_peer:
        parts.append(and_(col(Exposure.peer_id) == actor.id, col(Exposure.removed_at).is_(None)))
    return or_(*parts)


# -- assessments: answers, scores and notes ----------------------------------------------


def assessment_content_scope(actor: Actor) -> ColumnElement[bool]:
    """Answers, scores and notes: the peer who held the check-in, and the person it is
    about. The lead sees band and flag only (never through this scope)."""
    if actor.is_token or actor.id is None:
        return false()
    parts = [col(Assessment.person_id) == actor.id]
    if actor.is_peer:
        parts.append(col(Assessment.recorded_by_id) == actor.id)
    return or_(*parts)


def can_read_assessment(actor: Actor, assessment: Assessment) -> bool:
    if actor.is_token or actor.id is None:
        return False
    if assessment.person_id == actor.id:
        return True
    return actor.is_peer and assessment.recorded_by_id == actor.id


def can_read_assessment_content(actor: Actor, assessment: Assessment, *, shared_on: Referral | None = None) -> bool:
    """Answers and notes of one assessment: `can_read_assessment`, or a clinician on a
    referral about the same person who agreed, themselves, to share it (`shared_on`; the
    caller picks the assessments behind the referral's flag)."""
    if can_read_assessment(actor, assessment):
        return True
    return (
        shared_on is not None
        and shared_on.person_id == assessment.person_id
        and can_read_shared_assessment(actor, shared_on)
    )


# -- flags ---------------------------------------------------------------------------------


def _peer_flag_clause(actor: Actor) -> ColumnElement[bool]:
    """The peer's part of the flag rule, used by flags and referrals alike: a flag born of a
    request, when they took the request; any other through an exposure of the person with
    them (the flag's own exposure; any, for a flag with none), while it is live, and for an
    open flag still after it was removed, so nobody is left unseen by a removal."""
    return or_(
        exists().where(col(PeerRequest.id) == col(Flag.source_request_id), col(PeerRequest.accepted_by_id) == actor.id),
        exists().where(
            col(Flag.source_request_id).is_(None),
            col(Exposure.person_id) == col(Flag.person_id),
            col(Exposure.peer_id) == actor.id,
            or_(
                col(Exposure.removed_at).is_(None),
                and_(col(Flag.status) == FlagStatus.open, col(Exposure.removed_at) >= col(Flag.raised_at)),
            ),
            or_(col(Flag.exposure_id).is_(None), col(Flag.exposure_id) == col(Exposure.id)),
        ),
        # A flag with no exposure (periodic, cumulative) also through a periodic check-in of
        # the person with them: a high-exposure group's peer has no exposure to go by.
        exists().where(
            col(Flag.source_request_id).is_(None),
            col(Flag.exposure_id).is_(None),
            col(CheckIn.person_id) == col(Flag.person_id),
            col(CheckIn.peer_id) == actor.id,
            col(CheckIn.kind) == PERIODIC_KIND,
        ),
    )


def flag_scope(actor: Actor) -> ColumnElement[bool]:
    """Flags: own; a peer's for people assigned to them; the lead all (status only)."""
    if actor.is_token or actor.id is None:
        return false()
    if actor.is_lead:
        return true()
    parts = [col(Flag.person_id) == actor.id]
    if actor.is_peer:
        parts.append(_peer_flag_clause(actor))
    return or_(*parts)


@dataclass(frozen=True)
class FlagFacts:
    """What decides who sees a flag besides the row: the person's exposures (live or
    removed, with their peers) and, for a flag born of a request, who took the request."""

    flag: Flag
    exposures: Sequence[Exposure] = ()
    request_taken_by: uuid.UUID | None = None
    # The peers of the person's periodic check-ins (no exposure: design section 14).
    periodic_peers: Sequence[uuid.UUID] = ()


def _peer_sees_flag(actor: Actor, facts: FlagFacts) -> bool:
    """`_peer_flag_clause` for one flag."""
    flag = facts.flag
    if flag.source_request_id is not None:
        return facts.request_taken_by is not None and facts.request_taken_by == actor.id
    for exposure in facts.exposures:
        if exposure.person_id != flag.person_id or exposure.peer_id != actor.id:
            continue
        if flag.exposure_id is not None and flag.exposure_id != exposure.id:
            continue
        if exposure.removed_at is None or (flag.status == FlagStatus.open and exposure.removed_at >= flag.raised_at):
            return True
    return flag.exposure_id is None and actor.id in facts.periodic_peers


def can_view_flag(actor: Actor, facts: FlagFacts) -> bool:
    if actor.is_token or actor.id is None:
        return False
    if actor.is_lead or facts.flag.person_id == actor.id:
        return True
    return actor.is_peer and _peer_sees_flag(actor, facts)


def visible_flags(actor: Actor) -> SelectOfScalar[Flag]:
    return select(Flag).where(flag_scope(actor))


async def access_flag(session: AsyncSession, actor: Actor, flag_id: uuid.UUID) -> Flag:
    found = (await session.exec(visible_flags(actor).where(col(Flag.id) == flag_id))).first()
    if found is None:
        raise NotFound()
    return found


# -- referrals -------------------------------------------------------------------------------


def referral_scope(actor: Actor) -> ColumnElement[bool]:
    """Referrals: own; a clinician's addressed to them (until consent is withdrawn); a
    peer's exactly when they see its flag (the flag rule's own clause); the lead all
    (status only)."""
    if actor.is_token or actor.id is None:
        return false()
    if actor.is_lead:
        return true()
    parts = [col(Referral.person_id) == actor.id]
    if actor.is_clinician:
        parts.append(and_(col(Referral.clinician_id) == actor.id, col(Referral.status) != ReferralStatus.withdrawn))
    if actor.is_peer:
        parts.append(exists().where(col(Flag.id) == col(Referral.flag_id), _peer_flag_clause(actor)))
    return or_(*parts)


def can_view_referral(actor: Actor, referral: Referral, flag: FlagFacts | None) -> bool:
    """`referral_scope` for one referral; `flag` holds the facts of its flag."""
    if actor.is_token or actor.id is None:
        return False
    if actor.is_lead or referral.person_id == actor.id:
        return True
    if actor.is_clinician and referral.clinician_id == actor.id and referral.status != ReferralStatus.withdrawn:
        return True
    return actor.is_peer and flag is not None and referral.flag_id == flag.flag.id and _peer_sees_flag(actor, flag)


def visible_referrals(actor: Actor) -> SelectOfScalar[Referral]:
    return select(Referral).where(referral_scope(actor))


async def access_referral(session: AsyncSession, actor: Actor, referral_id: uuid.UUID) -> Referral:
    found = (await session.exec(visible_referrals(actor).where(col(Referral.id) == referral_id))).first()
    if found is None:
        raise NotFound()
    return found


def can_read_shared_assessment(actor: Actor, referral: Referral) -> bool:
    """A clinician reads the assessment (answers and notes) only on a referral addressed to
    them whose person confirmed, themselves, that it may be shared, and only until they
    withdraw consent."""
    return (
        not actor.is_token
        and actor.is_clinician
        and referral.clinician_id == actor.id
        and referral.consent
        and referral.share_assessment
        and referral.share_confirmed_at is not None
        and referral.status != ReferralStatus.withdrawn
    )


def can_see_contact_on_referral(actor: Actor, referral: Referral) -> bool:
    """A clinician sees how to reach the person on a referral addressed to them that the
    person consented to, until they withdraw consent."""
    return (
        not actor.is_token
        and actor.is_clinician
        and referral.clinician_id == actor.id
        and referral.consent
        and referral.status != ReferralStatus.withdrawn
    )


def can_confirm_share(actor: Actor, referral: Referral) -> bool:
    """Sharing the assessment is the person's own act: nobody else can confirm it."""
    return not actor.is_token and actor.id is not None and referral.person_id == actor.id


def can_act_on_flag(actor: Actor, flag: Flag) -> bool:
    """Offer a referral, close or acknowledge: the lead, or a peer whose person it is
    (flag_scope has already said the flag is visible); never the person themselves."""
    if actor.is_token or actor.id is None or flag.person_id == actor.id:
        return False
    return actor.is_lead or actor.is_peer


# -- requests for a peer ---------------------------------------------------------------------


def request_scope(actor: Actor, *, peer: PeerFacts | None, now: datetime) -> ColumnElement[bool]:
    """Requests: own; a peer's open ones they may take (by the matching rules) and the ones
    they took; the lead all (status only)."""
    if actor.is_token or actor.id is None:
        return false()
    if actor.is_lead:
        return true()
    parts = [col(PeerRequest.requester_id) == actor.id]
    if actor.is_peer:
        parts.append(col(PeerRequest.accepted_by_id) == actor.id)
        if peer is not None:
            parts.append(and_(col(PeerRequest.status) == RequestStatus.open, request_rules.matching_clause(peer, now)))
    return or_(*parts)


def request_access(actor: Actor, request: PeerRequest, *, peer: PeerFacts | None, now: datetime) -> str | None:
    """How much of one request the actor may see: "own", "taken" (the peer who accepted:
    everything), "offered" (a matching peer: enough to decide, not who or how to reach
    them), "status" (the lead), or None."""
    if actor.is_token or actor.id is None:
        return None
    if request.requester_id == actor.id:
        return "own"
    if actor.is_peer and request.accepted_by_id == actor.id:
        return "taken"
    if (
        actor.is_peer
        and peer is not None
        and request.status == RequestStatus.open
        and request_rules.matches(request, peer, now)
    ):
        return "offered"
    if actor.is_lead:
        return "status"
    return None


def visible_requests(actor: Actor, *, peer: PeerFacts | None, now: datetime) -> SelectOfScalar[PeerRequest]:
    return select(PeerRequest).where(request_scope(actor, peer=peer, now=now))


async def access_request(
    session: AsyncSession, actor: Actor, request_id: uuid.UUID, *, peer: PeerFacts | None, now: datetime
) -> tuple[PeerRequest, str]:
    """The request and how much of it the actor may see (`request_access`), if any;
    otherwise the same NotFound as a missing one."""
    found = (
        await session.exec(visible_requests(actor, peer=peer, now=now).where(col(PeerRequest.id) == request_id))
    ).first()
    level = request_access(actor, found, peer=peer, now=now) if found is not None else None
    if found is None or level is None:
        raise NotFound()
    return found, level


def could_take(actor: Actor, request: PeerRequest, *, peer: PeerFacts | None, now: datetime) -> bool:
    """The matching rules alone, whatever the status: used to tell a peer who was offered a
    request that someone else took it first (409), rather than that it never existed (404)."""
    if actor.is_token or not actor.is_peer or peer is None:
        return False
    return request_rules.matches(request, peer, now)


# -- notes the person shares with a manager (section 18) ------------------------------------

# What the lead may know of a note: that it was shared (and when, and withdrawn), never its text.
_RELEASED = (NoteStatus.shared.value, NoteStatus.withdrawn.value)


def shared_note_scope(actor: Actor) -> ColumnElement[bool]:
    """Shared notes: own (every state); a manager's while it is shared with them (the text);
    the lead those ever released (status only). A peer's suggestion is the person's alone."""
    if actor.is_token or actor.id is None:
        return false()
    parts = [col(SharedNote.person_id) == actor.id]
    if actor.is_supervisor:
        parts.append(and_(col(SharedNote.manager_id) == actor.id, col(SharedNote.status) == NoteStatus.shared.value))
    if actor.is_lead:
        parts.append(col(SharedNote.status).in_(_RELEASED))
    return or_(*parts)


def shared_note_access(actor: Actor, note: SharedNote) -> str | None:
    """How much of one note the actor may see: "own" (everything), "manager" (the text and
    its date, while shared with them), "status" (the lead: that it was shared), or None."""
    if actor.is_token or actor.id is None:
        return None
    if note.person_id == actor.id:
        return "own"
    if actor.is_supervisor and note.manager_id == actor.id and note.status == NoteStatus.shared:
        return "manager"
    if actor.is_lead and note.status in _RELEASED:
        return "status"
    return None


def visible_shared_notes(actor: Actor) -> SelectOfScalar[SharedNote]:
    return select(SharedNote).where(shared_note_scope(actor))


async def access_shared_note(session: AsyncSession, actor: Actor, note_id: uuid.UUID) -> tuple[SharedNote, str]:
    """The note and how much of it the actor may see; otherwise the same NotFound as a
    missing one (a manager's answer after withdrawal is this 404)."""
    found = (await session.exec(visible_shared_notes(actor).where(col(SharedNote.id) == note_id))).first()
    level = shared_note_access(actor, found) if found is not None else None
    if found is None or level is None:
        raise NotFound()
    return found, level


def can_release_note(actor: Actor, note: SharedNote) -> bool:
    """Releasing or withdrawing is the person's own act: never the peer, never the lead."""
    return not actor.is_token and actor.id is not None and note.person_id == actor.id


def can_suggest_note(actor: Actor, checkin: CheckIn) -> bool:
    """A peer may suggest wording to the person they check in with (who then decides)."""
    return (
        not actor.is_token
        and actor.is_peer
        and checkin.peer_id is not None
        and checkin.peer_id == actor.id
        and checkin.person_id != actor.id
    )


# -- the conversation on a request ------------------------------------------------------------


def can_view_conversation(actor: Actor, request: PeerRequest) -> bool:
    """The messages of a request's conversation: the requester and the peer who took it,
    nobody else (the lead sees only that it exists and its status, through the request)."""
    if actor.is_token or actor.id is None:
        return False
    if request.requester_id == actor.id:
        return True
    return actor.is_peer and request.accepted_by_id is not None and request.accepted_by_id == actor.id


def conversation_scope(actor: Actor) -> ColumnElement[bool]:
    """`can_view_conversation` as SQL over conversation messages."""
    if actor.is_token or actor.id is None:
        return false()
    parts = [col(PeerRequest.requester_id) == actor.id]
    if actor.is_peer:
        parts.append(col(PeerRequest.accepted_by_id) == actor.id)
    return exists().where(col(PeerRequest.id) == col(ConversationMessage.request_id), or_(*parts))


def visible_messages(actor: Actor) -> SelectOfScalar[ConversationMessage]:
    return select(ConversationMessage).where(conversation_scope(actor))


async def access_conversation(session: AsyncSession, actor: Actor, request_id: uuid.UUID) -> PeerRequest:
    """The request whose conversation the actor may read; otherwise the same NotFound as a
    missing one (for the lead too, and for the peers it was offered to)."""
    found = await session.get(PeerRequest, request_id)
    if found is None or not can_view_conversation(actor, found):
        raise NotFound()
    return found


def can_write_in_conversation(actor: Actor, request: PeerRequest) -> bool:
    """Writing needs the same two people, and a request a peer has taken and not yet closed
    (the caller tells them which, with a 409)."""
    return can_view_conversation(actor, request) and request.status == RequestStatus.accepted


def sees_requester_name(actor: Actor, request: PeerRequest) -> bool:
    """A request without a name: the requester and the lead (a safety "yes" reaches the lead
    with the name) see it; the peer who took it sees the pseudonym until it is revealed."""
    if actor.is_token or actor.id is None:
        return False
    if request.requester_id == actor.id or actor.is_lead:
        return True
    return not request_rules.name_hidden(request)


async def hidden_requester_names(session: AsyncSession, actor: Actor, flags: Sequence[Flag]) -> dict[uuid.UUID, str]:
    """For flags born of a request without a name that the actor may not name: the
    pseudonym to show instead, by flag id."""
    by_request = {f.source_request_id: f.id for f in flags if f.source_request_id is not None}
    if not by_request:
        return {}
    rows = await session.exec(select(PeerRequest).where(col(PeerRequest.id).in_(list(by_request))))
    return {by_request[r.id]: request_rules.requester_label(r, None) for r in rows if not sees_requester_name(actor, r)}


async def flag_name_hidden(session: AsyncSession, flag: Flag) -> bool:
    """Whether the flag was born of a request made without a name that is still hidden:
    whoever it is passed on to (a clinician) would have only a pseudonym."""
    if flag.source_request_id is None:
        return False
    request = await session.get(PeerRequest, flag.source_request_id)
    return request is not None and request_rules.name_hidden(request)


# -- the aggregate dashboard ------------------------------------------------------------------


def can_view_dashboard(actor: Actor) -> bool:
    """Aggregates across the programme, small numbers suppressed: the programme lead only."""
    return not actor.is_token and actor.id is not None and actor.is_lead


# -- the admin's view of the audit log ---------------------------------------------------------

# Sign-ins and account changes stay on the admin's view by name, even done to oneself.
ACCOUNT_ACTION_PREFIXES = ("session.", "person.", "token.", "station.")
# Events the system writes as the direct result of a person's own act (a safety "yes" when
# asking for a peer raises a flag in the same moment): as telling as the act itself.
SELF_CAUSED_FLAG_CAUSES = ("request_safety",)


def admin_audit_scope() -> ColumnElement[bool]:
    """The events the admin's audit page lists: metadata of what people did to records,
    never what a person did about themselves (asking for a peer, withdrawing consent,
    opting out, reading their own record...), which stays in the chain and on their own
    record, so it cannot be matched to their sign-in a minute earlier."""
    actor, subject, action = col(AuditEvent.actor_id), col(AuditEvent.subject_id), col(AuditEvent.action)
    account = or_(*(action.startswith(prefix, autoescape=True) for prefix in ACCOUNT_ACTION_PREFIXES))
    not_self = or_(actor.is_(None), subject.is_(None), actor != subject)
    cause = func.coalesce(col(AuditEvent.details)["cause"].as_string(), "")
    self_caused = and_(action == "flag.raised", cause.in_(SELF_CAUSED_FLAG_CAUSES))
    return and_(or_(account, not_self), not_(self_caused))


def admin_may_list(event: AuditEvent) -> bool:
    """`admin_audit_scope` for one event."""
    if event.action == "flag.raised" and event.details.get("cause") in SELF_CAUSED_FLAG_CAUSES:
        return False
    if event.action.startswith(ACCOUNT_ACTION_PREFIXES):
        return True
    return event.actor_id is None or event.subject_id is None or event.actor_id != event.subject_id
