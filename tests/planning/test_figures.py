"""The dashboard after planning (both databases): a person on briefing only whose
check-ins were all cancelled, and who then asked for a peer, has had a first contact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.cast import Cast
from tests.conftest import FakeClock
from tests.helpers import make_incident
from trim.config import Settings
from trim.dashboard import service as dashboard
from trim.db import AsyncSession
from trim.planning import service as planning
from trim.requests.models import PeerRequest


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"small_cell_k": 2}


async def _figures(db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock) -> dashboard.Dashboard:
    filters = await dashboard.read_filters(
        db, from_text=None, to_text=None, station_text=None, kind_text=None, now=clock(), settings=settings
    )
    return await dashboard.dashboard(db, actor=cast.actor("lead"), filters=filters, now=clock(), settings=settings)


async def test_a_briefed_person_who_asks_for_a_peer_counts_as_contacted(
    db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    occurred = clock() - timedelta(days=10)
    incident = await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder, cast.admin],
        occurred_at=occurred,
        now=occurred,
        settings=settings,
    )
    await planning.save_planning(
        db,
        actor=cast.actor("lead"),
        incident_id=incident.id,
        data=planning.PlanningInput(
            held_at=occurred + timedelta(hours=20),
            attendee_ids=[],
            routes=[
                planning.RouteInput(cast.responder.id, "briefing_only"),
                planning.RouteInput(cast.admin.id, "briefing_only"),
            ],
        ),
        now=occurred + timedelta(hours=20),
        settings=settings,
    )
    await db.commit()
    before = await _figures(db, cast, settings, clock)
    assert before.figure("first_contact").value("contacted", month="all") == 0
    assert before.figure("planning").value("incidents", planning="on_time") == 1
    assert before.figure("planning_routes").value("exposures", route="briefing_only") == 2
    for person in (cast.responder, cast.admin):
        db.add(
            PeerRequest(
                requester_id=person.id,
                urgency="this_week",
                contact_method="phone",
                status="accepted",
                created_at=clock() - timedelta(days=2),
                accepted_by_id=cast.peer.id,
                accepted_at=clock() - timedelta(days=1),
            )
        )
    await db.commit()
    after = await _figures(db, cast, settings, clock)
    assert after.figure("first_contact").value("contacted", month="all") == 2
