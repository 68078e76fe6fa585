"""An admin cannot become someone (design 3a): a change of sign-in email waits for the new
address to confirm it, the old address is told at once, and until the confirmation every
path that reads the email (sign-in, password reset, SSO matching) keeps the old one.

Emails go through the real worker to a real SMTP server on loopback; links are followed
with the test client. This folder's conftest scans every message for names and addresses.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete
from sqlmodel import col, func, select

from tests.cast import CAST_ROLES, PASSWORD, Cast, signed_in
from tests.conftest import FakeClock
from tests.notifications.conftest import MailServer, Workers
from tests.notifications.test_getting_in import GOOD_PASSWORD, csrf, link_path, reread
from trim.accounts import email_change, factors, links, service
from trim.accounts.models import AccountLink, Person, TotpFactor
from trim.config import Settings
from trim.db import AsyncSession
from trim.notifications.models import OutboxMessage
from trim.privacy.models import AuditEvent

ATTACKER = "sunniva.private@elsewhere.example"  # an address the admin owns
NEW = "new.address@elsewhere.example"


def to_address(server: MailServer, address: str) -> list[EmailMessage]:
    return [m for m in server.messages if m["To"] == address]


def subjects_to(server: MailServer, address: str) -> list[str]:
    return [str(m["Subject"]) for m in to_address(server, address)]


async def person_form(browser: AsyncTestClient[Litestar], cast: Cast, who: str, **changes: str) -> dict[str, object]:
    person = cast.person(who)
    return {
        "name": person.name,
        "staff_number": person.staff_number,
        "email": person.email,
        "station_id": str(person.station_id or ""),
        "roles": CAST_ROLES[who],
        **changes,
        "_csrf_token": await csrf(browser),
    }


async def change_email(client: AsyncTestClient[Litestar], cast: Cast, who: str, new_email: str) -> str:
    """The admin types a new address on the person's page; returns the page they land on."""
    async with signed_in(client, cast.admin) as admin:
        saved = await admin.post(
            f"/admin/people/{cast.person(who).id}",
            data=await person_form(admin, cast, who, email=new_email),
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        landed = await admin.get(saved.headers["location"])
        return landed.text


async def actors_of(session: AsyncSession, person: Person) -> dict[str, list[str | None]]:
    rows = await session.exec(
        select(AuditEvent).where(AuditEvent.subject_id == str(person.id)).order_by(col(AuditEvent.id))
    )
    found: dict[str, list[str | None]] = {}
    for event in rows:
        found.setdefault(event.action, []).append(event.actor_id)
    return found


async def test_an_admin_who_types_their_own_address_cannot_reset_the_persons_password(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    victim = cast.responder
    real = victim.email
    landed = await change_email(client, cast, "responder", ATTACKER)
    assert "The new email address takes effect when they confirm it from that address" in landed
    assert "Change waiting for confirmation:" in landed and ATTACKER in landed
    stored = await reread(session, victim)
    assert (stored.email, stored.pending_email) == (real, ATTACKER)
    await workers.new().tick()
    assert subjects_to(smtp_server, real) == ["Your sign-in email is being changed"]
    assert subjects_to(smtp_server, ATTACKER) == ["Confirm your new sign-in email"]
    confirm_path = link_path(to_address(smtp_server, ATTACKER)[0])
    assert confirm_path.startswith("/email/confirm/")

    # The attack as reported: a reset for the new address sends nothing there...
    asked = await client.post("/password/forgot", data={"email": ATTACKER, "_csrf_token": await csrf(client)})
    assert asked.status_code == 200 and "If an account uses that address" in asked.text
    await workers.new().tick()
    assert subjects_to(smtp_server, ATTACKER) == ["Confirm your new sign-in email"]
    # ...the new address does not sign in, and single sign-on's lookup does not find it.
    assert (await client.post("/api/session", json={"email": ATTACKER, "password": PASSWORD})).status_code == 401
    assert await service.person_by_email(session, ATTACKER) is None
    assert (await service.person_by_email(session, real)) is not None

    # Confirmed from the new address, it becomes the sign-in email, and both are told.
    shown = await client.get(confirm_path)
    assert shown.status_code == 200 and ATTACKER in shown.text and victim.name not in shown.text
    assert (await reread(session, victim)).email == real  # opening the link alone changes nothing
    done = await client.post(confirm_path, data={"_csrf_token": await csrf(client)})
    assert done.status_code == 200 and "You now sign in with" in done.text
    assert (await reread(session, victim)).email == ATTACKER
    await workers.new().tick()
    assert subjects_to(smtp_server, real)[-1] == "Your sign-in email was changed"
    assert subjects_to(smtp_server, ATTACKER)[-1] == "Your sign-in email was changed"
    assert (await client.post(confirm_path, data={"_csrf_token": await csrf(client)})).status_code == 404

    # Only now does a reset go to the new address; "password changed" reaches the old one too.
    await client.post("/password/forgot", data={"email": ATTACKER, "_csrf_token": await csrf(client)})
    await workers.new().tick()
    reset = to_address(smtp_server, ATTACKER)[-1]
    assert reset["Subject"] == "Reset your password"
    assert subjects_to(smtp_server, real).count("Reset your password") == 0
    chosen = await client.post(
        link_path(reset),
        data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD, "_csrf_token": await csrf(client)},
        follow_redirects=False,
    )
    assert chosen.status_code == 303
    await workers.new().tick()
    assert subjects_to(smtp_server, real)[-1] == "Your password was changed"
    assert subjects_to(smtp_server, ATTACKER)[-1] == "Your password was changed"

    # The log credits each step to whoever took it, never to the person it is about.
    actors = await actors_of(session, victim)
    assert actors["person.email_change_started"] == [str(cast.admin.id)]
    assert actors["person.email_changed"] == ["link"]
    assert actors["person.password_reset_requested"] == ["anonymous"]
    assert actors["person.password_set"] == ["link"]

    # The person's own record says it plainly, and who did what.
    record = (await client.get("/api/me/record")).json()
    assert record["profile"]["id"] == str(victim.id)
    assert record["profile"]["email_note"] == (
        f"Your sign-in email was changed by an admin on 2 November 2026; before that it was {real}."
    )
    assert record["profile"]["email_changed_by_admin"] is True and record["profile"]["previous_email"] == real
    reads = {(r["who"], r["what"]) for r in record["reads"]}
    assert (cast.admin.name, "started a change of your sign-in email") in reads
    assert ("someone using a link we emailed", "confirmed a new sign-in email for you") in reads
    assert ("someone not signed in", "asked for a password reset link") in reads
    assert ("someone using a link we emailed", "set your password") in reads
    page = await client.get("/me")
    assert "Your sign-in email was changed by an admin on 2 November 2026" in page.text


async def test_a_reset_asked_for_by_a_signed_in_admin_is_credited_to_the_admin(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, workers: Workers
) -> None:
    async with signed_in(client, cast.admin) as admin:
        asked = await admin.post(
            "/password/forgot", data={"email": cast.responder.email, "_csrf_token": await csrf(admin)}
        )
        assert asked.status_code == 200
    await workers.new().tick()  # the worker makes the link (the page only queues the request)
    actors = await actors_of(session, cast.responder)
    assert actors["person.password_reset_requested"] == [str(cast.admin.id)]


async def test_while_a_change_waits_the_person_signs_in_as_before_and_their_record_says_so(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, workers: Workers, smtp_server: MailServer
) -> None:
    await change_email(client, cast, "responder", NEW)
    async with signed_in(client, cast.responder) as person:  # with the old address
        record = (await person.get("/api/me/record")).json()
        profile = record["profile"]
        assert profile["email"] == cast.responder.email and profile["pending_email"] == NEW
        assert profile["email_note"].startswith(
            f"An admin asked on 2 November 2026 to change your sign-in email to {NEW}. It changes only when"
        )
        page = await person.get("/me")
        assert f"An admin asked on 2 November 2026 to change your sign-in email to {NEW}" in page.text
        csv = await person.get("/me/record.csv")
        assert "pending_email" in csv.text and NEW in csv.text
    # The notice to the old address says what to do, and gives away nothing.
    await workers.new().tick()
    (notice,) = to_address(smtp_server, cast.responder.email)
    assert "tell your programme lead" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_the_confirmation_link_runs_out_and_a_later_change_replaces_it(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    clock: FakeClock,
    settings: Settings,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    await change_email(client, cast, "peer", "first.try@elsewhere.example")
    await workers.new().tick()
    first = link_path(to_address(smtp_server, "first.try@elsewhere.example")[0])
    await change_email(client, cast, "peer", NEW)  # the admin typed it wrong the first time
    await workers.new().tick()
    second = link_path(to_address(smtp_server, NEW)[0])
    gone = await client.get(first)
    assert gone.status_code == 404 and "This link has expired or has already been used." in gone.text
    assert "ask your administrator to make the change again" in gone.text
    assert (await client.post(first, data={"_csrf_token": await csrf(client)})).status_code == 404

    clock.advance(hours=settings.email_change_valid_hours, minutes=1)
    late = await client.post(second, data={"_csrf_token": await csrf(client)})
    assert late.status_code == 404
    stored = await reread(session, cast.peer)
    assert (stored.email, stored.pending_email) == (cast.peer.email, NEW)
    # Asked again, a fresh link works (once).
    await change_email(client, cast, "peer", NEW)
    await workers.new().tick()
    third = link_path(to_address(smtp_server, NEW)[-1])
    assert (await client.post(third, data={"_csrf_token": await csrf(client)})).status_code == 200
    assert (await reread(session, cast.peer)).email == NEW


async def test_the_admin_can_cancel_a_waiting_change_and_the_old_address_is_told(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, workers: Workers, smtp_server: MailServer
) -> None:
    await change_email(client, cast, "responder", NEW)
    await workers.new().tick()
    path = link_path(to_address(smtp_server, NEW)[0])
    async with signed_in(client, cast.admin) as admin:
        url = f"/admin/people/{cast.responder.id}/email/cancel"
        cancelled = await admin.post(url, data={"_csrf_token": await csrf(admin)})
        assert "The change of email is cancelled" in cancelled.text
        again = await admin.post(url, data={"_csrf_token": await csrf(admin)})
        assert "No change of email was waiting." in again.text
    assert (await reread(session, cast.responder)).pending_email is None
    assert (await client.get(path)).status_code == 404
    await workers.new().tick()
    assert subjects_to(smtp_server, cast.responder.email) == [
        "Your sign-in email is being changed",
        "The change to your sign-in email was cancelled",
    ]


async def test_an_address_someone_else_took_meanwhile_is_not_confirmed(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, workers: Workers, smtp_server: MailServer
) -> None:
    await change_email(client, cast, "responder", NEW)
    await workers.new().tick()
    path = link_path(to_address(smtp_server, NEW)[0])
    async with signed_in(client, cast.admin) as admin:
        added = await admin.post(
            "/admin/people",
            data={"name": "Someone New", "staff_number": "N-1", "email": NEW, "roles": ["responder"],
                  "_csrf_token": await csrf(admin)},
            follow_redirects=False,
        )  # fmt: skip
        assert added.status_code == 303
    refused = await client.post(path, data={"_csrf_token": await csrf(client)})
    assert refused.status_code == 409 and "Another account uses this address now" in refused.text
    assert (await reread(session, cast.responder)).email == cast.responder.email


async def test_a_bad_or_taken_address_is_refused_and_nothing_waits(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    async with signed_in(client, cast.admin) as admin:
        url = f"/admin/people/{cast.responder.id}"
        bad = await admin.post(url, data=await person_form(admin, cast, "responder", email="not an address"))
        assert bad.status_code == 422 and "Enter an email address like name@example.org." in bad.text
        taken = await admin.post(url, data=await person_form(admin, cast, "responder", email=cast.peer.email))
        assert taken.status_code == 422 and "Someone else already uses this email address." in taken.text
    stored = await reread(session, cast.responder)
    assert (stored.email, stored.pending_email) == (cast.responder.email, None)
    assert (await session.exec(select(func.count()).select_from(OutboxMessage))).one() == 0
    assert (await session.exec(select(func.count()).select_from(AccountLink))).one() == 0


async def test_an_admin_changing_their_own_email_confirms_it_from_the_new_address_too(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, workers: Workers, smtp_server: MailServer
) -> None:
    await change_email(client, cast, "admin", NEW)
    stored = await reread(session, cast.admin)
    assert (stored.email, stored.pending_email) == (cast.admin.email, NEW)
    await workers.new().tick()
    (notice,) = to_address(smtp_server, cast.admin.email)
    assert "You asked to change the sign-in email" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert (
        await client.post(link_path(to_address(smtp_server, NEW)[0]), data={"_csrf_token": await csrf(client)})
    ).status_code == 200
    async with signed_in(client, None) as browser:
        await browser.post("/api/session", json={"email": NEW, "password": PASSWORD})
        record = (await browser.get("/api/me/record")).json()
        assert record["profile"]["email_note"].startswith("Your sign-in email was changed by you on 2 November 2026")


async def test_second_factor_reset_notices_reach_the_waiting_and_the_recent_old_address(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, settings: Settings, db: AsyncSession
) -> None:
    async def reset_and_read() -> list[str]:
        """Give the peer an authenticator app, have the admin reset it: where did the notice go?"""
        db.add(TotpFactor(person_id=cast.peer.id, secret_encrypted="x", enabled_at=clock()))
        await db.flush()
        done = await factors.reset(
            db, actor=cast.actor("admin"), person_id=cast.peer.id, now=clock(), settings=settings
        )
        assert done
        rows = await db.exec(
            select(OutboxMessage.to_address).where(OutboxMessage.subject == "Your second factor was reset")
        )
        addresses = sorted(rows)
        await db.exec(delete(OutboxMessage))
        await db.commit()
        return addresses

    old = cast.peer.email
    await change_email(client, cast, "peer", NEW)
    assert await reset_and_read() == sorted([old, NEW])  # waiting: both
    # Confirmed (with a link issued here, so the test knows its token): both, for the notice period.
    person = await db.get(Person, cast.peer.id)
    assert person is not None
    token = await links._issue(db, person=person, purpose=links.EMAIL, now=clock(), settings=settings, email=NEW)
    await email_change.confirm(db, token=token, actor=None, now=clock(), settings=settings)
    await db.commit()
    assert await reset_and_read() == sorted([old, NEW])
    clock.advance(days=settings.email_change_notice_days, hours=1)
    assert await reset_and_read() == [NEW]  # long after the change: the current address alone


async def test_an_address_taken_at_the_very_moment_of_confirming_is_refused_not_a_crash(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    session: AsyncSession,
    workers: Workers,
    smtp_server: MailServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The other account is created between the check and the write: the unique index decides.
    await change_email(client, cast, "responder", NEW)
    await workers.new().tick()
    path = link_path(to_address(smtp_server, NEW)[0])
    async with signed_in(client, cast.admin) as admin:
        added = await admin.post(
            "/admin/people",
            data={"name": "Someone New", "staff_number": "N-2", "email": NEW, "roles": ["responder"],
                  "_csrf_token": await csrf(admin)},
            follow_redirects=False,
        )  # fmt: skip
        assert added.status_code == 303

    async def nobody(*_args: object, **_kwargs: object) -> None:
        return None

    monkeypatch.setattr(email_change, "person_by_email", nobody)
    refused = await client.post(path, data={"_csrf_token": await csrf(client)})
    assert refused.status_code == 409 and "Another account uses this address now" in refused.text
    person = await reread(session, cast.responder)
    assert (person.email, person.pending_email) == (cast.responder.email, NEW)
