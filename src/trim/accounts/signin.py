"""Signing in and out: server-side sessions, the failed-attempt limit, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.accounts.models import ApiToken, Person, SigninFailure, TotpFactor, WebSession
from trim.accounts.passwords import verify_password
from trim.accounts.rules import normalize_email
from trim.accounts.service import roles_of
from trim.config import Settings
from trim.errors import InvalidInput, NotFound, TooManyAttempts
from trim.privacy import audit, crypto

LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# What is limited: failed sign-ins (passwords and codes), and requests for an emailed link.
# Each is counted per account and per address, under the same settings.
LIMITED = {
    "signin": ("", "Too many failed sign-ins. Wait {wait} and try again."),
    "link": ("link-", "Too many requests for a link. Wait {wait} and try again."),
}


def _email_key(email: str, scope: str = "signin") -> str:
    # Hashed so the table does not become a list of who tried which address.
    return LIMITED[scope][0] + "account:" + hashlib.sha256(normalize_email(email).encode()).hexdigest()[:40]


def _address_key(address: str | None, scope: str = "signin") -> str:
    return f"{LIMITED[scope][0]}addr:{address or 'unknown'}"


async def _failures_since(session: AsyncSession, key: str, since: datetime) -> tuple[int, datetime | None]:
    row = (
        await session.exec(
            select(func.count(), func.min(SigninFailure.at)).where(
                SigninFailure.key == key, col(SigninFailure.at) >= since
            )
        )
    ).one()
    return int(row[0]), row[1]


async def check_not_limited(
    session: AsyncSession,
    *,
    email: str,
    address: str | None,
    now: datetime,
    settings: Settings,
    scope: str = "signin",
) -> None:
    """Raise TooManyAttempts when this account or this address failed too often lately."""
    window = timedelta(minutes=settings.signin_window_minutes)
    limits = (
        (_email_key(email, scope), settings.signin_max_failures),
        (_address_key(address, scope), settings.signin_max_failures_per_address),
    )
    for key, limit in limits:
        count, oldest = await _failures_since(session, key, now - window)
        if count >= limit:
            retry = int(((oldest or now) + window - now).total_seconds()) + 1
            minutes = max(1, (retry + 59) // 60)
            wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
            raise TooManyAttempts(LIMITED[scope][1].format(wait=wait), retry_after_seconds=max(retry, 1))


async def record_failure(
    session: AsyncSession, *, email: str, address: str | None, now: datetime, scope: str = "signin"
) -> None:
    session.add(SigninFailure(key=_email_key(email, scope), at=now))
    session.add(SigninFailure(key=_address_key(address, scope), at=now))


async def prune_failures(session: AsyncSession, *, now: datetime, settings: Settings) -> None:
    cutoff = now - timedelta(minutes=settings.signin_window_minutes)
    await session.exec(delete(SigninFailure).where(col(SigninFailure.at) < cutoff))


async def authenticate(
    session: AsyncSession, *, email: str, password: str, address: str | None, now: datetime, settings: Settings
) -> Person:
    """The active person with this email and password, or InvalidInput (one message for
    every kind of failure, so the answer never says whether the email is known)."""
    await check_not_limited(session, email=email, address=address, now=now, settings=settings)
    person = (await session.exec(select(Person).where(Person.email == normalize_email(email)))).first()
    ok = await verify_password(person.password_hash if person else None, password, profile=settings.argon2_profile)
    if person is None or not ok or not person.active:
        await record_failure(session, email=email, address=address, now=now)
        raise InvalidInput("That email and password do not match an active account.")
    return person


async def start_session(
    session: AsyncSession,
    *,
    person: Person,
    now: datetime,
    settings: Settings,
    replacing: str | None = None,
    stage: str = "full",
    via: str = "password",
    id_token: str | None = None,
) -> str:
    """A fresh session for this person; returns the cookie token (never stored).

    Any session the browser carried before is ended, so a planted id is useless. A
    "code" session only waits, briefly, for the second factor's code. A single sign-on
    keeps the provider's ID token (encrypted), for signing out at the provider too."""
    return await _open_session(
        session,
        person=person,
        now=now,
        settings=settings,
        replacing=replacing,
        stage=stage,
        via=via,
        id_token_encrypted=_encrypted_id_token(settings, id_token),
    )


def _encrypted_id_token(settings: Settings, id_token: str | None) -> str | None:
    try:
        return crypto.encrypt(settings, id_token)
    except crypto.UndecryptableError:
        return None  # no encryption key configured: signing out then ends trim's session only


async def renew_session(session: AsyncSession, *, token: str, person: Person, now: datetime, settings: Settings) -> str:
    """A fresh session id for the same sign-in (the same way in, the same ID token), when
    it became worth more: the second factor's code given, or a second factor set up."""
    old = (
        await session.exec(
            select(WebSession).where(WebSession.id == token_hash(token), WebSession.person_id == person.id)
        )
    ).first()
    return await _open_session(
        session,
        person=person,
        now=now,
        settings=settings,
        replacing=token,
        stage="full",
        via=old.via if old else "password",
        id_token_encrypted=old.id_token_encrypted if old else None,
    )


async def _open_session(
    session: AsyncSession,
    *,
    person: Person,
    now: datetime,
    settings: Settings,
    replacing: str | None,
    stage: str,
    via: str,
    id_token_encrypted: str | None,
) -> str:
    if replacing:
        await end_session(session, token=replacing)
    token = secrets.token_urlsafe(32)
    lasts = (
        timedelta(minutes=settings.signin_code_minutes)
        if stage == "code"
        else timedelta(hours=settings.session_max_hours)
    )
    session.add(
        WebSession(
            id=token_hash(token),
            person_id=person.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lasts,
            stage=stage,
            via=via,
            id_token_encrypted=id_token_encrypted,
        )
    )
    if stage == "full":
        audit.record(
            session,
            actor=str(person.id),
            action="session.started",
            target_type="person",
            target_id=person.id,
            subject_id=person.id,
            details={"via": via},
            at=now,
        )
    await session.flush()
    return token


async def awaiting_code(session: AsyncSession, *, token: str, now: datetime) -> tuple[WebSession, Person] | None:
    """The half-signed-in session (password right, code awaited) behind a cookie, if live."""
    row = (
        await session.exec(
            select(WebSession, Person)
            .join(Person, col(Person.id) == col(WebSession.person_id))
            .where(WebSession.id == token_hash(token), WebSession.stage == "code")
        )
    ).first()
    if row is None:
        return None
    web_session, person = row
    if web_session.expires_at <= now or not person.active:
        await session.delete(web_session)
        return None
    return web_session, person


async def end_session(session: AsyncSession, *, token: str) -> WebSession | None:
    """End the session behind this cookie token; returns it as it was (None if unknown)."""
    ended = (await session.exec(select(WebSession).where(WebSession.id == token_hash(token)))).first()
    await session.exec(delete(WebSession).where(col(WebSession.id) == token_hash(token)))
    return ended


def sso_id_token(settings: Settings, web_session: WebSession) -> str | None:
    """The ID token a single sign-on session keeps for signing out at the provider (None
    if it has none, or no configured key opens it any more)."""
    try:
        return crypto.decrypt(settings, web_session.id_token_encrypted)
    except crypto.UndecryptableError:
        return None


async def actor_for_session(session: AsyncSession, *, token: str, now: datetime, settings: Settings) -> Actor | None:
    """The signed-in person for a cookie token, or None if unknown, expired or inactive
    (or still waiting for a second factor's code)."""
    row = (
        await session.exec(
            select(WebSession, Person, TotpFactor.enabled_at)
            .join(Person, col(Person.id) == col(WebSession.person_id))
            .outerjoin(TotpFactor, col(TotpFactor.person_id) == col(Person.id))
            .where(WebSession.id == token_hash(token), WebSession.stage == "full")
        )
    ).first()
    if row is None:
        return None
    web_session, person, factor_enabled_at = row
    idle = timedelta(minutes=settings.session_idle_minutes)
    if not person.active or web_session.expires_at <= now or web_session.last_seen_at + idle <= now:
        await session.delete(web_session)
        return None
    if now - web_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        web_session.last_seen_at = now
        session.add(web_session)
    roles = await roles_of(session, person.id)
    return Actor(
        id=person.id,
        name=person.name,
        email=person.email,
        roles=frozenset(roles),
        station_id=person.station_id,
        session_id=web_session.id,
        must_enrol=must_enrol(roles, enrolled=factor_enabled_at is not None, via=web_session.via, settings=settings),
    )


def must_enrol(roles: list[str], *, enrolled: bool, via: str, settings: Settings) -> bool:
    """True when this person's roles need a second factor they have not set up (a
    single sign-on counts as one only where TRIM_OIDC_SATISFIES_MFA says so)."""
    if enrolled or not set(roles) & set(settings.mfa_required_roles):
        return False
    return not (via == "sso" and settings.oidc_satisfies_mfa)


# -- integration tokens -----------------------------------------------------

TOKEN_SCOPES = ("incidents:write",)


async def create_token(session: AsyncSession, *, name: str, scopes: list[str], now: datetime) -> tuple[ApiToken, str]:
    """A new bearer token; the secret is returned once and only its hash kept."""
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput.field("name", "Give the token a name of 1 to 80 characters.")
    unknown = [s for s in scopes if s not in TOKEN_SCOPES]
    if unknown:
        raise InvalidInput.field("scope", f"Unknown scope {unknown[0]!r}; scopes are {', '.join(TOKEN_SCOPES)}.")
    if (await session.exec(select(ApiToken).where(ApiToken.name == name))).first():
        raise InvalidInput.field("name", f"A token called {name!r} exists already.")
    secret = "trim_" + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=token_hash(secret), scopes=" ".join(sorted(set(scopes))), created_at=now)
    session.add(token)
    await session.flush()
    audit.record(session, actor="system", action="token.created", target_type="api_token", target_id=token.id, at=now)
    return token, secret


async def revoke_token(session: AsyncSession, *, name: str, now: datetime) -> ApiToken:
    token = (await session.exec(select(ApiToken).where(ApiToken.name == name))).first()
    if token is None or token.revoked_at is not None:
        raise NotFound(f"No active token called {name!r}")
    token.revoked_at = now
    session.add(token)
    audit.record(session, actor="system", action="token.revoked", target_type="api_token", target_id=token.id, at=now)
    return token


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list(await session.exec(select(ApiToken).order_by(col(ApiToken.created_at))))


async def actor_for_token(session: AsyncSession, *, secret: str, now: datetime) -> Actor | None:
    token = (await session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(secret)))).first()
    if token is None or token.revoked_at is not None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_SEEN_RESOLUTION:
        token.last_used_at = now
        session.add(token)
    return Actor(
        id=None,
        name=token.name,
        token_id=token.id,
        token_scopes=frozenset(token.scopes.split()),
    )
