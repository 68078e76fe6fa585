"""Password hashing with argon2, off the event loop."""

from __future__ import annotations

from functools import lru_cache

import anyio.to_thread
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@lru_cache(maxsize=2)
def hasher(profile: str = "default") -> PasswordHasher:
    """The argon2 hasher for a cost profile ("cheapest" is for tests only)."""
    if profile == "cheapest":  # tests only: the default costs ~0.2 s a hash
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


@lru_cache(maxsize=2)
def _dummy_hash(profile: str) -> str:
    return hasher(profile).hash("not a real password, only for timing")


async def hash_password(password: str, *, profile: str = "default") -> str:
    """Hash a password in a thread, so the event loop keeps serving meanwhile."""
    return await anyio.to_thread.run_sync(hasher(profile).hash, password)


def hash_password_sync(password: str, *, profile: str = "default") -> str:
    """Hash a password here and now (the CLI, the demo, fixtures)."""
    return hasher(profile).hash(password)


async def verify_password(stored: str | None, password: str, *, profile: str = "default") -> bool:
    """True when the password matches. An unknown account still costs one hash, so
    timing does not tell whether an email is registered."""

    def check() -> bool:
        target = stored or _dummy_hash(profile)
        try:
            ok = hasher(profile).verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok and stored)

    return await anyio.to_thread.run_sync(check)


def needs_rehash(stored: str, *, profile: str = "default") -> bool:
    """Whether a stored hash is unreadable or weaker than this profile asks, so it should be redone."""
    try:
        return hasher(profile).check_needs_rehash(stored)
    except InvalidHashError:
        return True
