"""Who a single sign-on is (trim.accounts.sso_identities), on both databases: linked by the
provider's subject id once, matched by verified email only the first time."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlmodel import col, select

from tests.cast import Cast
from tests.conftest import FakeClock
from trim.accounts import service
from trim.accounts.models import Person, SsoIdentity
from trim.accounts.sso import Identity
from trim.accounts.sso_identities import (
    INACTIVE,
    NO_EMAIL,
    OTHER_ACCOUNT,
    UNKNOWN,
    UNVERIFIED,
    SsoRefused,
    person_for,
    unlink,
)
from trim.cli import main
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.privacy.models import AuditEvent

ISSUER = "https://login.example.org/"


def identity(subject: str, email: str | None, verified: bool | None = True, issuer: str = ISSUER) -> Identity:
    return Identity(issuer=issuer, subject=subject, email=email, email_verified=verified, id_token="not-used-here")


async def links(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.exec(select(SsoIdentity.subject, SsoIdentity.person_id).order_by(col(SsoIdentity.subject)))
    return [(subject, str(person_id)) for subject, person_id in rows]


async def refused(db: AsyncSession, settings: Settings, who: Identity, now: datetime) -> SsoRefused:
    with pytest.raises(SsoRefused) as caught:
        await person_for(db, identity=who, settings=settings, now=now)
    await db.commit()  # a refusal's audit event is kept, as the request would keep it
    return caught.value


async def test_the_first_sign_in_links_by_verified_email_and_later_ones_by_subject_alone(
    db: AsyncSession, session: AsyncSession, settings: Settings, cast: Cast, clock: FakeClock
) -> None:
    first = await person_for(db, identity=identity("sub-1", "Lead@Example.org"), settings=settings, now=clock())
    await db.commit()
    assert first.id == cast.lead.id
    assert await links(session) == [("sub-1", str(cast.lead.id))]
    linked = (await session.exec(select(AuditEvent).where(AuditEvent.action == "sso.linked"))).one()
    assert (linked.actor_id, linked.subject_id) == (str(cast.lead.id), str(cast.lead.id))
    # The provider now gives another person's address for the same subject: still the lead.
    again = await person_for(db, identity=identity("sub-1", cast.admin.email), settings=settings, now=clock())
    assert again.id == cast.lead.id
    # Even with no address, or one it says it has not verified.
    for email, verified in ((None, None), ("x@example.org", False)):
        who = identity("sub-1", email, verified)
        assert (await person_for(db, identity=who, settings=settings, now=clock())).id == cast.lead.id
    await db.commit()
    assert await links(session) == [("sub-1", str(cast.lead.id))]


async def test_a_subject_under_another_issuer_is_not_the_linked_one(
    db: AsyncSession, session: AsyncSession, settings: Settings, cast: Cast, clock: FakeClock
) -> None:
    await person_for(db, identity=identity("sub-1", cast.lead.email), settings=settings, now=clock())
    await db.commit()
    # The same sub from the issuer written without its slash is another provider's.
    other = identity("sub-1", cast.admin.email, issuer=ISSUER.rstrip("/"))
    assert (await person_for(db, identity=other, settings=settings, now=clock())).id == cast.admin.id


async def test_another_subject_with_a_linked_persons_email_is_refused_and_recorded_for_them(
    db: AsyncSession, session: AsyncSession, settings: Settings, cast: Cast, clock: FakeClock
) -> None:
    await person_for(db, identity=identity("sub-1", cast.peer.email), settings=settings, now=clock())
    await db.commit()
    error = await refused(db, settings, identity("sub-2", cast.peer.email), clock())
    assert error.detail == OTHER_ACCOUNT and error.status_code == 403
    assert await links(session) == [("sub-1", str(cast.peer.id))]
    event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "sso.refused"))).one()
    assert (event.actor_id, event.subject_id, event.details) == (
        "system",
        str(cast.peer.id),
        {"reason": "another_subject"},
    )


async def test_an_unlinked_person_is_not_linked_on_an_unverified_or_missing_address(
    db: AsyncSession, session: AsyncSession, settings: Settings, cast: Cast, clock: FakeClock
) -> None:
    assert (await refused(db, settings, identity("s", cast.peer.email, False), clock())).detail == UNVERIFIED
    assert (await refused(db, settings, identity("s", cast.peer.email, None), clock())).detail == UNVERIFIED
    assert (await refused(db, settings, identity("s", None, True), clock())).detail == NO_EMAIL
    assert (await refused(db, settings, identity("s", "nobody@example.org"), clock())).detail == UNKNOWN
    assert await links(session) == []
    # A setting accepts addresses the provider does not say it verified.
    allowing = settings.model_copy(update={"oidc_allow_unverified_email": True})
    for n, verified in enumerate((False, None)):
        await session.exec(update(Person).where(col(Person.id) == cast.peer.id).values(email=f"peer{n}@example.org"))
        who = identity(f"s{n}", f"peer{n}@example.org", verified)
        if n:  # one person, one provider account: the second is refused as another subject
            assert (await refused(db, allowing, who, clock())).detail == OTHER_ACCOUNT
        else:
            assert (await person_for(db, identity=who, settings=allowing, now=clock())).id == cast.peer.id
            await db.commit()


async def test_a_deactivated_person_is_refused_whether_linked_or_not(
    db: AsyncSession, session: AsyncSession, settings: Settings, cast: Cast, clock: FakeClock
) -> None:
    await person_for(db, identity=identity("sub-r", cast.responder.email), settings=settings, now=clock())
    await db.commit()
    admin = cast.actor("admin")
    for person in (cast.responder, cast.peer):
        await service.set_active(db, actor=admin, person_id=person.id, active=False, now=clock())
    await db.commit()
    assert (await refused(db, settings, identity("sub-r", cast.responder.email), clock())).detail == INACTIVE
    assert (await refused(db, settings, identity("sub-p", cast.peer.email), clock())).detail == UNKNOWN


async def test_two_first_sign_ins_at_once_make_one_link(
    settings: Settings, session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    engine = create_engine(settings.database_url, pool_size=4)
    maker = make_sessionmaker(engine)
    started = asyncio.Event()

    async def sign_in(delay: float) -> Any:
        async with maker() as tx:
            if delay:
                await started.wait()
            person = await person_for(
                tx, identity=identity("sub-race", cast.lead.email), settings=settings, now=clock()
            )
            started.set()
            await asyncio.sleep(delay or 0.2)  # the first holds its uncommitted link a moment
            await tx.commit()
            return person.id

    try:
        first, second = await asyncio.gather(sign_in(0), sign_in(0.01))
    finally:
        await engine.dispose()
    assert first == second == cast.lead.id
    assert await links(session) == [("sub-race", str(cast.lead.id))]


async def test_unlink_sso_lets_the_next_sign_in_link_again_and_tells_the_person(
    db: AsyncSession, session: AsyncSession, settings: Settings, cast: Cast, clock: FakeClock
) -> None:
    await person_for(db, identity=identity("old-account", cast.peer.email), settings=settings, now=clock())
    await db.commit()
    assert (await refused(db, settings, identity("new-account", cast.peer.email), clock())).detail == OTHER_ACCOUNT

    env = {"TRIM_DATABASE_URL": settings.database_url}
    runner = CliRunner()
    done = await anyio.to_thread.run_sync(
        lambda: runner.invoke(main, ["users", "unlink-sso", cast.peer.email], env=env)
    )
    assert done.exit_code == 0, done.output
    assert "unlinked peer@example.org" in done.output
    assert await links(session) == []
    unlinked = (await session.exec(select(AuditEvent).where(AuditEvent.action == "sso.unlinked"))).one()
    assert unlinked.subject_id == str(cast.peer.id)
    new = await person_for(db, identity=identity("new-account", cast.peer.email), settings=settings, now=clock())
    await db.commit()
    assert new.id == cast.peer.id and await links(session) == [("new-account", str(cast.peer.id))]

    again = await anyio.to_thread.run_sync(
        lambda: runner.invoke(main, ["users", "unlink-sso", cast.lead.email], env=env)
    )
    assert again.exit_code == 0 and "was not linked" in again.output
    nobody = await anyio.to_thread.run_sync(
        lambda: runner.invoke(main, ["users", "unlink-sso", "nobody@example.org"], env=env)
    )
    assert nobody.exit_code != 0 and "nobody has the email nobody@example.org" in nobody.output
    assert await unlink(db, email="nobody@example.org", now=clock()) == 0
