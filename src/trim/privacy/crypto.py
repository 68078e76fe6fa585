"""Encryption at rest for free text (peer notes, request messages).

TRIM_ENCRYPTION_KEYS is a list of Fernet keys: the first encrypts, all decrypt,
so a new key can be put in front, the app restarted, `trim keys rotate` run
while it serves, and the old key removed afterwards.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from trim.config import Settings


class UndecryptableError(Exception):
    """No configured key opens this text (the key that wrote it was removed)."""


@lru_cache(maxsize=8)
def _keyring(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def keyring(settings: Settings) -> MultiFernet:
    keys = tuple(settings.fernet_keys())
    if not keys:
        raise UndecryptableError("TRIM_ENCRYPTION_KEYS is empty")
    return _keyring(keys)


def encrypt(settings: Settings, plain: str | None) -> str | None:
    if plain is None or plain == "":
        return None
    return keyring(settings).encrypt(plain.encode()).decode()


def decrypt(settings: Settings, token: str | None) -> str | None:
    if token is None:
        return None
    try:
        return keyring(settings).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise UndecryptableError("no configured key opens this text") from exc


def rotate(settings: Settings, token: str) -> str:
    """Re-encrypt under the first key (the text itself never leaves memory)."""
    return keyring(settings).rotate(token.encode()).decode()


def is_current(settings: Settings, token: str) -> bool:
    """Whether the text is already encrypted under the first key."""
    try:
        Fernet(settings.fernet_keys()[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def fingerprint(key: str) -> str:
    """A short, safe name for a key: never the key itself."""
    return hashlib.sha256(base64.urlsafe_b64decode(key.encode())).hexdigest()[:12]


def generate_key() -> str:
    return Fernet.generate_key().decode()
