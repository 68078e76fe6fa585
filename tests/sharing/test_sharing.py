"""A note the person shares with a manager (design section 18), route by role: the manager
gets 404 before release, exactly the note after, 404 after withdrawal; nobody else reads
the text (the lead sees that a note was shared); the peer can suggest, never release."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import assigned_peer, checkins_of, make_incident
from trim.config import Settings
from trim.db import AsyncSession
from trim.notifications.models import OutboxMessage
from trim.sharing import rules
from trim.sharing.models import SharedNote

NOTE = "I'm on lighter duties until 14 March, agreed with occupational health."
SUGGESTED = "Lighter duties for a few weeks, please."


async def _form(browser: AsyncTestClient[Litestar], path: str, **fields: str) -> Any:
    data = {**fields, "_csrf_token": browser.cookies["csrftoken"]}
    return await browser.post(path, data=data, follow_redirects=False)


async def _peer_of_responder(session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings) -> Any:
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=4),
        now=clock(),
        settings=settings,
    )
    day3 = (await checkins_of(session, cast.responder))[0]
    return day3, await assigned_peer(session, day3)


def _others(cast: Cast, *exclude: Any) -> list[Any]:
    everyone = [cast.responder, cast.peer, cast.other_peer, cast.lead, cast.clinician, cast.other_clinician]
    everyone += [cast.supervisor, cast.admin]
    return [p for p in everyone if all(p.id != e.id for e in exclude)]


async def test_the_manager_reads_the_note_only_between_release_and_withdrawal(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    day3, peer = await _peer_of_responder(session, cast, clock, settings)
    # Before release: the peer's suggestion exists, and nobody but the person sees it.
    async with signed_in(client, peer) as browser:
        suggested = await _form(browser, f"/checkins/{day3.id}/note-suggestion", text=SUGGESTED)
        assert suggested.status_code == 303
    (note,) = list(await session.exec(select(SharedNote)))
    assert note.status == "suggested" and note.manager_id is None
    for person in _others(cast, cast.responder):
        async with signed_in(client, person) as browser:
            assert (await browser.get(f"/api/shared-notes/{note.id}")).status_code == 404, person.name
    async with signed_in(client, cast.supervisor) as manager:
        assert (await manager.get("/api/shared-notes")).json() == []
    told = list(await session.exec(select(OutboxMessage).where(OutboxMessage.person_id == cast.responder.id)))
    assert [m.subject for m in told] == ["Something is waiting for your OK"]
    assert SUGGESTED not in told[0].body

    # The person releases it, in their own words, to their watch manager.
    async with signed_in(client, cast.responder) as responder:
        page = (await responder.get("/me/notes")).text
        assert SUGGESTED in page and "At your station" in page and cast.supervisor.name in page
        released = await _form(responder, f"/me/notes/{note.id}/approve", text=NOTE, manager_id=str(cast.supervisor.id))
        assert released.status_code == 303
    async with signed_in(client, cast.supervisor) as manager:
        (listed,) = (await manager.get("/api/shared-notes")).json()
        one = (await manager.get(f"/api/shared-notes/{note.id}")).json()
        page = (await manager.get("/shared-notes")).text
    # Exactly the note and its date (and whose it is): nothing of where it came from.
    assert listed == one
    assert {k for k, v in one.items() if v is not None} == {"id", "access", "status", "shared_at", "text", "person"}
    assert one["text"] == NOTE and one["person"] == cast.responder.name and one["access"] == "manager"
    assert NOTE in page.replace("&#39;", "'") and SUGGESTED not in page
    (email,) = list(await session.exec(select(OutboxMessage).where(OutboxMessage.person_id == cast.supervisor.id)))
    assert email.subject == "A colleague has shared a note with you" and email.link == "/shared-notes"
    assert "lighter" not in email.body.lower() and cast.responder.name not in email.body

    # Nobody else reads it; the lead sees that it was shared, not its text.
    async with signed_in(client, cast.lead) as lead:
        (status,) = (await lead.get("/api/shared-notes")).json()
        assert status["access"] == "status" and status["text"] is None and status["status"] == "shared"
        lead_page = (await lead.get("/shared-notes")).text
        assert cast.responder.name in lead_page and "lighter" not in lead_page.lower()
    for person in (peer, cast.clinician, cast.other_clinician, cast.admin):
        async with signed_in(client, person) as browser:
            assert (await browser.get(f"/api/shared-notes/{note.id}")).status_code == 404, person.name
            assert (await browser.get("/api/shared-notes")).status_code in (200, 404)
            for path in ("/api/shared-notes", "/shared-notes", "/me", "/api/me/record"):
                assert "lighter" not in (await browser.get(path)).text.lower(), (person.name, path)
            # The peer can never release or withdraw anything themselves.
            assert (await _form(browser, f"/me/notes/{note.id}/withdraw")).status_code == 404
            again = await _form(browser, f"/me/notes/{note.id}/approve", text=NOTE, manager_id=str(cast.supervisor.id))
            assert again.status_code == 404

    # Withdrawn: the manager gets 404 and an empty page.
    async with signed_in(client, cast.responder) as responder:
        assert (await _form(responder, f"/me/notes/{note.id}/withdraw")).status_code == 303
    async with signed_in(client, cast.supervisor) as manager:
        assert (await manager.get(f"/api/shared-notes/{note.id}")).status_code == 404
        assert (await manager.get("/api/shared-notes")).json() == []
        assert "lighter" not in (await manager.get("/shared-notes")).text.lower()
    async with signed_in(client, cast.lead) as lead:
        assert [n["status"] for n in (await lead.get("/api/shared-notes")).json()] == ["withdrawn"]

    # Every release and withdrawal, and the manager's read, on the person's own record.
    async with signed_in(client, cast.responder) as responder:
        record = (await responder.get("/api/me/record")).json()
        page = (await responder.get("/me")).text
    (entry,) = record["shared_notes"]
    assert entry["text"] == NOTE and entry["manager"] == cast.supervisor.name
    assert entry["shared_at"] and entry["withdrawn_at"] and entry["suggested_by_peer"] is True
    whats = {(r["who"], r["what"]) for r in record["reads"]}
    assert (cast.supervisor.name, "read the note you shared with them") in whats
    assert (peer.name, "suggested a note you could share with your manager") in whats
    assert "withdrawn on" in page and f"Shared with {cast.supervisor.name}" in page


async def test_a_note_needs_words_and_a_manager_and_bad_input_changes_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, settings: Settings
) -> None:
    async with signed_in(client, cast.responder) as responder:
        cases = [
            ({"text": "  ", "manager_id": str(cast.supervisor.id)}, "Write the note"),
            ({"text": NOTE, "manager_id": ""}, "Choose the manager"),
            ({"text": NOTE, "manager_id": "not-an-id"}, "Choose the manager"),
            ({"text": NOTE, "manager_id": str(cast.peer.id)}, "Choose the manager"),  # not a manager
            ({"text": "x" * (settings.shared_note_max_chars + 1), "manager_id": str(cast.supervisor.id)}, "Keep the"),
        ]
        for fields, message in cases:
            answer = await _form(responder, "/me/notes", **fields)
            assert answer.status_code == 422 and message in answer.text, fields
    async with signed_in(client, cast.supervisor) as manager:
        # Nobody shares a note with themselves.
        answer = await _form(manager, "/me/notes", text=NOTE, manager_id=str(cast.supervisor.id))
        assert answer.status_code == 422
    assert list(await session.exec(select(SharedNote))) == []
    assert list(await session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == "shared_note"))) == []


async def test_a_withdrawn_note_cannot_be_withdrawn_or_released_again(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    async with signed_in(client, cast.responder) as responder:
        await _form(responder, "/me/notes", text=NOTE, manager_id=str(cast.supervisor.id))
        (note,) = list(await session.exec(select(SharedNote)))
        assert (await _form(responder, f"/me/notes/{note.id}/withdraw")).status_code == 303
        again = await responder.post(
            f"/me/notes/{note.id}/withdraw", data={"_csrf_token": responder.cookies["csrftoken"]}
        )
        assert "already been withdrawn" in again.text
        released = await responder.post(
            f"/me/notes/{note.id}/approve",
            data={"text": NOTE, "manager_id": str(cast.supervisor.id), "_csrf_token": responder.cookies["csrftoken"]},
        )
        assert "already been shared or withdrawn" in released.text
    async with signed_in(client, cast.supervisor) as manager:
        assert (await manager.get(f"/api/shared-notes/{note.id}")).status_code == 404


def test_note_rules() -> None:
    assert rules.clean_note_text("  two\n lines  ") == "two lines"
    assert rules.note_text_problem("", max_chars=10) == "Write the note your manager will read."
    assert rules.note_text_problem("x" * 11, max_chars=10) is not None
    assert rules.note_text_problem("x" * 10, max_chars=10) is None
    assert [rules.may_release(s) for s in ("suggested", "shared", "withdrawn")] == [True, False, False]
    assert [rules.may_withdraw(s) for s in ("suggested", "shared", "withdrawn")] == [True, True, False]


async def test_the_peer_finds_the_suggestion_form_on_their_check_in_and_others_do_not(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock, session: AsyncSession, settings: Settings
) -> None:
    day3, peer = await _peer_of_responder(session, cast, clock, settings)
    async with signed_in(client, peer) as browser:
        assert f"/checkins/{day3.id}/note-suggestion" in (await browser.get(f"/checkins/{day3.id}")).text
        empty = await browser.post(
            f"/checkins/{day3.id}/note-suggestion", data={"text": " ", "_csrf_token": browser.cookies["csrftoken"]}
        )
        assert "Write the note" in empty.text
    for person in (cast.responder, cast.lead):
        async with signed_in(client, person) as browser:
            assert "note-suggestion" not in (await browser.get(f"/checkins/{day3.id}")).text
    async with signed_in(client, cast.lead) as lead:
        # The lead is no peer of this person: refused like a missing check-in.
        assert (await _form(lead, f"/checkins/{day3.id}/note-suggestion", text=SUGGESTED)).status_code == 404
    assert list(await session.exec(select(SharedNote))) == []
