"""Key rotation: re-encrypt every encrypted column under the first key, while serving.

Steps (README): put a new key first in TRIM_ENCRYPTION_KEYS and restart the app (it
now writes with the new key and still reads the old), run `trim keys rotate`, then
remove the old key and restart again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.models import TotpFactor, WebSession
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.privacy import audit, crypto
from trim.requests.models import ConversationMessage, PeerRequest
from trim.sharing.models import SharedNote

# Every column that holds ciphertext.
ENCRYPTED: list[tuple[type[Any], str]] = [
    (Assessment, "notes_encrypted"),
    (PeerRequest, "message_encrypted"),
    (PeerRequest, "contact_encrypted"),
    (ConversationMessage, "body_encrypted"),
    (TotpFactor, "secret_encrypted"),
    (WebSession, "id_token_encrypted"),
    (SharedNote, "text_encrypted"),
]


async def rotate_keys(
    maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    batch: int = 500,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Re-encrypt every value not yet under the first key, a batch per transaction.

    Each row is updated only if it still holds the ciphertext that was read, so a note
    edited meanwhile (already under the new key) is never overwritten with old text."""
    counts: dict[str, int] = {}
    for model, column in ENCRYPTED:
        name = f"{model.__tablename__}.{column}"
        counts[name] = 0
        field = getattr(model, column)
        last: uuid.UUID | None = None
        while True:
            async with maker() as session:
                stmt = select(model.id, field).where(col(field).is_not(None)).order_by(col(model.id)).limit(batch)
                if last is not None:
                    stmt = stmt.where(col(model.id) > last)
                rows = list(await session.exec(stmt))
                if not rows:
                    break
                for row_id, token in rows:
                    if crypto.is_current(settings, token):
                        continue
                    fresh = crypto.rotate(settings, token)
                    result = await session.exec(
                        update(model)
                        .where(col(model.id) == row_id, col(field) == token)
                        .values({column: fresh})
                        .execution_options(synchronize_session=False)
                    )
                    counts[name] += int(result.rowcount or 0)
                last = rows[-1][0]
                await session.commit()
            if on_progress:
                on_progress(name, counts[name])
    async with maker() as session:
        audit.record(
            session,
            actor="system",
            action="keys.rotated",
            target_type="keyring",
            details={"rewritten": sum(counts.values()), "key": crypto.fingerprint(settings.fernet_keys()[0])},
        )
        await session.commit()
    return counts


async def not_current(session: AsyncSession, settings: Settings) -> int:
    """How many values the first key alone does not open.

    Fernet tokens carry no key id, so this is the only honest test: a value a process
    still on the old key list wrote after rotation passed its row opens with some key,
    but not with the first, and removing the old key would lose it."""
    stale = 0
    for model, column in ENCRYPTED:
        field = getattr(model, column)
        for token in await session.exec(select(field).where(col(field).is_not(None))):
            if not crypto.is_current(settings, token):
                stale += 1
    return stale


@dataclass(frozen=True)
class Rotation:
    counts: dict[str, int]
    passes: int
    # Values still not under the first key after the last pass (0: older keys can go).
    stale: int
    # Values no configured key opens at all.
    unreadable: int

    @property
    def complete(self) -> bool:
        return self.stale == 0 and self.unreadable == 0


async def rotate_until_current(
    maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    batch: int = 500,
    passes: int = 3,
    on_progress: Callable[[str, int], None] | None = None,
) -> Rotation:
    """Rotate, then count what the first key alone does not open; while some is left,
    re-encrypt what was written behind the scan since and count again (at most `passes`
    passes). A count left after the last pass means a process still writes with an old
    key list: it must be restarted before any key is removed."""
    counts: dict[str, int] = {}
    done = 0
    stale = 0
    while done < passes:
        done += 1
        for name, n in (await rotate_keys(maker, settings, batch=batch, on_progress=on_progress)).items():
            counts[name] = counts.get(name, 0) + n
        async with maker() as session:
            stale = await not_current(session, settings)
        if stale == 0:
            break
    async with maker() as session:
        unreadable = await undecryptable(session, settings)
    return Rotation(counts=counts, passes=done, stale=stale, unreadable=unreadable)


async def undecryptable(session: AsyncSession, settings: Settings) -> int:
    """How many values no configured key opens (should be 0 before removing a key)."""
    missing = 0
    for model, column in ENCRYPTED:
        field = getattr(model, column)
        for token in await session.exec(select(field).where(col(field).is_not(None))):
            try:
                crypto.decrypt(settings, token)
            except crypto.UndecryptableError:
                missing += 1
    return missing
