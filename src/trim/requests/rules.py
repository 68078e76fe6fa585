"""Who may see and take a request for a peer, and when it escalates: pure functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, or_
from sqlmodel import col

from trim.requests.models import PeerRequest, RequestStatus


@dataclass(frozen=True)
class PeerFacts:
    id: uuid.UUID
    station_id: uuid.UUID | None
    available: bool


def matches(request: PeerRequest, peer: PeerFacts, now: datetime) -> bool:
    """Whether an open request is offered to this peer now: never to the requester, never
    from their station when they asked, and the named peer alone until their window ends."""
    if not peer.available or peer.id == request.requester_id:
        return False
    if (
        request.avoid_own_station
        and request.requester_station_id is not None
        and peer.station_id == request.requester_station_id
    ):
        return False
    if (
        request.preferred_peer_id is not None
        and request.named_peer_until is not None
        and now < request.named_peer_until
    ):
        return peer.id == request.preferred_peer_id
    return True


def matching_clause(peer: PeerFacts, now: datetime) -> ColumnElement[bool]:
    """The same rule as `matches`, as SQL for lists (a test proves they agree)."""
    if not peer.available:
        return false()
    station_ok = or_(
        col(PeerRequest.avoid_own_station).is_(False),
        col(PeerRequest.requester_station_id).is_(None),
        col(PeerRequest.requester_station_id) != peer.station_id
        if peer.station_id is not None
        else col(PeerRequest.requester_station_id).is_not(None),
    )
    named_ok = or_(
        col(PeerRequest.preferred_peer_id).is_(None),
        col(PeerRequest.named_peer_until).is_(None),
        col(PeerRequest.named_peer_until) <= now,
        col(PeerRequest.preferred_peer_id) == peer.id,
    )
    return and_(col(PeerRequest.requester_id) != peer.id, station_ok, named_ok)


def escalation_due(*, created_at: datetime, urgency_limit: timedelta, now: datetime) -> bool:
    """An open request nobody has taken within the limit for its urgency goes to the lead."""
    return now >= created_at + urgency_limit


def conversation_state(request: PeerRequest) -> str:
    """A request's conversation: "waiting" (no peer has taken it), "open" (taken, being
    written), "closed" (read-only: the request closed or was withdrawn)."""
    if request.status == RequestStatus.accepted:
        return "open"
    if request.accepted_by_id is not None:
        return "closed"
    return "waiting" if request.status == RequestStatus.open else "closed"


def name_hidden(request: PeerRequest) -> bool:
    """Asked without their name, and not shown it since."""
    return request.anonymous and request.name_revealed_at is None


def requester_label(request: PeerRequest, name: str | None) -> str:
    """How the peer who took it sees the requester: the pseudonym until they show their name."""
    if name_hidden(request):
        return request.pseudonym or "Caller"
    return name or "Caller"


def pseudonym(token: str) -> str:
    """ "Caller 4F2" from three hex characters of randomness (a label, not a secret)."""
    return f"Caller {token[:3].upper()}"
