"""The `trim` command: people, passwords, tokens, migrations."""

from __future__ import annotations

from typing import Any

import anyio
from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from tests.cast import sign_in
from trim.accounts import service
from trim.cli import main
from trim.config import Settings
from trim.db import AsyncSession
from trim.notifications.models import OutboxMessage


async def trim(settings: Settings, *args: str, input: str | None = None) -> Result:
    """Run `trim ARGS` against the test database, in a thread (it runs its own loop)."""
    env = {
        "TRIM_DATABASE_URL": settings.database_url,
        "TRIM_ARGON2_PROFILE": "cheapest",
        "TRIM_SECRET_KEY": settings.secret(),
        "TRIM_ENCRYPTION_KEYS": f'["{settings.fernet_keys()[0]}"]',
    }
    runner = CliRunner()
    return await anyio.to_thread.run_sync(lambda: runner.invoke(main, list(args), input=input, env=env))


async def test_users_create_and_set_password_from_stdin(
    settings: Settings, session: AsyncSession, client: AsyncTestClient[Litestar]
) -> None:
    created = await trim(
        settings,
        "users",
        "create",
        "--email",
        "Kim@Example.org",
        "--name",
        "Kim Lee",
        "--staff-number",
        "K1",
        "--roles",
        "peer;responder",
        "--station",
        "Harbour",
    )
    assert created.exit_code == 0, created.output
    person = await service.person_by_email(session, "kim@example.org")
    assert person is not None and await service.roles_of(session, person.id) == ["responder", "peer"]
    station = await service.station_by_name(session, "harbour")
    assert station is not None and person.station_id == station.id

    weak = await trim(settings, "users", "set-password", "kim@example.org", input="password1234\n")
    assert weak.exit_code != 0
    assert "very common password" in weak.output

    ok = await trim(settings, "users", "set-password", "kim@example.org", input="lantern harbour quietly\nignored\n")
    assert ok.exit_code == 0, ok.output
    assert "password set for kim@example.org" in ok.output
    await sign_in(client, "kim@example.org", "lantern harbour quietly")
    # An operator setting someone's password is an account change the person hears of.
    told = await session.exec(select(OutboxMessage.subject).where(OutboxMessage.to_address == "kim@example.org"))
    assert list(told) == ["Your password was changed"]


async def test_set_password_for_unknown_email_fails_clearly(settings: Settings, client: Any) -> None:
    result = await trim(settings, "users", "set-password", "ghost@example.org", input="lantern harbour quietly\n")
    assert result.exit_code != 0
    assert "nobody has the email ghost@example.org" in result.output


async def test_users_create_refuses_bad_input(settings: Settings, client: Any) -> None:
    result = await trim(settings, "users", "create", "--email", "nope", "--name", "X", "--staff-number", "1")
    assert result.exit_code != 0
    assert "email: Enter an email address" in result.output
    roles = await trim(
        settings, "users", "create", "--email", "a@b.org", "--name", "X", "--staff-number", "1", "--roles", "boss"
    )
    assert "unknown role 'boss'" in roles.output


async def test_db_current_says_up_to_date(settings: Settings, client: Any) -> None:
    result = await trim(settings, "db", "current")
    assert result.exit_code == 0
    assert "up to date" in result.output


async def test_tokens_are_shown_once_and_can_be_revoked(settings: Settings, client: Any) -> None:
    created = await trim(settings, "tokens", "create", "--name", "cad", "--scope", "incidents:write")
    assert created.exit_code == 0, created.output
    secret = created.output.splitlines()[0]
    assert secret.startswith("trim_")
    listed = await trim(settings, "tokens", "list")
    assert "cad\tincidents:write\tactive" in listed.output
    assert secret not in listed.output
    duplicate = await trim(settings, "tokens", "create", "--name", "cad")
    assert duplicate.exit_code != 0
    assert (await trim(settings, "tokens", "revoke", "cad")).exit_code == 0
    assert "revoked" in (await trim(settings, "tokens", "list")).output


async def test_keys_show_fingerprints_never_keys(settings: Settings) -> None:
    result = await trim(settings, "keys")
    assert result.exit_code == 0
    assert "1. " in result.output and "encrypts and decrypts" in result.output
    assert settings.fernet_keys()[0] not in result.output


async def test_roster_import_with_invite_writes_one_invitation_per_newcomer(
    settings: Settings, session: AsyncSession, tmp_file: Any
) -> None:
    from sqlmodel import select

    from trim.notifications.models import OutboxMessage

    tmp_file.write_text(
        "staff_number,name,email,station,roles\n"
        "N1,Nell Ardent,nell@example.org,Harbour,responder\n"
        "N2,Osric Pell,osric@example.org,Harbour,peer\n"
    )
    first = await trim(settings, "roster", "import", "--invite", str(tmp_file))
    assert first.exit_code == 0, first.output
    assert "2 added" in first.output and "2 invited" in first.output
    again = await trim(settings, "roster", "import", "--invite", str(tmp_file))  # live invitations: none sent again
    assert again.exit_code == 0 and "0 invited" in again.output
    rows = list(await session.exec(select(OutboxMessage.to_address, OutboxMessage.link)))
    assert sorted(address for address, _ in rows) == ["nell@example.org", "osric@example.org"]
    assert all(link.startswith("/join/") for _, link in rows)
