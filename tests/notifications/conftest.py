"""A real SMTP server on loopback (aiosmtpd), workers with their own engines, and a cast
with names distinctive enough that finding one in an email means it leaked."""

from __future__ import annotations

import asyncio
import email
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import col, select, update

from tests.cast import Cast
from tests.conftest import FakeClock
from trim.accounts.models import Person, Station
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.jobs import SWEEPS
from trim.notifications.models import OutboxMessage
from trim.notifications.worker import Worker

# Names nobody would write by accident, so a match in an email is a leak.
DISTINCT_NAMES = {
    "responder": "Aoife Brannigan",
    "peer": "Tobiah Lindqvist",
    "other_peer": "Marisol Okonkwo",
    "lead": "Gideon Farthingale",
    "clinician": "Imelda Vasquez",
    "other_clinician": "Caspar Nwachukwu",
    "supervisor": "Ruairi Blackwood",
    "admin": "Sunniva Haldorsen",
}
DISTINCT_STATIONS = {"station_a": "Kestrelquay", "station_b": "Marramheath", "station_c": "Thornbury"}
SUMMARY = "Prolonged extrication of a trapped driver on the Wexcombe bypass."

# Everything a reminder must never carry, checked in every message of every test here.
SECRETS: set[str] = {"extrication", "Wexcombe", "score", "elevated", "note"}
for _name in DISTINCT_NAMES.values():
    SECRETS |= set(_name.split())
SECRETS |= set(DISTINCT_STATIONS.values())

ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


ALL_RECEIVED: list[EmailMessage] = []


@dataclass
class MailServer:
    """A real SMTP server on a fixed loopback port that a test can stop and start."""

    port: int
    inbox: Inbox = field(default_factory=Inbox)
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content: str = body.get_content()  # type: ignore[attr-defined]
    return f"{message['Subject']}\n{content}"


def leaks(message: EmailMessage) -> list[str]:
    """What in this message's subject or body should not be there."""
    text = text_of(message)
    found = [word for word in SECRETS if re.search(rf"\b{re.escape(word)}", text, re.IGNORECASE)]
    found += ADDRESS.findall(text)
    return found


@pytest.fixture
def smtp_server() -> Iterator[MailServer]:
    server = MailServer(port=free_port())
    server.start()
    yield server
    server.stop()
    ALL_RECEIVED.extend(server.messages)


@pytest.fixture(autouse=True)
def no_confidential_content_in_any_email() -> Iterator[None]:
    """Every message any test here delivers is scanned for the cast's names, stations,
    the incident summary, addresses, and words about scores and notes."""
    before = len(ALL_RECEIVED)
    yield
    for message in ALL_RECEIVED[before:]:
        assert not leaks(message), (message["Subject"], leaks(message))


@pytest.fixture
async def cast(cast: Cast, session: AsyncSession) -> Cast:
    """The usual cast, renamed to names that cannot appear in an email by chance."""
    for who, name in DISTINCT_NAMES.items():
        await session.exec(update(Person).where(col(Person.id) == cast.person(who).id).values(name=name))
        cast.person(who).name = name
    for attr, name in DISTINCT_STATIONS.items():
        station: Station = getattr(cast, attr)
        await session.exec(update(Station).where(col(Station.id) == station.id).values(name=name))
        station.name = name
    return cast


@dataclass
class Workers:
    """Workers on their own engines (as separate processes would have)."""

    settings: Settings
    clock: FakeClock
    engines: list[Any] = field(default_factory=list)

    def new(self, **overrides: Any) -> Worker:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        engine = create_engine(settings.database_url, pool_size=2)
        self.engines.append(engine)
        return Worker(make_sessionmaker(engine), settings, sweeps=SWEEPS, clock=self.clock)

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


@pytest.fixture
async def workers(settings: Settings, clock: FakeClock, smtp_server: MailServer) -> AsyncIterator[Workers]:
    pool = Workers(settings.model_copy(update={"smtp_url": smtp_server.url}), clock)
    yield pool
    await pool.dispose()


async def outbox(session: AsyncSession) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(col(OutboxMessage.created_at), col(OutboxMessage.kind))
    return list(await session.exec(stmt.execution_options(populate_existing=True)))


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    """Poll until condition() is true (for the worker running inside the app)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)
