"""The conversation on a request: the requester and the peer who took it, nobody else;
encrypted at rest; a resend stores once; bad input stores nothing; one email per person
per conversation per window; it ends (read-only) with the request, and goes with its
retention and key rotation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlmodel import col, func, select

from tests.cast import Cast, signed_in
from tests.conftest import TEST_KEYS, FakeClock, make_settings
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.errors import Conflict, InvalidInput, NotFound
from trim.notifications.models import OutboxMessage
from trim.privacy import crypto
from trim.privacy.models import AuditEvent
from trim.records.keys import rotate_keys, undecryptable
from trim.records.retention import purge
from trim.requests import conversation
from trim.requests import service as requests
from trim.requests.models import ConversationMessage, PeerRequest


async def taken_request(db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock, **kw: Any) -> uuid.UUID:
    """A request from the responder that the peer has taken."""
    data: dict[str, Any] = {
        "urgency": "today",
        "contact_method": "phone",
        "contact": "020 7946 0123",
        "safety_concern": False,
    }
    data.update(kw)
    created = await requests.submit(
        db, actor=cast.actor("responder"), now=clock(), settings=settings, data=requests.RequestInput(**data)
    )
    await requests.accept(db, actor=cast.actor("peer"), request_id=created.id, now=clock(), settings=settings)
    await db.commit()
    return created.id


async def send(
    db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock, who: str, request_id: uuid.UUID, body: str
) -> conversation.MessageView:
    message, created = await conversation.send(
        db,
        actor=cast.actor(who),
        request_id=request_id,
        body=body,
        client_id=uuid.uuid4().hex,
        settings=settings,
        now=clock(),
    )
    assert created
    await db.commit()
    clock.advance(seconds=5)
    return message


async def stored(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(ConversationMessage))).one())


async def test_the_requester_and_the_peer_who_took_it_write_and_nobody_else_reads(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    async with signed_in(client, cast.responder) as responder:
        asked = await responder.post(
            "/api/requests", json={"urgency": "today", "contact_method": "in_person", "safety_concern": False}
        )
        request_id = asked.json()["id"]
        url = f"/api/conversations/{request_id}/messages"
        waiting = (await responder.get(url)).json()
        assert (waiting["state"], waiting["messages"]) == ("waiting", [])
        early = await responder.post(url, json={"client_id": "a1", "body": "Hello?"})
        assert early.status_code == 409 and "once a peer takes" in early.json()["detail"]
    async with signed_in(client, cast.peer) as peer:
        assert (await peer.post(f"/api/requests/{request_id}/accept")).status_code == 200
        sent = await peer.post(url, json={"client_id": "p1", "body": "Hi, I'm here. When suits you?"})
        assert sent.status_code == 201 and sent.json()["author"] == "You"
        clock.advance(seconds=30)
    async with signed_in(client, cast.responder) as responder:
        assert (await responder.post(url, json={"client_id": "r1", "body": "Tonight, after 8."})).status_code == 201
        mine = (await responder.get(url)).json()
        assert mine["state"] == "open"
        assert [(m["author"], m["body"], m["mine"]) for m in mine["messages"]] == [
            (cast.peer.name, "Hi, I'm here. When suits you?", False),
            ("You", "Tonight, after 8.", True),
        ]
    async with signed_in(client, cast.peer) as peer:
        theirs = (await peer.get(url)).json()
        assert theirs["requester"] == cast.responder.name
        assert [m["author"] for m in theirs["messages"]] == ["You", cast.responder.name]
        page = (await peer.get(f"/requests/{request_id}")).text
        assert "Tonight, after 8." in page and 'id="conversation"' in page
    # Everyone else, the lead and the peers it was offered to included: 404, nothing stored.
    for person in (cast.lead, cast.other_peer, cast.supervisor, cast.admin, cast.clinician):
        async with signed_in(client, person) as browser:
            assert (await browser.get(url)).status_code == 404, person.name
            assert (await browser.post(url, json={"client_id": "x1", "body": "Let me in"})).status_code == 404
            assert (await browser.get(f"/requests/{request_id}/messages?seen=0")).status_code == 404
    assert await stored(session) == 2
    async with signed_in(client, cast.lead) as lead:
        seen = (await lead.get(f"/api/requests/{request_id}")).json()
        assert seen["conversation"] == "open" and seen["message"] is None
        page = (await lead.get(f"/requests/{request_id}")).text
        assert "Open between them" in page and "Tonight" not in page and 'id="conversation"' not in page


async def test_a_resend_with_the_same_client_id_stores_once(
    client: AsyncTestClient[Litestar], session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.responder) as responder:
        asked = await responder.post(
            "/api/requests", json={"urgency": "today", "contact_method": "in_person", "safety_concern": False}
        )
    request_id = asked.json()["id"]
    url = f"/api/conversations/{request_id}/messages"
    async with signed_in(client, cast.peer) as peer:
        await peer.post(f"/api/requests/{request_id}/accept")
        first = await peer.post(url, json={"client_id": "same-1", "body": "Are you OK to talk?"})
        again = await peer.post(url, json={"client_id": "same-1", "body": "Are you OK to talk?"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        changed = await peer.post(url, json={"client_id": "same-1", "body": "Something else"})
        assert changed.status_code == 409 and "client_id" in changed.json()["detail"]
        assert len((await peer.get(url)).json()["messages"]) == 1
    clock.advance(seconds=30)
    async with signed_in(client, cast.responder) as responder:
        # Another author may use the same client_id: it is theirs, not the peer's.
        assert (await responder.post(url, json={"client_id": "same-1", "body": "Yes"})).status_code == 201
    assert await stored(session) == 2
    sent = list(
        await session.exec(select(AuditEvent.action).where(col(AuditEvent.action) == "conversation.message_sent"))
    )
    assert len(sent) == 2


async def test_messages_are_ciphertext_at_rest(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    request_id = await taken_request(db, cast, settings, clock)
    await send(db, cast, settings, clock, "responder", request_id, "The smell of smoke won't go.")
    raw = (await session.exec(text("SELECT body_encrypted FROM conversation_messages"))).one()  # type: ignore[call-overload]
    assert "smoke" not in raw[0]
    assert crypto.decrypt(settings, raw[0]) == "The smell of smoke won't go."


async def test_bad_messages_are_refused_and_store_nothing(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    request_id = await taken_request(db, cast, settings, clock)

    async def attempt(who: str, body: str | None, client_id: str | None = "c-1") -> None:
        await conversation.send(
            db,
            actor=cast.actor(who),
            request_id=request_id,
            body=body,
            client_id=client_id,
            settings=settings,
            now=clock(),
        )

    for body, client_id, field in [
        ("", "c-1", "body"),
        ("   \n ", "c-1", "body"),
        ("x" * (settings.conversation_message_max + 1), "c-1", "body"),
        ("Hello", "", "client_id"),
        ("Hello", "has spaces", "client_id"),
        ("Hello", "x" * 65, "client_id"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            await attempt("responder", body, client_id)
        assert field in caught.value.field_messages()
    # The other peer, to whom the request was offered too, and the lead: not found.
    for who in ("other_peer", "lead", "supervisor"):
        with pytest.raises(NotFound):
            await attempt(who, "Hello")
    await requests.close(
        db, actor=cast.actor("peer"), request_id=request_id, outcome="supported", now=clock(), settings=settings
    )
    await db.commit()
    for who in ("responder", "peer"):
        with pytest.raises(Conflict) as closed:
            await attempt(who, "One more thing")
        assert "ended with the request" in closed.value.detail
    await db.rollback()
    assert await stored(session) == 0
    # Still readable by the two of them, read-only.
    view = await conversation.read(
        db, actor=cast.actor("responder"), request_id=request_id, settings=settings, now=clock()
    )
    assert view.state == "closed" and not view.can_write


async def test_one_email_per_person_per_conversation_per_window(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    request_id = await taken_request(db, cast, settings, clock)

    async def emails_to(person_id: uuid.UUID) -> list[OutboxMessage]:
        rows = await session.exec(
            select(OutboxMessage).where(
                col(OutboxMessage.person_id) == person_id, col(OutboxMessage.kind) == "conversation_message"
            )
        )
        return list(rows)

    for body in ("Hello", "Are you free later?", "No rush."):
        await send(db, cast, settings, clock, "peer", request_id, body)
    (email,) = await emails_to(cast.responder.id)
    assert email.subject == "You have a new message" and email.link == f"/requests/{request_id}#conversation"
    assert "Hello" not in email.body and cast.peer.name not in email.body
    await send(db, cast, settings, clock, "responder", request_id, "Yes, 6pm")
    assert len(await emails_to(cast.peer.id)) == 1
    clock.advance(minutes=settings.conversation_email_minutes - 1)
    await send(db, cast, settings, clock, "peer", request_id, "Great")
    assert len(await emails_to(cast.responder.id)) == 1
    clock.advance(minutes=1)
    await send(db, cast, settings, clock, "peer", request_id, "Speak then")
    assert len(await emails_to(cast.responder.id)) == 2


async def test_reads_and_writes_are_audited_without_content(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    request_id = await taken_request(db, cast, settings, clock)
    empty = await conversation.read(db, actor=cast.actor("peer"), request_id=request_id, settings=settings, now=clock())
    assert empty.messages == []
    await send(db, cast, settings, clock, "peer", request_id, "Private words")
    await conversation.read(db, actor=cast.actor("responder"), request_id=request_id, settings=settings, now=clock())
    await db.commit()
    events = list(
        await session.exec(
            select(AuditEvent).where(col(AuditEvent.action).startswith("conversation.")).order_by(col(AuditEvent.at))
        )
    )
    assert [(e.action, e.actor_id) for e in events] == [
        ("conversation.message_sent", str(cast.peer.id)),
        ("conversation.read", str(cast.responder.id)),
    ]
    assert all(e.target_id == str(request_id) and "Private" not in str(e.details) for e in events)


async def test_polling_answers_204_until_something_changes(
    client: AsyncTestClient[Litestar], cast: Cast, clock: FakeClock
) -> None:
    async with signed_in(client, cast.responder) as responder:
        asked = await responder.post(
            "/api/requests", json={"urgency": "today", "contact_method": "in_person", "safety_concern": False}
        )
    request_id = asked.json()["id"]
    poll = f"/requests/{request_id}/messages"
    async with signed_in(client, cast.peer) as peer:
        await peer.post(f"/api/requests/{request_id}/accept")
        page = (await peer.get(f"/requests/{request_id}")).text
        assert (
            f'hx-get="{poll}?seen=0&amp;live=1&amp;named=1&amp;wait=20"' in page
            or f'hx-get="{poll}?seen=0&live=1&named=1&wait=20"' in page
        )
        assert (await peer.get(f"{poll}?seen=0&live=1")).status_code == 204
        token = peer.cookies["csrftoken"]
        sent = await peer.post(
            poll,
            data={"_csrf_token": token, "client_id": "form-1", "body": "Hello from the form"},
            follow_redirects=False,
        )
        assert sent.status_code == 303 and sent.headers["location"].endswith("#conversation")
        resent = await peer.post(
            poll, data={"_csrf_token": token, "client_id": "form-1", "body": "Hello from the form"}
        )
        assert resent.text.count("Hello from the form") == 1
        empty = await peer.post(poll, data={"_csrf_token": token, "client_id": "form-2", "body": " "})
        assert empty.status_code == 422 and "Write a message first." in empty.text
    async with signed_in(client, cast.responder) as responder:
        news = await responder.get(f"{poll}?seen=0&live=1")
        assert news.status_code == 200 and "Hello from the form" in news.text and "seen=1" in news.text
        assert (await responder.get(f"{poll}?seen=1&live=1")).status_code == 204
        # The page's ask waits for news; nothing came within a second: 204. Too long a wait: 400.
        assert (await responder.get(f"{poll}?seen=1&live=1&wait=1")).status_code == 204
        assert (await responder.get(f"{poll}?seen=1&live=1&wait=26")).status_code == 400
        assert (await responder.get(f"{poll}?seen=0&live=1&wait=20")).status_code == 200  # behind: at once
    async with signed_in(client, cast.peer) as peer:
        await peer.post(f"/api/requests/{request_id}/close", json={"outcome": "supported"})
    async with signed_in(client, cast.responder) as responder:
        ended = await responder.get(f"{poll}?seen=1&live=1")
        assert ended.status_code == 200 and "hx-trigger" not in ended.text and "ended with the request" in ended.text
        page = (await responder.get(f"/requests/{request_id}")).text
        assert "Hello from the form" in page and 'name="body"' not in page


async def test_purge_deletes_the_conversation_with_the_request(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    old = await taken_request(db, cast, settings, clock)
    await send(db, cast, settings, clock, "responder", old, "Thanks for today")
    await requests.close(
        db, actor=cast.actor("peer"), request_id=old, outcome="supported", now=clock(), settings=settings
    )
    recent = await taken_request(db, cast, settings, clock)
    await db.commit()
    clock.advance(days=settings.retention_days - 1)
    await send(db, cast, settings, clock, "peer", recent, "Still here")
    await purge(db, now=clock(), settings=settings)
    await db.commit()
    assert await stored(session) == 2
    clock.advance(days=2)
    report = await purge(db, now=clock(), settings=settings)
    await db.commit()
    assert report.requests == 1
    left = list(await session.exec(select(ConversationMessage.request_id)))
    assert left == [recent]  # the open one stays; the closed one's conversation is gone
    gone = await session.get(PeerRequest, old)
    assert gone is not None and gone.purged_at is not None


async def test_key_rotation_rewrites_every_message(
    db: AsyncSession, cast: Cast, database_url: str, clock: FakeClock
) -> None:
    old = make_settings(database_url, encryption_keys=[TEST_KEYS[0]])
    request_id = await taken_request(db, cast, old, clock)
    for i in range(5):
        await send(db, cast, old, clock, "peer" if i % 2 else "responder", request_id, f"message {i}")
    both = make_settings(database_url, encryption_keys=[TEST_KEYS[1], TEST_KEYS[0]])
    engine = create_engine(database_url, pool_size=2)
    counts = await rotate_keys(make_sessionmaker(engine), both, batch=2)
    await engine.dispose()
    assert counts["conversation_messages.body_encrypted"] == 5
    new_only = make_settings(database_url, encryption_keys=[TEST_KEYS[1]])
    db.expire_all()
    assert await undecryptable(db, new_only) == 0
    view = await conversation.read(db, actor=cast.actor("peer"), request_id=request_id, settings=new_only, now=clock())
    assert [m.body for m in view.messages] == [f"message {i}" for i in range(5)]


# -- without my name ---------------------------------------------------------------------------


async def test_without_a_name_the_peer_sees_a_pseudonym_until_the_requester_shows_it(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, clock: FakeClock
) -> None:
    async with signed_in(client, cast.responder) as responder:
        form = (await responder.get("/requests/new")).text
        assert "Don&#39;t show my name" in form or "Don't show my name" in form
        assert "the programme lead is told who you are" in form
        refused = await responder.post(
            "/api/requests",
            json={
                "urgency": "today",
                "contact_method": "phone",
                "contact": "020 7946 0123",
                "safety_concern": False,
                "anonymous": True,
            },
        )
        assert refused.status_code == 422 and "Write to me here in trim" in refused.json()["detail"]
        asked = await responder.post(
            "/api/requests",
            json={
                "urgency": "today",
                "contact_method": "conversation",
                "safety_concern": True,
                "anonymous": True,
                "message": "Not sleeping.",
            },
        )
        assert asked.status_code == 201, asked.text
    assert len(list(await session.exec(select(PeerRequest)))) == 1  # the refused one stored nothing
    request_id = asked.json()["id"]
    pseudonym = (await session.exec(select(PeerRequest.pseudonym))).one()
    assert pseudonym is not None and pseudonym.startswith("Caller ")
    url = f"/api/conversations/{request_id}/messages"
    async with signed_in(client, cast.peer) as peer:
        assert (await peer.post(f"/api/requests/{request_id}/accept")).status_code == 200
        seen = (await peer.get(f"/api/requests/{request_id}")).json()
        assert (seen["requester"], seen["message"], seen["urgency"]) == (pseudonym, "Not sleeping.", "today")
        await peer.post(url, json={"client_id": "p1", "body": "Hello, I'm here."})
        page = (await peer.get(f"/requests/{request_id}")).text
        listing = (await peer.get("/requests")).text
        flags = (await peer.get("/flags")).text
        for text_seen in (page, listing, flags):
            assert pseudonym in text_seen and cast.responder.name not in text_seen
        # Nor an id to look them up by in the directory.
        assert [f["person_id"] for f in (await peer.get("/api/flags")).json()] == [None]
        assert (await peer.post(f"/api/requests/{request_id}/reveal")).status_code == 404
        refused_close = await peer.post(f"/api/requests/{request_id}/close", json={"outcome": "ongoing_support"})
        assert refused_close.status_code == 422 and "need their name" in refused_close.json()["detail"]
        poll = f"/requests/{request_id}/messages?seen=1&live=1&named=0"
        assert "named=0" in page and (await peer.get(poll)).status_code == 204
    async with signed_in(client, cast.lead) as lead:  # a safety "yes" reaches the lead with the name
        assert cast.responder.name in (await lead.get("/flags")).text
    clock.advance(seconds=30)
    async with signed_in(client, cast.responder) as responder:
        await responder.post(url, json={"client_id": "r1", "body": "Thanks."})
        mine = (await responder.get(f"/requests/{request_id}")).text
        assert "Show them my name" in mine and pseudonym in mine
        assert (await responder.post(f"/api/requests/{request_id}/reveal")).status_code == 200
        assert "Show them my name" not in (await responder.get(f"/requests/{request_id}")).text
    async with signed_in(client, cast.peer) as peer:
        # The peer's open page, drawn with the pseudonym, is answered at once: the name shows now.
        shown = await peer.get(f"/requests/{request_id}/messages?seen=2&live=1&named=0&wait=5")
        assert shown.status_code == 200 and cast.responder.name in shown.text and "named=1" in shown.text
        assert (await peer.get(f"/requests/{request_id}/messages?seen=2&live=1&named=1")).status_code == 204
        talk = (await peer.get(url)).json()
        assert talk["requester"] == cast.responder.name
        assert [m["author"] for m in talk["messages"]] == ["You", cast.responder.name]
        assert cast.responder.name in (await peer.get("/flags")).text
        assert [f["person_id"] for f in (await peer.get("/api/flags")).json()] == [str(cast.responder.id)]
    async with signed_in(client, cast.responder) as responder:  # their record holds the conversation
        record = (await responder.get("/api/me/record")).json()
        (asked_record,) = record["requests"]
        assert asked_record["anonymous"] is True and len(asked_record["conversation"]) == 2
        assert asked_record["conversation"][1].endswith("You: Thanks.")
        assert "Your conversation (2 messages)" in (await responder.get("/me")).text
    revealed = list(await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "request.name_revealed")))
    assert len(revealed) == 1


async def test_a_waiting_reader_is_answered_when_the_other_side_writes(
    db: AsyncSession, database_url: str, cast: Cast, settings: Settings, clock: FakeClock, monkeypatch: Any
) -> None:
    """The wait ends when the message commits, not at the next look: on PostgreSQL the
    looks are 30 s apart here, so only the NOTIFY can have woken it."""
    import asyncio
    import time

    from trim.requests import news

    monkeypatch.setattr(news, "RECHECK_SECONDS", 30.0)
    request_id = await taken_request(db, cast, settings, clock)
    await send(db, cast, settings, clock, "peer", request_id, "First")
    reader = cast.actor("responder")
    engine = create_engine(database_url)
    session = make_sessionmaker(engine)()

    async def changed() -> bool:
        return await conversation.has_news(session, actor=reader, request_id=request_id, seen=1, was_open=True)

    started = time.perf_counter()
    waiting = asyncio.create_task(news.wait_for(session, request_id, changed, seconds=20))
    await asyncio.sleep(1.0)
    assert not waiting.done()
    # While it waits it holds no transaction (so no connection) open.
    assert not session.in_transaction()
    await send(db, cast, settings, clock, "peer", request_id, "Second")
    assert await asyncio.wait_for(waiting, timeout=10) is True
    assert time.perf_counter() - started < 6
    await session.close()
    await engine.dispose()
    await news.close_listeners()


async def test_a_wait_with_nothing_new_answers_204_and_bad_waits_are_refused(
    client: AsyncTestClient[Litestar], cast: Cast, db: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    import time

    request_id = await taken_request(db, cast, settings, clock)
    url = f"/api/conversations/{request_id}/messages"
    async with signed_in(client, cast.peer) as peer:
        assert (await peer.post(url, json={"client_id": "p1", "body": "Are you free later?"})).status_code == 201
    async with signed_in(client, cast.responder) as responder:
        started = time.perf_counter()
        quiet = await responder.get(url, params={"seen": 1, "wait": 1})
        assert quiet.status_code == 204 and quiet.content == b""
        assert time.perf_counter() - started >= 0.9
        # Behind already: answered at once, with the messages.
        behind = await responder.get(url, params={"seen": 0, "wait": 20})
        assert behind.status_code == 200 and [m["body"] for m in behind.json()["messages"]] == ["Are you free later?"]
        for bad in ({"seen": 1, "wait": 26}, {"seen": -1, "wait": 1}, {"seen": 1, "wait": "soon"}):
            assert (await responder.get(url, params=bad)).status_code == 400, bad
    async with signed_in(client, cast.peer) as peer:
        await peer.post(f"/api/requests/{request_id}/close", json={"outcome": "supported"})
    async with signed_in(client, cast.responder) as responder:
        ended = await responder.get(url, params={"seen": 1, "wait": 20})
        assert ended.status_code == 200 and ended.json()["state"] == "closed"
    async with signed_in(client, cast.lead) as lead:
        assert (await lead.get(url, params={"seen": 0, "wait": 1})).status_code == 404
