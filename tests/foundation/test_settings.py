"""Settings: a missing or malformed setting stops start-up with a message naming it."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_KEYS, TEST_SECRET
from trim.app import create_app
from trim.config import SettingsError, load_settings


def test_defaults_are_the_embedded_sqlite_demo_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIM_DATABASE_URL", raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.scheduled_offsets_days == [3, 28]
    assert settings.small_cell_k == 5
    assert settings.mfa_required_roles == ["peer", "trim_manager", "lead", "clinician", "admin"]
    assert settings.cookie_secure is True


def test_day90_is_scheduled_only_when_enabled() -> None:
    assert load_settings(optional_checkins_enabled=True).scheduled_offsets_days == [3, 28, 90]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"timezone": "Mars/Olympus"}, "TRIM_TIMEZONE"),
        ({"encryption_keys": ["not-a-fernet-key"]}, "TRIM_ENCRYPTION_KEYS"),
        ({"database_url": "mysql://x"}, "TRIM_DATABASE_URL"),
        ({"mfa_required_roles": ["wizard"]}, "TRIM_MFA_REQUIRED_ROLES"),
        ({"checkin_offsets_days": [3, 3]}, "TRIM_CHECKIN_OFFSETS_DAYS"),
        ({"small_cell_k": 1}, "TRIM_SMALL_CELL_K"),
        ({"due_window_days": -1}, "TRIM_DUE_WINDOW_DAYS"),
    ],
)
def test_malformed_setting_is_named(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(**overrides)
    assert named in str(caught.value)


def test_malformed_json_list_in_the_environment_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIM_ENCRYPTION_KEYS", "k1,k2")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "encryption_keys" in str(caught.value).lower()


def test_short_secret_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="TRIM_SECRET_KEY"):
        load_settings(secret_key="short")


def test_server_refuses_to_start_without_secret_key() -> None:
    settings = load_settings(encryption_keys=[TEST_KEYS[0]])
    with pytest.raises(SettingsError, match="TRIM_SECRET_KEY is not set"):
        create_app(settings)


def test_server_refuses_to_start_without_encryption_keys() -> None:
    settings = load_settings(secret_key=TEST_SECRET)
    with pytest.raises(SettingsError, match="TRIM_ENCRYPTION_KEYS is not set"):
        create_app(settings)


def test_environment_variables_are_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIM_TIMEZONE", "America/New_York")
    monkeypatch.setenv("TRIM_ENCRYPTION_KEYS", f'["{TEST_KEYS[0]}", "{TEST_KEYS[1]}"]')
    monkeypatch.setenv("TRIM_MFA_REQUIRED_ROLES", "[]")
    settings = load_settings()
    assert settings.timezone == "America/New_York"
    assert settings.fernet_keys() == TEST_KEYS
    assert settings.mfa_required_roles == []


def test_a_read_replica_is_a_postgresql_standby_of_a_postgresql_primary() -> None:
    primary = "postgresql://trim@db-primary/trim"
    settings = load_settings(database_url=primary, database_replica_url="postgres://trim@db-replica/trim")
    assert settings.database_replica_url == "postgresql+asyncpg://trim@db-replica/trim"
    assert load_settings(database_url=primary, database_replica_url="").database_replica_url is None
    with pytest.raises(SettingsError, match="TRIM_DATABASE_REPLICA_URL"):
        load_settings(database_url=primary, database_replica_url="sqlite+aiosqlite:///copy.db")
    with pytest.raises(SettingsError, match="TRIM_DATABASE_REPLICA_URL needs TRIM_DATABASE_URL"):
        load_settings(database_url="sqlite+aiosqlite:///trim.db", database_replica_url=primary)
