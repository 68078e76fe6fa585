"""Invitations and password resets, end to end: the email is delivered by the real worker
to a real SMTP server on loopback, and its link is followed with the test client. Every
message is also scanned for names and addresses by this folder's conftest."""

from __future__ import annotations

import re
from email.message import EmailMessage

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select

from tests.cast import PASSWORD, Cast, make_person, sign_in, signed_in
from tests.conftest import BASE_URL, FakeClock
from tests.notifications.conftest import MailServer, Workers, text_of
from trim.accounts import service
from trim.accounts.models import AccountLink, Person, WebSession
from trim.accounts.passwords import verify_password
from trim.config import Settings
from trim.db import AsyncSession
from trim.privacy.models import AuditEvent

GOOD_PASSWORD = "lantern harbour quietly walks"
LINK = re.compile(re.escape(BASE_URL) + r"(/\S+)")


def link_path(message: EmailMessage) -> str:
    found = LINK.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


def to(server: MailServer, person: Person) -> list[EmailMessage]:
    return [m for m in server.messages if m["To"] == person.email]


async def csrf(client: AsyncTestClient[Litestar]) -> str:
    if "csrftoken" not in client.cookies:
        await client.get("/signin")
    return client.cookies["csrftoken"]


async def reread(session: AsyncSession, person: Person) -> Person:
    stmt = select(Person).where(Person.id == person.id).execution_options(populate_existing=True)
    return (await session.exec(stmt)).one()


async def sessions_of(session: AsyncSession, person: Person) -> int:
    stmt = select(func.count()).select_from(WebSession).where(col(WebSession.person_id) == person.id)
    return int((await session.exec(stmt)).one())


async def invite_through_admin_page(client: AsyncTestClient[Litestar], cast: Cast, person: Person) -> None:
    async with signed_in(client, cast.admin) as admin:
        response = await admin.post(
            f"/admin/people/{person.id}/invite", data={"_csrf_token": admin.cookies["csrftoken"]}
        )
        assert response.status_code == 200
        assert "An invitation is on its way" in response.text


async def test_an_invited_person_chooses_a_password_through_the_emailed_link_and_is_signed_in(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    newcomer = await make_person(session, roles=["responder"], name="Wilhelmina Quarrie", password=False)
    await invite_through_admin_page(client, cast, newcomer)
    await workers.new().tick()
    (invitation,) = to(smtp_server, newcomer)
    assert invitation["Subject"] == "You are invited to the peer support service"
    path = link_path(invitation)
    assert path.startswith("/join/")

    form = await client.get(path)
    assert form.status_code == 200
    assert 'autocomplete="new-password"' in form.text and newcomer.email in form.text
    # A weak password is explained next to the field, and changes nothing.
    weak = await client.post(
        path, data={"password": "password1234", "confirm": "password1234", "_csrf_token": await csrf(client)}
    )
    assert weak.status_code == 422
    assert "Try a longer phrase of unrelated words" in weak.text
    short = await client.post(path, data={"password": "short", "confirm": "short", "_csrf_token": await csrf(client)})
    assert short.status_code == 422 and "Use at least 12 characters" in short.text
    own_name = await client.post(
        path,
        data={
            "password": "Wilhelmina Quarrie 2026",
            "confirm": "Wilhelmina Quarrie 2026",
            "_csrf_token": await csrf(client),
        },
    )
    assert own_name.status_code == 422 and "from your name or email address" in own_name.text
    mismatch = await client.post(
        path, data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD + "x", "_csrf_token": await csrf(client)}
    )
    assert mismatch.status_code == 422 and "The two passwords are different" in mismatch.text
    assert (await reread(session, newcomer)).password_hash is None

    chosen = await client.post(
        path,
        data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD, "_csrf_token": await csrf(client)},
        follow_redirects=False,
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == "/"
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["id"] == str(newcomer.id)
    stored = await reread(session, newcomer)
    assert stored.joined_at is not None
    assert await verify_password(stored.password_hash, GOOD_PASSWORD, profile="cheapest")

    # The link is spent: a second visit gets the clear page, and a way to ask again.
    async with signed_in(client, None) as other:
        again = await other.get(path)
        assert again.status_code == 404
        assert "This link has expired or has already been used." in again.text
        assert 'href="/password/forgot"' in again.text
        reuse = await other.post(
            path,
            data={
                "password": "another long passphrase here",
                "confirm": "another long passphrase here",
                "_csrf_token": await csrf(other),
            },
        )
        assert reuse.status_code == 404
    assert await verify_password((await reread(session, newcomer)).password_hash, GOOD_PASSWORD, profile="cheapest")
    actions = list(await session.exec(select(AuditEvent.action).where(AuditEvent.subject_id == str(newcomer.id))))
    assert "person.invited" in actions and "person.joined" in actions


async def test_resending_an_invitation_replaces_the_first_link(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    clock: FakeClock,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    newcomer = await make_person(session, roles=["responder"], password=False)
    await invite_through_admin_page(client, cast, newcomer)
    await workers.new().tick()
    clock.advance(minutes=5)
    await invite_through_admin_page(client, cast, newcomer)
    await workers.new().tick()
    first, second = to(smtp_server, newcomer)
    assert (await client.get(link_path(first))).status_code == 404
    assert (await client.get(link_path(second))).status_code == 200


async def test_an_expired_invitation_gets_a_clear_page_and_a_new_link_can_be_asked_for(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    clock: FakeClock,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    newcomer = await make_person(session, roles=["responder"], password=False)
    await invite_through_admin_page(client, cast, newcomer)
    await workers.new().tick()
    clock.advance(days=7, minutes=1)
    expired = await client.get(link_path(to(smtp_server, newcomer)[0]))
    assert expired.status_code == 404
    assert "This link has expired or has already been used." in expired.text

    # The admin sees who never joined.
    async with signed_in(client, cast.admin) as admin:
        never = await admin.get("/admin/people?access=expired")
        assert str(newcomer.id) in never.text and str(cast.peer.id) not in never.text
        joined = await admin.get("/admin/people?access=joined")
        assert str(newcomer.id) not in joined.text and str(cast.peer.id) in joined.text

    asked = await client.post(
        "/password/forgot", data={"email": newcomer.email.upper(), "_csrf_token": await csrf(client)}
    )
    assert asked.status_code == 200 and "If an account uses that address" in asked.text
    await workers.new().tick()
    fresh = to(smtp_server, newcomer)[-1]
    assert fresh["Subject"] == "You are invited to the peer support service"
    done = await client.post(
        link_path(fresh),
        data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD, "_csrf_token": await csrf(client)},
        follow_redirects=False,
    )
    assert done.status_code == 303


async def test_roster_import_with_invitations_invites_each_newcomer_once(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, workers: Workers, smtp_server: MailServer
) -> None:
    roster = (
        "staff_number,name,email,station,roles\n"
        "R-1,Ottoline Vexley,ottoline@example.org,Depot,responder\n"
        "R-2,Barnaby Quince,barnaby@example.org,Depot,responder;peer\n"
        f"{cast.peer.staff_number},{cast.peer.name},{cast.peer.email},,responder;peer\n"
    )
    async with signed_in(client, cast.admin) as admin:
        for _ in range(2):  # importing the same file again sends nothing more
            response = await admin.post(
                "/admin/roster",
                files={"file": ("roster.csv", roster.encode(), "text/csv")},
                data={"invite": "yes", "_csrf_token": admin.cookies["csrftoken"]},
            )
            assert response.status_code == 200
        assert "invited by email" not in response.text  # the second time, nobody
    await workers.new().tick()
    assert sorted(str(m["To"]) for m in smtp_server.messages) == ["barnaby@example.org", "ottoline@example.org"]
    assert all(m["Subject"] == "You are invited to the peer support service" for m in smtp_server.messages)


async def test_forgotten_password_answers_the_same_for_known_and_unknown_addresses(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, workers: Workers, smtp_server: MailServer
) -> None:
    known = await client.post("/password/forgot", data={"email": cast.peer.email, "_csrf_token": await csrf(client)})
    unknown = await client.post(
        "/password/forgot", data={"email": "nobody-here@example.org", "_csrf_token": await csrf(client)}
    )
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(cast.peer.email, "") == unknown.text.replace("nobody-here@example.org", "")
    await workers.new().tick()
    assert [m["To"] for m in smtp_server.messages] == [cast.peer.email]
    assert smtp_server.messages[0]["Subject"] == "Reset your password"
    # A bad address is a message next to the field, and sends nothing.
    bad = await client.post("/password/forgot", data={"email": "not an address", "_csrf_token": await csrf(client)})
    assert bad.status_code == 422 and "Enter your email address" in bad.text


async def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    clock: FakeClock,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    async with signed_in(client, cast.peer) as elsewhere:
        assert await sessions_of(session, cast.peer) == 1
        await client.post("/password/forgot", data={"email": cast.peer.email, "_csrf_token": await csrf(client)})
        await workers.new().tick()
        path = link_path(to(smtp_server, cast.peer)[0])
        assert path.startswith("/password/reset/")
        form = await client.get(path)
        assert form.status_code == 200 and "Choose a new password" in form.text
        weak = await client.post(
            path, data={"password": "qwertyuiopas", "confirm": "qwertyuiopas", "_csrf_token": await csrf(client)}
        )
        assert weak.status_code == 422
        assert await verify_password((await reread(session, cast.peer)).password_hash, PASSWORD, profile="cheapest")
        assert (await elsewhere.get("/api/me")).status_code == 200  # nothing changed yet

        done = await client.post(
            path,
            data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD, "_csrf_token": await csrf(client)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert (await elsewhere.get("/api/me")).status_code == 401  # signed out everywhere else
    assert (await client.get("/api/me")).json()["id"] == str(cast.peer.id)
    old = await client.post("/api/session", json={"email": cast.peer.email, "password": PASSWORD})
    assert old.status_code == 401
    assert (
        await client.post("/api/session", json={"email": cast.peer.email, "password": GOOD_PASSWORD})
    ).status_code == 200
    # Used once: the link is gone, and the person is told their password changed.
    assert (await client.get(path)).status_code == 404
    await workers.new().tick()
    assert [m["Subject"] for m in to(smtp_server, cast.peer)] == ["Reset your password", "Your password was changed"]


async def test_a_reset_link_lasts_an_hour(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    clock: FakeClock,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    await client.post("/password/forgot", data={"email": cast.lead.email, "_csrf_token": await csrf(client)})
    await workers.new().tick()
    path = link_path(to(smtp_server, cast.lead)[0])
    clock.advance(minutes=59)
    assert (await client.get(path)).status_code == 200
    clock.advance(minutes=2)
    late = await client.post(
        path, data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD, "_csrf_token": await csrf(client)}
    )
    assert late.status_code == 404 and "This link has expired" in late.text
    assert await verify_password((await reread(session, cast.lead)).password_hash, PASSWORD, profile="cheapest")
    await sign_in(client, cast.lead.email)


async def test_asking_for_links_is_limited_per_address_whether_or_not_it_is_known(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    workers: Workers,
    smtp_server: MailServer,
    settings: Settings,
) -> None:
    for n in range(settings.signin_max_failures_per_address):  # many addresses from one place
        ok = await client.post(
            "/password/forgot", data={"email": f"nobody-{n}@example.org", "_csrf_token": await csrf(client)}
        )
        assert ok.status_code == 200
    limited = await client.post("/password/forgot", data={"email": cast.peer.email, "_csrf_token": await csrf(client)})
    assert limited.status_code == 429 and "Too many requests for a link" in limited.text
    assert int(limited.headers["retry-after"]) > 0
    await workers.new().tick()
    assert smtp_server.messages == []
    # Asking for links never locks anyone out of signing in.
    await sign_in(client, cast.peer.email)
    links = (await session.exec(select(func.count()).select_from(AccountLink))).one()
    assert links == 0


async def test_the_admin_cannot_invite_someone_who_has_a_password(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    async with signed_in(client, cast.admin) as admin:
        response = await admin.post(
            f"/admin/people/{cast.peer.id}/invite", data={"_csrf_token": admin.cookies["csrftoken"]}
        )
        assert "They have a password already" in response.text
    assert (await service.person_view(session, cast.peer.id)).invited_at is None
