"""The device key: one per person, stable across sign-ins, useless to anyone else."""

from __future__ import annotations

import uuid

from trim.offline.rules import device_key


def test_the_same_person_gets_the_same_key_after_signing_in_again() -> None:
    person = uuid.uuid4()
    assert device_key("s" * 32, person) == device_key("s" * 32, person)
    assert len(device_key("s" * 32, person)) == 32  # AES-256


def test_another_person_or_another_secret_gets_another_key() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert device_key("s" * 32, a) != device_key("s" * 32, b)
    assert device_key("s" * 32, a) != device_key("t" * 32, a)
