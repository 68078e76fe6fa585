"""The metrics page as an operator's scraper reads it: the text format, every figure the
issue names with the value the database holds, no label that could name anyone, and never
readable without the metrics token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func
from sqlmodel import col, delete, select, update

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import make_incident
from trim.db import AsyncSession, create_engine, make_sessionmaker, utcnow
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.metrics import exposition
from trim.notifications.models import OutboxMessage
from trim.privacy.models import AuditEvent
from trim.requests.models import PeerRequest

TOKEN = "metrics-token-for-tests-0123456789abcdef"
BEARER = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"metrics_token": TOKEN}


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """name -> [(labels, value)], samples by their own names (trim_http_requests_total ...)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def value(figures: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    [(labels, number)] = figures[name]
    assert labels == {}
    return number


async def scrape(client: AsyncTestClient[Litestar]) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def seed_trouble(session: AsyncSession, cast: Cast, clock: FakeClock, settings: Any) -> dict[str, Any]:
    """An organisation having a bad hour: mail stuck, an urgent flag nobody acknowledged,
    a check-in with no peer, a request nobody took, audit events waiting to be sealed."""
    now = clock()
    incident = await make_incident(
        session,
        actor=cast.actor("supervisor"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=now - timedelta(days=5),
        now=now - timedelta(days=5),
        settings=settings,
    )
    await session.exec(
        update(CheckIn).where(col(CheckIn.incident_id) == incident.id).values(peer_id=None)  # type: ignore[call-overload]
    )
    await session.exec(delete(OutboxMessage))
    session.add(
        OutboxMessage(
            kind="checkin.due",
            person_id=cast.peer.id,
            to_address=cast.peer.email,
            subject="A check-in is due",
            body="-",
            created_at=now - timedelta(minutes=20),
            next_attempt_at=now - timedelta(minutes=20),
        )
    )
    session.add(
        OutboxMessage(
            kind="checkin.due",
            person_id=cast.lead.id,
            to_address=cast.lead.email,
            subject="x",
            body="-",
            failed_at=now - timedelta(hours=1),
        )
    )
    flag = Flag(
        person_id=cast.responder.id,
        cause="safety_concern",
        cause_key=f"test:{cast.responder.id}",
        urgent=True,
        raised_at=now - timedelta(minutes=45),
    )
    session.add(flag)
    request = PeerRequest(
        requester_id=cast.other_peer.id,
        urgency="today",
        contact_method="in_person",
        created_at=now - timedelta(minutes=10),
    )
    session.add(request)
    await session.commit()
    return {"incident": incident, "flag": flag, "request": request}


async def test_metrics_parse_and_hold_every_figure_the_issue_names(
    client: AsyncTestClient[Litestar], session: AsyncSession, cast: Cast, clock: FakeClock, settings: Any
) -> None:
    seeded = await seed_trouble(session, cast, clock, settings)
    await client.get("/health/ready")
    figures = await scrape(client)

    assert value(figures, "trim_database_up") == 1
    assert value(figures, "trim_outbox_depth") == 1
    assert value(figures, "trim_outbox_oldest_unsent_age_seconds") == pytest.approx(20 * 60)
    assert value(figures, "trim_outbox_given_up") == 1
    assert value(figures, "trim_flags_urgent_unacknowledged") == 1
    assert value(figures, "trim_flags_urgent_oldest_unacknowledged_age_seconds") == pytest.approx(45 * 60)
    assert value(figures, "trim_flags_unacknowledged") == 1
    waiting = value(figures, "trim_checkins_waiting_for_peer")
    assert waiting >= 1  # the day-3 check-in, due two days ago, has no peer
    assert value(figures, "trim_checkins_oldest_waiting_for_peer_age_seconds") > 24 * 3600
    assert value(figures, "trim_requests_waiting_for_peer") == 1
    assert value(figures, "trim_requests_oldest_waiting_age_seconds") == pytest.approx(10 * 60)
    unsealed = (await session.exec(select(func.count()).where(col(AuditEvent.seq).is_(None)))).one()
    assert value(figures, "trim_audit_unsealed_events") == unsealed > 0
    assert value(figures, "trim_audit_sealing_lag_seconds") > 0
    assert "trim_audit_last_anchor_age_seconds" in figures and "trim_audit_anchor_missing" in figures
    assert "trim_sweep_mark_lag_seconds" not in figures or all(
        v >= 0 for _, v in figures["trim_sweep_mark_lag_seconds"]
    )
    # Requests by route template and status, with a latency histogram; the pool.
    ready = [v for labels, v in figures["trim_http_requests_total"] if labels["route"] == "/health/ready"]
    assert ready and ready[0] >= 1
    assert any(labels["le"] == "+Inf" for labels, _ in figures["trim_http_request_duration_seconds_bucket"])
    assert "trim_db_pool_connections_in_use" in figures and "trim_db_pool_waits_total" in figures
    assert "trim_db_pool_wait_seconds_count" in figures
    _ = seeded


async def test_no_label_carries_a_name_an_id_or_an_address(
    client: AsyncTestClient[Litestar], session: AsyncSession, cast: Cast, clock: FakeClock, settings: Any
) -> None:
    seeded = await seed_trouble(session, cast, clock, settings)
    flag, request, incident = seeded["flag"], seeded["request"], seeded["incident"]
    # Pages whose paths carry ids, so the request figures see them.
    async with signed_in(client, cast.peer) as browser:
        await browser.get(f"/requests/{request.id}")
        await browser.get(f"/flags/{flag.id}")
        await browser.get(f"/incidents/{incident.id}")
        await browser.get(f"/nowhere/{cast.responder.id}")  # no route: its path must not become a label
    text = (await client.get("/metrics", headers=BEARER)).text
    labels = [v for samples in parse(text).values() for labels, _ in samples for v in labels.values()]
    assert labels, "the page has labelled figures"
    people = [cast.person(who) for who in ("responder", "peer", "other_peer", "lead", "clinician", "supervisor")]
    forbidden = {str(x) for p in people for x in (p.id, p.email, p.name, p.email.split("@")[0])}
    forbidden |= {str(flag.id), str(request.id), str(incident.id)}
    leaked = sorted({label for label in labels for word in forbidden if word.lower() in label.lower()})
    assert leaked == []
    routes = {v for samples in parse(text).values() for labels, _ in samples for k, v in labels.items() if k == "route"}
    assert {"/incidents/{incident_id}", "/requests/{request_id}"} <= routes


async def test_requests_no_route_matches_are_counted_as_unmatched(client: AsyncTestClient[Litestar]) -> None:
    """A burst of probes for paths trim does not have shows on the dashboards, under one label."""

    def unmatched(text: str) -> float:
        samples = parse(text).get("trim_http_requests_total", [])
        return sum(v for labels, v in samples if labels["route"] == "unmatched" and labels["status"] == "404")

    before = unmatched((await client.get("/metrics", headers=BEARER)).text)
    for path in ("/wp-login.php", "/nowhere/at/all", "/.env"):
        assert (await client.get(path)).status_code == 404
    after = unmatched((await client.get("/metrics", headers=BEARER)).text)
    assert after - before == 3
    # A routed request is counted once, under its route, not again as unmatched.
    await client.get("/health/live")
    assert unmatched((await client.get("/metrics", headers=BEARER)).text) == after


async def test_metrics_need_the_token_not_a_session(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    anon = await client.get("/metrics")
    assert anon.status_code == 401 and anon.headers["www-authenticate"].startswith("Bearer")
    assert "trim_" not in anon.text
    wrong = await client.get("/metrics", headers={"authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert wrong.status_code == 401
    for who in ("lead", "admin"):
        async with signed_in(client, cast.person(who)) as browser:
            response = await browser.get("/metrics")
            assert response.status_code == 401, who
            assert "trim_outbox_depth" not in response.text


async def test_the_admin_sees_that_a_metrics_token_is_set_never_the_token(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    async with signed_in(client, cast.admin) as browser:
        page = await browser.get("/admin/settings")
    assert page.status_code == 200
    assert TOKEN not in page.text
    assert "TRIM_METRICS_TOKEN" in page.text


async def test_a_scrape_still_answers_when_the_database_is_down() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/trim", pool_size=1)
    try:
        figures = parse((await exposition.scrape(make_sessionmaker(engine), clock=utcnow)).decode())
    finally:
        await engine.dispose()
    assert value(figures, "trim_database_up") == 0
    assert "trim_outbox_depth" not in figures  # no figure made up in its absence
    assert "trim_http_requests_total" in figures or "trim_db_pool_waits_total" in figures
