"""An address the mail server refuses outright is given up after a second try, the
programme lead is told once a day (how many, never which or what was sent), and the
settings page lists which addresses, for the lead and the admin only."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.notifications.conftest import MailServer, Workers, outbox, text_of
from trim.db import AsyncSession
from trim.notifications import service as notifications


async def _refuse_gone(smtp_server: MailServer) -> None:
    async def refuse(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("gone"):
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp_server.inbox.handle_RCPT = refuse  # type: ignore[attr-defined]


async def test_the_lead_is_told_once_a_day_how_many_addresses_refuse_and_the_page_says_which(
    client: AsyncTestClient[Litestar],
    session: AsyncSession,
    cast: Cast,
    clock: FakeClock,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    await _refuse_gone(smtp_server)
    for n in range(2):
        await notifications.enqueue(
            session, email="gone@example.org", kind="escalation", subject=f"Waiting {n}", body="b", now=clock()
        )
    await session.commit()
    worker = workers.new()
    await worker.tick()  # the first refusal
    clock.advance(seconds=31)
    await worker.tick()  # the second: given up; the lead's note is written next round
    await worker.tick()  # and sent
    notes = [m for m in smtp_server.messages if m["Subject"] == "Some email addresses refuse our messages"]
    assert [m["To"] for m in notes] == [cast.lead.email]
    words = text_of(notes[0])
    assert "1 email address refused our messages" in words
    assert "gone@example.org" not in words and "Waiting" not in words
    assert "https://testserver.local/admin/settings#refused-addresses" in words

    # The same day: no second note, whatever is refused meanwhile.
    await notifications.enqueue(
        session, email="gone2@example.org", kind="escalation", subject="W", body="b", now=clock()
    )
    await session.commit()
    for _ in range(2):
        clock.advance(seconds=31)
        await worker.tick()
    await worker.tick()
    assert len([m for m in smtp_server.messages if m["Subject"] == notes[0]["Subject"]]) == 1
    # The next day: one note, about what was refused since the last one.
    clock.advance(days=1)
    await worker.tick()
    await worker.tick()
    notes = [m for m in smtp_server.messages if m["Subject"] == notes[0]["Subject"]]
    assert len(notes) == 2 and "1 email address refused" in text_of(notes[1])
    given_up = [row for row in await outbox(session) if row.failed_at is not None]
    assert sorted(row.to_address for row in given_up) == ["gone2@example.org", "gone@example.org", "gone@example.org"]

    for who in ("admin", "lead"):
        async with signed_in(client, cast.person(who)) as browser:
            page = await browser.get("/admin/settings")
            assert page.status_code == 200
            assert "gone@example.org" in page.text and "gone2@example.org" in page.text
            assert "SMTPRecipientsRefused 550" in page.text
    for who in ("peer", "supervisor"):
        async with signed_in(client, cast.person(who)) as browser:
            assert (await browser.get("/admin/settings")).status_code == 404


async def test_no_note_when_nothing_was_refused(
    session: AsyncSession, cast: Cast, clock: FakeClock, workers: Workers, smtp_server: MailServer
) -> None:
    await notifications.enqueue(
        session, email="fine@example.org", kind="escalation", subject="S", body="b", now=clock()
    )
    await session.commit()
    worker = workers.new()
    for _ in range(2):
        await worker.tick()
        clock.advance(days=1, seconds=1)
    assert [m["Subject"] for m in smtp_server.messages] == ["S"]


async def test_the_settings_page_says_so_when_no_address_is_refused(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    async with signed_in(client, cast.admin) as browser:
        page = await browser.get("/admin/settings")
    assert page.status_code == 200
    assert "None: every address the mail server was given was accepted" in page.text
