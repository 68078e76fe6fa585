"""Who a single sign-on is: the provider's subject id, linked to one person.

The first sign-in through the provider is matched to an active person by the email
address the provider says it verified (TRIM_OIDC_ALLOW_UNVERIFIED_EMAIL accepts an
address it does not say it verified), and links the provider's subject id (`sub`, under
its issuer) to them. From then on that subject id alone says who it is: the email the
provider sends is not used, so an address changed here or there never moves a sign-in to
someone else, and another subject arriving with a linked person's email is refused (and
recorded on that person's record). `trim users unlink-sso` undoes a link, for a person
whose account at the provider was replaced.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service
from trim.accounts.models import Person, SsoIdentity
from trim.accounts.sso import Identity
from trim.config import Settings
from trim.errors import TrimError
from trim.privacy import audit

log = logging.getLogger("trim.accounts.sso")

LAST_USED_RESOLUTION = timedelta(minutes=1)

UNKNOWN = (
    "Your organisation signed you in, but there is no active account here for the email address it gave us. "
    "Ask your administrator to add you to the roster, or to check the address they hold for you."
)
INACTIVE = (
    "Your organisation signed you in, but your account here is not active, so nobody was signed in. "
    "Ask your administrator if you think it should be."
)
UNVERIFIED = (
    "Your organisation's sign-in service has not verified your email address, so we cannot use it to find "
    "your account here. Nobody was signed in. Ask your administrator, or whoever runs your organisation's "
    "sign-in, to verify the address it holds for you."
)
NO_EMAIL = (
    "Your organisation's sign-in service did not tell us your email address, so we cannot find your account "
    "here. Nobody was signed in. Ask your administrator."
)
OTHER_ACCOUNT = (
    "Your account here is linked to a different account at your organisation's sign-in service, so nobody "
    "was signed in. If your organisation gave you a new account, ask your administrator to unlink the old one."
)


class SsoRefused(TrimError):
    """The provider vouched for someone, but not for anyone who may sign in here."""

    status_code = 403

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason  # for the log: a code, nothing about the person


async def person_for(session: AsyncSession, *, identity: Identity, settings: Settings, now: datetime) -> Person:
    """The active person this provider identity is, linked on first use; SsoRefused otherwise."""
    return await _person_for(session, identity=identity, settings=settings, now=now, retry=True)


async def _person_for(
    session: AsyncSession, *, identity: Identity, settings: Settings, now: datetime, retry: bool
) -> Person:
    linked = (
        await session.exec(
            select(SsoIdentity, Person)
            .join(Person, col(Person.id) == col(SsoIdentity.person_id))
            .where(SsoIdentity.issuer == identity.issuer, SsoIdentity.subject == identity.subject)
        )
    ).first()
    if linked is not None:
        link, person = linked
        if not person.active or person.is_pseudonym:
            raise SsoRefused(INACTIVE, reason="linked_account_inactive")
        if link.last_used_at is None or now - link.last_used_at >= LAST_USED_RESOLUTION:
            link.last_used_at = now
            session.add(link)
        return person

    allow_unverified = settings.oidc_allow_unverified_email
    if identity.email_verified is False and not allow_unverified:
        raise SsoRefused(UNVERIFIED, reason="email_not_verified")
    if not identity.email:
        raise SsoRefused(NO_EMAIL, reason="no_email")
    if identity.email_verified is None and not allow_unverified:
        raise SsoRefused(UNVERIFIED, reason="email_verified_missing")
    matched = await service.person_by_email(session, identity.email)
    if matched is None or not matched.active or matched.is_pseudonym:
        raise SsoRefused(UNKNOWN, reason="no_active_account")
    other = (
        await session.exec(
            select(SsoIdentity.id).where(SsoIdentity.person_id == matched.id, SsoIdentity.issuer == identity.issuer)
        )
    ).first()
    if other is not None:
        # Someone at the provider has this person's address but is not the account linked to
        # them: the address was reused, reassigned or changed to reach them. Theirs to see.
        audit.record(
            session,
            actor="system",
            action="sso.refused",
            target_type="sso_identity",
            target_id=other,
            subject_id=matched.id,
            details={"reason": "another_subject"},
            at=now,
        )
        raise SsoRefused(OTHER_ACCOUNT, reason="another_subject_for_linked_account")

    link = SsoIdentity(
        person_id=matched.id, issuer=identity.issuer, subject=identity.subject, linked_at=now, last_used_at=now
    )
    try:
        async with session.begin_nested():
            session.add(link)
    except IntegrityError:
        # A first sign-in for the same subject (or person) committed meanwhile: decide again.
        if not retry:
            raise
        return await _person_for(session, identity=identity, settings=settings, now=now, retry=False)
    audit.record(
        session,
        actor=str(matched.id),
        action="sso.linked",
        target_type="sso_identity",
        target_id=link.id,
        subject_id=matched.id,
        at=now,
    )
    log.info("single sign-on: a provider account was linked on its first sign-in")
    return matched


async def unlink(session: AsyncSession, *, email: str, now: datetime) -> int:
    """Forget the provider accounts linked to the person with this email (their next
    single sign-on links again, by verified email); returns how many were linked."""
    person = await service.person_by_email(session, email)
    if person is None:
        return 0
    links = list(await session.exec(select(SsoIdentity.id).where(SsoIdentity.person_id == person.id)))
    if not links:
        return 0
    await session.exec(delete(SsoIdentity).where(col(SsoIdentity.person_id) == person.id))
    for link_id in links:
        audit.record(
            session,
            actor="system",
            action="sso.unlinked",
            target_type="sso_identity",
            target_id=link_id,
            subject_id=person.id,
            at=now,
        )
    return len(links)
