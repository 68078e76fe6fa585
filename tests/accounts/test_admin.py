"""The admin's pages: people and stations; the lead may read them; nobody else sees them."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select

from tests.cast import PASSWORD, Cast, sign_in, signed_in
from trim.accounts import service
from trim.accounts.models import Person, Station, WebSession
from trim.db import AsyncSession
from trim.privacy.models import AuditEvent


async def _csrf(client: AsyncTestClient[Litestar]) -> str:
    return client.cookies["csrftoken"]


async def test_admin_adds_a_person_with_roles(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.admin.email)
    form = await client.get("/admin/people/new")
    assert form.status_code == 200
    response = await client.post(
        "/admin/people",
        data={
            "name": "Nia Okoro",
            "staff_number": "F-1001",
            "email": "Nia.Okoro@Example.org",
            "station_id": str(cast.station_b.id),
            "roles": ["responder", "peer"],
            "_csrf_token": await _csrf(client),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    person = await service.person_by_email(session, "nia.okoro@example.org")
    assert person is not None and person.station_id == cast.station_b.id
    assert await service.roles_of(session, person.id) == ["responder", "peer"]
    page = await client.get(response.headers["location"])
    assert "Nia Okoro has been added." in page.text


async def test_bad_person_form_shows_each_problem_and_saves_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.admin.email)
    before = (await session.exec(select(func.count()).select_from(Person))).one()
    response = await client.post(
        "/admin/people",
        data={
            "name": "",
            "staff_number": "X1",
            "email": "not-an-email",
            "_csrf_token": await _csrf(client),
        },
    )
    assert response.status_code == 422
    assert "Enter a name." in response.text
    assert "Enter an email address like name@example.org." in response.text
    duplicate = await client.post(
        "/admin/people",
        data={
            "name": "Copy",
            "staff_number": "X2",
            "email": cast.peer.email,
            "_csrf_token": await _csrf(client),
        },
    )
    assert "Someone else already uses this email address." in duplicate.text
    assert (await session.exec(select(func.count()).select_from(Person))).one() == before


async def test_deactivated_person_is_signed_out_and_cannot_sign_in(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    async with signed_in(client, cast.peer) as peer_browser:
        assert (await peer_browser.get("/api/me")).status_code == 200
        await sign_in(client, cast.admin.email)
        response = await client.post(
            f"/admin/people/{cast.peer.id}/active", data={"active": "no", "_csrf_token": await _csrf(client)}
        )
        assert response.status_code == 200
        assert "is deactivated and has been signed out everywhere" in response.text
        assert (await peer_browser.get("/api/me")).status_code == 401
    refused = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD})
    assert refused.status_code == 401
    count = await session.exec(select(func.count()).select_from(WebSession).where(WebSession.person_id == cast.peer.id))
    assert count.one() == 0


async def test_admin_cannot_change_their_own_roles(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.admin.email)
    response = await client.post(
        f"/admin/people/{cast.admin.id}",
        data={
            "name": cast.admin.name,
            "staff_number": cast.admin.staff_number,
            "email": cast.admin.email,
            "roles": ["admin", "lead"],
            "_csrf_token": await _csrf(client),
        },
    )
    assert response.status_code == 422
    assert "You cannot change your own roles" in response.text
    assert await service.roles_of(session, cast.admin.id) == ["admin"]


async def test_refused_own_role_change_keeps_the_other_edits_out_too(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.admin.email)
    response = await client.post(
        f"/admin/people/{cast.admin.id}",
        data={
            "name": "A New Name",
            "staff_number": cast.admin.staff_number,
            "email": cast.admin.email,
            "roles": ["admin", "lead"],
            "_csrf_token": await _csrf(client),
        },
    )
    assert response.status_code == 422
    assert 'value="A New Name"' in response.text  # what was typed is kept on the page
    stored = (await session.exec(select(Person).where(Person.id == cast.admin.id))).one()
    assert stored.name == cast.admin.name
    updates = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "person.updated")
    assert (await session.exec(updates)).one() == 0


async def test_role_change_is_audited(client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession) -> None:
    await sign_in(client, cast.admin.email)
    await client.post(
        f"/admin/people/{cast.responder.id}",
        data={
            "name": cast.responder.name,
            "staff_number": cast.responder.staff_number,
            "email": cast.responder.email,
            "station_id": str(cast.station_a.id),
            "roles": ["responder", "peer"],
            "_csrf_token": await _csrf(client),
        },
    )
    event = (
        await session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "person.roles_changed", AuditEvent.target_id == str(cast.responder.id)
            )
        )
    ).one()
    assert event.details == {"added": ["peer"], "removed": []}
    assert event.actor_id == str(cast.admin.id)


async def test_stations_are_unique_by_name(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.admin.email)
    ok = await client.post("/admin/stations", data={"name": "  Westbrook   Fire ", "_csrf_token": await _csrf(client)})
    assert "Westbrook Fire has been added." in ok.text
    again = await client.post("/admin/stations", data={"name": "westbrook fire", "_csrf_token": await _csrf(client)})
    assert again.status_code == 422
    assert "There is already a station called" in again.text
    names = (await session.exec(select(Station.name).where(col(Station.name).like("Westbrook%")))).all()
    assert names == ["Westbrook Fire"]


async def test_lead_reads_people_but_cannot_change_them(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await sign_in(client, cast.lead.email)
    listing = await client.get("/admin/people")
    assert listing.status_code == 200 and cast.peer.name in listing.text
    detail = await client.get(f"/admin/people/{cast.peer.id}")
    assert detail.status_code == 200 and "<fieldset disabled>" in detail.text
    change = await client.post(
        f"/admin/people/{cast.peer.id}/active", data={"active": "no", "_csrf_token": await _csrf(client)}
    )
    assert change.status_code == 404


async def test_other_roles_get_404_on_admin_pages(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    for who in ("responder", "peer", "clinician", "supervisor"):
        async with signed_in(client, cast.person(who)) as browser:
            for path in (
                "/admin/people",
                "/admin/stations",
                "/admin/roster",
                "/admin/settings",
                f"/admin/people/{cast.peer.id}",
            ):
                response = await browser.get(path)
                assert response.status_code == 404, (who, path)
                assert "Page not found" in response.text


async def test_people_api_lists_by_name_and_filters(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await sign_in(client, cast.supervisor.email)
    everyone = (await client.get("/api/people")).json()
    names = [p["name"] for p in everyone]
    assert names == sorted(names)
    assert set(everyone[0]) == {"id", "name", "staff_number", "email", "station_id", "roles"}
    peers = (await client.get("/api/people", params={"role": "peer"})).json()
    assert {p["name"] for p in peers} == {"Peer", "Other Peer"}
    by_station = (await client.get("/api/people", params={"station_id": str(cast.station_b.id)})).json()
    assert [p["name"] for p in by_station] == ["Peer"]
    search = (await client.get("/api/people", params={"q": "other"})).json()
    assert [p["name"] for p in search] == ["Other Clinician", "Other Peer"]
    assert (await client.get("/api/people", params={"role": "wizard"})).status_code == 422
    assert (await client.get("/api/people", params={"limit": 5000})).status_code == 400


async def test_responder_and_clinician_cannot_list_people(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    for who in ("responder", "clinician"):
        async with signed_in(client, cast.person(who)) as browser:
            assert (await browser.get("/api/people")).status_code == 404


async def test_settings_page_never_shows_keys(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await sign_in(client, cast.admin.email)
    page = await client.get("/admin/settings")
    assert "TRIM_TIMEZONE" in page.text
    assert "test-secret-key" not in page.text
    assert "1 key(s)" in page.text


async def test_the_access_filter_agrees_with_the_status_each_person_shows(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    from datetime import timedelta

    from sqlmodel import update

    from tests.cast import make_person
    from tests.conftest import START
    from trim.accounts.rules import ACCESS_LABELS

    valid = timedelta(days=7)
    waiting = await make_person(session, password=False)
    invited = await make_person(session, password=False)
    expired = await make_person(session, password=False)
    sso_only = await make_person(session, password=False)
    for person, values in (
        (invited, {"invited_at": START - timedelta(days=2)}),
        (expired, {"invited_at": START - timedelta(days=9)}),
        (sso_only, {"joined_at": START - timedelta(days=1)}),
    ):
        await session.exec(update(Person).where(col(Person.id) == person.id).values(**values))
    people = [waiting, invited, expired, sso_only, cast.peer]
    for access in ACCESS_LABELS:
        condition = service.access_condition(access, now=START, valid=valid)
        found = {p.id for p in await service.search_people(session, actor=cast.actor("admin"), access=condition)}
        for person in people:
            view = await service.person_view(session, person.id)
            assert (person.id in found) == (view.access(now=START, valid=valid) == access), (access, person.name)
    await sign_in(client, cast.admin.email)
    page = await client.get("/admin/people?access=invited")
    assert str(invited.id) in page.text and str(expired.id) not in page.text and "Invited" in page.text


def test_settings_page_shows_database_urls_without_their_passwords() -> None:
    from trim.admin.pages import settings_rows
    from trim.config import load_settings

    settings = load_settings(
        database_url="postgresql://trim:primary-pw@db-primary:5432/trim",
        database_replica_url="postgresql://reader:replica-pw@db-replica/trim",
    )
    rows = dict(settings_rows(settings))
    assert rows["TRIM_DATABASE_URL"] == "postgresql+asyncpg://…@db-primary:5432/trim"
    assert rows["TRIM_DATABASE_REPLICA_URL"] == "postgresql+asyncpg://…@db-replica/trim"
    assert rows["TRIM_REPLICA_MAX_LAG_SECONDS"] == "60"
    assert "primary-pw" not in str(rows) and "replica-pw" not in str(rows)
