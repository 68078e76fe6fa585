"""The device key: what the browser seals offline recordings and drafts with (AES-GCM)."""

from __future__ import annotations

import hashlib
import hmac
import uuid

# Bump to give every device a new key (anything sealed with the old one becomes unreadable).
KEY_VERSION = "trim offline key v1"


def device_key(secret: str, person_id: uuid.UUID) -> bytes:
    """A 256-bit AES key for one person, derived from the service's secret.

    The same person gets the same key after signing in again, so a recording sealed before a
    session expired can still be sent; without a session (and so without the key) the
    browser's copy is unreadable, and another person's key does not open it."""
    return hmac.new(secret.encode(), f"{KEY_VERSION}\x00{person_id}".encode(), hashlib.sha256).digest()
