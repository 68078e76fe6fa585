"""Signing in and out: server-side sessions, the failed-attempt limit, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.accounts.models import ApiToken, Person, PersonRole, SigninCounter, TotpFactor, WebSession
from trim.accounts.passwords import verify_password
from trim.accounts.rules import normalize_email
from trim.accounts.service import in_role_order
from trim.config import Settings
from trim.db import dialect_insert
from trim.errors import InvalidInput, NotFound, TooManyAttempts
from trim.privacy import audit, crypto

LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def token_hash(token: str) -> str:
    """What is stored for a session or API token secret: its SHA-256, never the secret."""
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


@dataclass
class Attempt:
    """An attempt counted before it is checked: (key, window start) for each counter it
    took a place in, so a success can give its places back."""

    places: list[tuple[str, datetime]] = field(default_factory=list)


@asynccontextmanager
async def _counting(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Where the counters are bumped. Each bump is one atomic statement either way; this
    only decides how long its row lock lasts.

    On PostgreSQL, before the request has touched the database (signing in with a
    password counts first thing): a short transaction of its own, committed at once, so
    the lock lasts microseconds rather than the whole sign-in with its password hash
    (which would queue every sign-in from one address behind one lock, each holding a
    pooled connection), and the count stands whatever the request does next. Once the
    request holds a connection (a second-factor code, giving places back), in the
    request's own transaction: a second pooled connection per request could exhaust the
    pool under load, and what follows there is quick. On SQLite, always the request's
    transaction, which holds the database's single write lock (BEGIN IMMEDIATE) anyway."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql" and not session.in_transaction():
        async with AsyncSession(bind, expire_on_commit=False) as own:
            yield own
            await own.commit()
    else:
        yield session


async def _take_place(
    session: AsyncSession, *, key: str, limit: int, now: datetime, window: timedelta
) -> datetime | None:
    """One atomic statement: start a window for this key, or count one more in the current
    window if it is under the limit. Returns the window's start, or None when the limit is
    reached (then nothing is counted)."""
    cutoff = now - window
    expired = col(SigninCounter.window_started_at) <= cutoff
    insert = dialect_insert(session, SigninCounter).values(key=key, window_started_at=now, count=1)
    stmt = insert.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "count": case((expired, 1), else_=col(SigninCounter.count) + 1),
            "window_started_at": case((expired, now), else_=col(SigninCounter.window_started_at)),
        },
        where=or_(expired, col(SigninCounter.count) < limit),
    ).returning(col(SigninCounter.window_started_at))
    started: datetime | None = (await session.exec(stmt)).scalar_one_or_none()
    return started


async def _give_back(session: AsyncSession, key: str, started: datetime) -> None:
    await session.exec(
        update(SigninCounter)
        .where(
            col(SigninCounter.key) == key,
            col(SigninCounter.window_started_at) == started,
            col(SigninCounter.count) > 0,
        )
        .values(count=col(SigninCounter.count) - 1)
    )


async def count_attempt(
    session: AsyncSession,
    *,
    email: str,
    address: str | None,
    now: datetime,
    settings: Settings,
    scope: str = "signin",
) -> Attempt:
    """Count one attempt against this account and this address before it is checked, or
    raise TooManyAttempts (counting nothing) when either has reached its limit in the
    window. Counting first is what makes the limit hold under concurrency: forty guesses
    sent at once take at most ten places, and only those ten are checked."""
    window = timedelta(minutes=settings.signin_window_minutes)
    limits = (
        (_email_key(email, scope), settings.signin_max_failures),
        (_address_key(address, scope), settings.signin_max_failures_per_address),
    )
    attempt = Attempt()
    refused: str | None = None
    async with _counting(session) as counters:
        for key, limit in limits:
            started = await _take_place(counters, key=key, limit=limit, now=now, window=window)
            if started is None:
                refused = key
                for taken, at in attempt.places:
                    await _give_back(counters, taken, at)
                break
            attempt.places.append((key, started))
        if refused is not None:
            oldest = (
                await counters.exec(select(SigninCounter.window_started_at).where(SigninCounter.key == refused))
            ).first()
    if refused is None:
        return attempt
    retry = max(int(((oldest or now) + window - now).total_seconds()) + 1, 1)
    minutes = max(1, (retry + 59) // 60)
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    raise TooManyAttempts(LIMITED[scope][1].format(wait=wait), retry_after_seconds=retry)


async def attempt_succeeded(session: AsyncSession, attempt: Attempt) -> None:
    """A successful sign-in is not a failure: give its places back."""
    async with _counting(session) as counters:
        for key, started in attempt.places:
            await _give_back(counters, key, started)


async def prune_counters(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Forget counters whose window has passed (a worker sweep), so the table holds only
    the keys tried in the last window. Returns how many went."""
    cutoff = now - timedelta(minutes=settings.signin_window_minutes)
    result = await session.exec(delete(SigninCounter).where(col(SigninCounter.window_started_at) <= cutoff))
    return int(result.rowcount or 0)


async def authenticate(
    session: AsyncSession, *, email: str, password: str, address: str | None, now: datetime, settings: Settings
) -> Person:
    """The active person with this email and password, or InvalidInput (one message for
    every kind of failure, so the answer never says whether the email is known)."""
    attempt = await count_attempt(session, email=email, address=address, now=now, settings=settings)
    person = (await session.exec(select(Person).where(Person.email == normalize_email(email)))).first()
    ok = await verify_password(person.password_hash if person else None, password, profile=settings.argon2_profile)
    if person is None or not ok or not person.active:
        raise InvalidInput("That email and password do not match an active account.")
    await attempt_succeeded(session, attempt)
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
    # One statement: the session, the person, their second factor and one row per role.
    rows = (
        await session.exec(
            select(WebSession, Person, TotpFactor.enabled_at, PersonRole.role)
            .join(Person, col(Person.id) == col(WebSession.person_id))
            .outerjoin(TotpFactor, col(TotpFactor.person_id) == col(Person.id))
            .outerjoin(PersonRole, col(PersonRole.person_id) == col(Person.id))
            .where(WebSession.id == token_hash(token), WebSession.stage == "full")
        )
    ).all()
    if not rows:
        return None
    web_session, person, factor_enabled_at, _ = rows[0]
    idle = timedelta(minutes=settings.session_idle_minutes)
    if not person.active or web_session.expires_at <= now or web_session.last_seen_at + idle <= now:
        await session.delete(web_session)
        return None
    if now - web_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        web_session.last_seen_at = now
        session.add(web_session)
    roles = in_role_order({role for *_, role in rows if role is not None})
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
    """Revoke the active API token with this name (audited), or NotFound."""
    token = (await session.exec(select(ApiToken).where(ApiToken.name == name))).first()
    if token is None or token.revoked_at is not None:
        raise NotFound(f"No active token called {name!r}")
    token.revoked_at = now
    session.add(token)
    audit.record(session, actor="system", action="token.revoked", target_type="api_token", target_id=token.id, at=now)
    return token


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every API token, revoked ones included, oldest first."""
    return list(await session.exec(select(ApiToken).order_by(col(ApiToken.created_at))))


async def actor_for_token(session: AsyncSession, *, secret: str, now: datetime) -> Actor | None:
    """The integration behind a bearer secret, or None for an unknown or revoked one."""
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
