"""What may be sent to whom, how long to wait after a failure, and the words of an email.
Pure functions: no session, no clock."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from trim.accounts.models import Role
from trim.config import ROLES

CHANNELS = ("email", "digest", "none")
CHANNEL_LABELS = {"email": "Email each time", "digest": "In a daily summary", "none": "No email"}

# Roles for whom an urgent message cannot be switched off.
URGENT_ALWAYS_FOR = frozenset({"peer", "lead"})
_EVERYONE = frozenset(ROLES)


@dataclass(frozen=True)
class Kind:
    """A kind of message a person can choose about."""

    name: str
    label: str
    audience: frozenset[str]  # roles that are offered the choice
    digest: bool = False  # may go into a peer's daily summary instead
    always_for: frozenset[str] = frozenset()  # roles that cannot switch it off
    listed: bool = True  # shown on the preferences page


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("checkin_due", "A check-in is due", frozenset({"peer", "lead"}), digest=True),
        Kind("checkin_overdue", "A check-in is overdue", frozenset({"peer", "lead"}), digest=True),
        Kind("request_new", "Someone asks for a peer", frozenset({"peer"})),
        Kind("conversation_message", "A new message in a conversation about a request", _EVERYONE),
        Kind("flag", "A flag is raised for someone you support", frozenset({"peer", "lead"})),
        Kind(
            "urgent_flag",
            "An urgent flag (a safety concern)",
            frozenset({"peer", "lead"}),
            always_for=URGENT_ALWAYS_FOR,
        ),
        Kind(
            "escalation",
            "Something waiting too long is passed to you",
            frozenset({"lead"}),
            always_for=URGENT_ALWAYS_FOR,
        ),
        Kind("referral", "Referrals", frozenset({"clinician", "lead", "peer"})),
        Kind("reassignment", "Check-ins handed on when a peer is unavailable", frozenset({"lead"})),
        # Looking after the peer supporters (section 13).
        Kind("training", "Peer supporters' training refreshers coming due", frozenset({"lead"})),
        Kind("supervision", "A peer supporter asks to talk a check-in over", frozenset({"lead", "trim_manager"})),
        Kind("rest_over", "Your rest as a peer supporter has ended", frozenset({"peer"})),
        Kind("quiet_moved", "An overdue check-in moved to another peer", frozenset({"peer", "lead"})),
        # Section 14: the person answered their check-in's questions on their own phone.
        Kind("self_answered", "Someone you support answered their check-in questions themselves", frozenset({"peer"})),
        # The person is told their peer has changed, and nothing else: always sent.
        Kind("peer_changed", "Your peer supporter has changed", _EVERYONE, always_for=_EVERYONE, listed=False),
        # Addresses the mail server refuses (a daily note): someone has to correct them.
        Kind(
            "delivery",
            "Email addresses that refuse our messages (daily)",
            frozenset({"lead"}),
            always_for=frozenset({"lead"}),
        ),
        # Something only the person can agree to (sharing a referral's assessment): always sent.
        Kind("consent", "Something waiting for your OK", _EVERYONE, always_for=_EVERYONE, listed=False),
        # A note a colleague chose to share with their manager (section 18): always sent, no content.
        Kind(
            "shared_note",
            "A colleague has shared a note with you",
            frozenset({"supervisor"}),
            always_for=_EVERYONE,
            listed=False,
        ),
        # Security notices (role changes, sign-in links) reach everyone, always.
        Kind("account", "Your account: role changes and sign-in links", _EVERYONE, always_for=_EVERYONE),
        # The daily summary itself: asked for by choosing "digest" above, so always sent.
        Kind("checkin_digest", "Daily summary of check-ins", frozenset({"peer"}), always_for=_EVERYONE, listed=False),
    )
}
URGENT_KINDS = frozenset({"urgent_flag", "escalation"})
DIGEST_KINDS = tuple(k.name for k in KINDS.values() if k.digest)


def is_locked(kind: str, roles: Collection[str], *, urgent: bool = False) -> bool:
    """True when this person cannot switch this message off."""
    held = set(roles)
    spec = KINDS[kind]
    if held & spec.always_for:
        return True
    return (urgent or kind in URGENT_KINDS) and bool(held & URGENT_ALWAYS_FOR)


def allowed_channels(kind: str, roles: Collection[str]) -> tuple[str, ...]:
    """The choices this person has for this kind, email first."""
    if is_locked(kind, roles):
        return ("email",)
    if KINDS[kind].digest and Role.peer in roles:
        return ("email", "digest", "none")
    return ("email", "none")


def effective_channel(kind: str, chosen: str | None, roles: Collection[str], *, urgent: bool = False) -> str:
    """How a message of this kind reaches this person: their choice where they have one,
    email otherwise (no choice made, a locked kind, or a choice their roles no longer allow)."""
    if is_locked(kind, roles, urgent=urgent):
        return "email"
    if chosen is None or chosen not in allowed_channels(kind, roles):
        return "email"
    return chosen


def listed_kinds(roles: Collection[str]) -> list[Kind]:
    """The kinds a person with these roles is asked about, in a fixed order."""
    held = set(roles)
    return [k for k in KINDS.values() if k.listed and held & k.audience]


def retry_delay(attempts: int, *, base_seconds: int, max_seconds: int) -> timedelta:
    """Exponential backoff: base after the first failure, doubling, never above the cap."""
    exponent = min(max(attempts, 1) - 1, 30)  # 2**30 seconds is decades: the cap applies long before
    return timedelta(seconds=min(max_seconds, base_seconds * 2**exponent))


def email_text(*, body: str, link: str | None, base_url: str, org_name: str, to_person: bool) -> str:
    """The plain-text email: the producer's few words, the link, and why it was sent."""
    root = base_url.rstrip("/")
    parts = [body.strip()]
    if link:
        parts.append(root + link)
    footer = f"-- \nSent by trim for {org_name}."
    if to_person:
        footer += f"\nChoose which emails you get: {root}/profile/notifications"
    parts.append(footer)
    return "\n\n".join(parts) + "\n"


def is_local_path(link: str) -> bool:
    """Links are paths of ours ("/checkins/<id>"); the email puts base_url in front."""
    return link.startswith("/") and not link.startswith("//") and "\\" not in link and "\n" not in link
