"""The planning meeting's rules: pure functions, the clock passed in."""

from __future__ import annotations

from datetime import datetime, timedelta

from trim.planning.models import ROUTE_LABELS, Route

# Every check-in cancelled by a planning route carries a reason beginning with this, so a
# route changed back opens exactly those again (never one cancelled by an opt-out).
CANCEL_PREFIX = "Planning meeting: "

# What the page and the API say about a briefing having no notes (design section 12).
BRIEFING_WHY = (
    "A briefing records only the date, who led it and who came: it is information about normal "
    "reactions and where help is, not a discussion of the event, and single-session debriefing is "
    "advised against (NICE NG116), so there is nowhere to write notes."
)

REASON_MAX = 200
ROUTES = tuple(r.value for r in Route)


def cancels_checkins(route: str) -> bool:
    """Briefing only and no action take the person off the check-in schedule."""
    return route in (Route.briefing_only, Route.no_action)


def cancel_reason(route: str, reason: str | None) -> str:
    """The reason shown on each check-in a route cancelled (kept on the person's record)."""
    words = ROUTE_LABELS.get(route, route).lower()
    if route == Route.no_action and reason:
        return f"{CANCEL_PREFIX}{words} ({reason})"
    return f"{CANCEL_PREFIX}{words}; a peer is there whenever they ask"


def planning_due_since(occurred_at: datetime, *, hours: int) -> datetime:
    """When an incident without a planning record becomes "planning due"."""
    return occurred_at + timedelta(hours=hours)


def is_planning_due(*, occurred_at: datetime, held: bool, now: datetime, hours: int, within_days: int) -> bool:
    """Past the planning window, no planning record, and still recent enough to matter."""
    return not held and planning_due_since(occurred_at, hours=hours) <= now < occurred_at + timedelta(days=within_days)


def planning_timeliness(*, occurred_at: datetime, held_at: datetime | None, hours: int) -> str:
    """For the dashboard: "on_time" (held within the window), "late", or "not_held"."""
    if held_at is None:
        return "not_held"
    return "on_time" if held_at <= planning_due_since(occurred_at, hours=hours) else "late"


def route_problem(route: str, reason: str | None) -> str | None:
    """Why a route as given cannot be saved, in words for the person; None when it can."""
    if route not in ROUTES:
        return "Choose risk assessment, briefing only or no action."
    if route == Route.no_action and not (reason or "").strip():
        return "Say in a few words why no action is needed."
    if reason and len(reason.strip()) > REASON_MAX:
        return f"Keep the reason under {REASON_MAX} characters."
    return None
