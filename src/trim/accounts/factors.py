"""The second factor: an authenticator app (TOTP) and single-use recovery codes.

The TOTP secret is encrypted at rest like notes (and rotated with them); recovery codes
are kept only as HMACs under the secret key. A TOTP code is good once: the last accepted
time step is stored and only a later one is taken. Nothing here commits.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.accounts.models import RecoveryCode, TotpFactor
from trim.accounts.rules import (
    RECOVERY_ALPHABET,
    RECOVERY_CODE_COUNT,
    RECOVERY_CODE_LENGTH,
    format_recovery_code,
    looks_like_totp,
    recovery_code_hash,
    totp_matching_step,
)
from trim.accounts.service import end_all_sessions, get_person, notify_account
from trim.config import Settings
from trim.errors import Conflict, InvalidInput
from trim.notifications import service as notifications
from trim.privacy import audit, crypto

WRONG_CODE = "That code is not right. Check the code in your authenticator app and try again."
REUSED_CODE = "That code has just been used. Wait for your app to show a new one."
WRONG_RECOVERY = "That recovery code is not right, or has been used already."


@dataclass(frozen=True)
class Status:
    enabled_at: datetime | None
    recovery_codes_left: int

    @property
    def enabled(self) -> bool:
        return self.enabled_at is not None


@dataclass(frozen=True)
class Setup:
    """What the enrolment page shows: the secret for typing in, and its QR code."""

    secret: str
    uri: str
    qr_svg: str

    @property
    def secret_grouped(self) -> str:
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


async def _factor(session: AsyncSession, person_id: uuid.UUID) -> TotpFactor | None:
    return (await session.exec(select(TotpFactor).where(TotpFactor.person_id == person_id))).first()


async def is_enrolled(session: AsyncSession, person_id: uuid.UUID) -> bool:
    """Whether the person has finished setting up their authenticator app."""
    factor = await _factor(session, person_id)
    return factor is not None and factor.enabled_at is not None


async def status(session: AsyncSession, person_id: uuid.UUID) -> Status:
    """The person's second factor: set up or not, and how many recovery codes are left."""
    factor = await _factor(session, person_id)
    left = (
        await session.exec(
            select(func.count())
            .select_from(RecoveryCode)
            .where(col(RecoveryCode.person_id) == person_id, col(RecoveryCode.used_at).is_(None))
        )
    ).one()
    return Status(enabled_at=factor.enabled_at if factor else None, recovery_codes_left=int(left))


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG: presentation attributes only, no style attribute, so it
    renders under a CSP without 'unsafe-inline'."""
    code = segno.make(uri, error="m")
    svg: str = code.svg_inline(
        scale=5, border=4, dark="#000", light="#fff", omitsize=True, title="QR code for your authenticator app"
    )
    return svg


def _setup(settings: Settings, secret: str, email: str) -> Setup:
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=settings.organisation_name)
    return Setup(secret=secret, uri=uri, qr_svg=qr_svg(uri))


async def begin_enrolment(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> Setup:
    """The set-up in progress for this person, started now if none is (the same secret on
    every visit until it is confirmed)."""
    factor = await _factor(session, actor.person_id)
    if factor is not None and factor.enabled_at is not None:
        raise Conflict("Your authenticator app is set up already.")
    if factor is None:
        secret = pyotp.random_base32()
        encrypted = crypto.encrypt(settings, secret)
        assert encrypted is not None
        factor = TotpFactor(person_id=actor.person_id, secret_encrypted=encrypted, created_at=now)
        session.add(factor)
        await session.flush()
    else:
        secret = crypto.decrypt(settings, factor.secret_encrypted) or ""
    return _setup(settings, secret, actor.email)


async def _new_recovery_codes(
    session: AsyncSession, *, person_id: uuid.UUID, now: datetime, settings: Settings
) -> list[str]:
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.person_id) == person_id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append(format_recovery_code(raw))
        session.add(
            RecoveryCode(
                person_id=person_id,
                code_hash=recovery_code_hash(settings.secret(), str(person_id), raw),
                created_at=now,
            )
        )
    return codes


async def _accept_totp(
    session: AsyncSession, factor: TotpFactor, *, code: str, now: datetime, settings: Settings
) -> None:
    """Take a TOTP code once: a step at or before the last accepted one is refused, and the
    conditional update keeps two requests from both using the same code."""
    secret = crypto.decrypt(settings, factor.secret_encrypted) or ""
    step = totp_matching_step(secret, code, at=now)
    if step is None:
        raise InvalidInput.field("code", WRONG_CODE)
    taken = await session.exec(
        update(TotpFactor)
        .where(
            col(TotpFactor.id) == factor.id,
            or_(col(TotpFactor.last_step).is_(None), col(TotpFactor.last_step) < step),
        )
        .values(last_step=step)
    )
    if taken.rowcount != 1:
        raise InvalidInput.field("code", REUSED_CODE)
    factor.last_step = step


async def confirm_enrolment(
    session: AsyncSession, *, actor: Actor, code: str, now: datetime, settings: Settings
) -> list[str]:
    """Switch the set-up on with a first code from the app; returns the recovery codes,
    shown once."""
    factor = await _factor(session, actor.person_id)
    if factor is None:
        raise InvalidInput.field("code", "Start the set-up again: open the page once more.")
    if factor.enabled_at is not None:
        raise Conflict("Your authenticator app is set up already.")
    await _accept_totp(session, factor, code=code, now=now, settings=settings)
    factor.enabled_at = now
    session.add(factor)
    codes = await _new_recovery_codes(session, person_id=actor.person_id, now=now, settings=settings)
    audit.record(
        session,
        actor=actor,
        action="person.second_factor_enabled",
        target_type="person",
        target_id=actor.person_id,
        subject_id=actor.person_id,
        at=now,
    )
    await notifications.enqueue(
        session,
        person_id=actor.person_id,
        kind="account",
        subject="A second factor was added to your account",
        body=(
            "An authenticator app was just set up for signing in to your peer support account. "
            "If this was not you, tell your administrator now."
        ),
        link="/profile",
        now=now,
    )
    await session.flush()
    return codes


async def verify(session: AsyncSession, *, person_id: uuid.UUID, code: str, now: datetime, settings: Settings) -> str:
    """Check a sign-in's second step: a TOTP code (6 digits) or a recovery code (used up).
    Returns which it was; InvalidInput with a message for the person otherwise."""
    factor = await _factor(session, person_id)
    if factor is None or factor.enabled_at is None:
        raise InvalidInput.field("code", WRONG_CODE)
    if looks_like_totp(code):
        await _accept_totp(session, factor, code=code, now=now, settings=settings)
        return "totp"
    used = await session.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.person_id) == person_id,
            col(RecoveryCode.code_hash) == recovery_code_hash(settings.secret(), str(person_id), code),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    if used.rowcount != 1:
        raise InvalidInput.field("recovery_code", WRONG_RECOVERY)
    audit.record(
        session,
        actor=str(person_id),
        action="person.recovery_code_used",
        target_type="person",
        target_id=person_id,
        subject_id=person_id,
        at=now,
    )
    return "recovery"


async def regenerate_recovery_codes(
    session: AsyncSession, *, actor: Actor, code: str, now: datetime, settings: Settings
) -> list[str]:
    """New recovery codes (the old ones stop working), after a current code from the app."""
    factor = await _factor(session, actor.person_id)
    if factor is None or factor.enabled_at is None:
        raise InvalidInput.field("code", "Set up your authenticator app first.")
    await _accept_totp(session, factor, code=code, now=now, settings=settings)
    codes = await _new_recovery_codes(session, person_id=actor.person_id, now=now, settings=settings)
    audit.record(
        session,
        actor=actor,
        action="person.recovery_codes_renewed",
        target_type="person",
        target_id=actor.person_id,
        subject_id=actor.person_id,
        at=now,
    )
    await session.flush()
    return codes


async def reset(
    session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, now: datetime, settings: Settings
) -> bool:
    """The admin removes a person's second factor (a lost phone): they set it up again at
    their next sign-in, and every session of theirs ends. False when there was none. The
    notice also reaches the other address of a pending or recent email change."""
    if actor.id == person_id:
        raise InvalidInput.field("second_factor", "You cannot reset your own second factor; ask another administrator.")
    person = await get_person(session, person_id)
    factor = await _factor(session, person.id)
    if factor is None:
        return False
    await session.exec(delete(TotpFactor).where(col(TotpFactor.person_id) == person.id))
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.person_id) == person.id))
    await end_all_sessions(session, person_id=person.id)
    audit.record(
        session,
        actor=actor,
        action="person.second_factor_reset",
        target_type="person",
        target_id=person.id,
        subject_id=person.id,
        at=now,
    )
    await notify_account(
        session,
        person=person,
        subject="Your second factor was reset",
        body=(
            "An administrator removed the authenticator app from your peer support account, and you were "
            "signed out everywhere. Where your role needs one, you will set up an app again when you next "
            "sign in. If you did not ask for this, tell your administrator or the programme lead."
        ),
        link="/signin",
        now=now,
        settings=settings,
    )
    await session.flush()
    return True
