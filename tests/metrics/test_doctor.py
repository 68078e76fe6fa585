"""`trim doctor` as the operator runs it: all in order says so and exits 0; each injected
misconfiguration (a wrong key, the database down, the anchors file unwritable, the mail
server refusing) is named in plain words with a non-zero exit."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from click.testing import CliRunner
from cryptography.fernet import Fernet

from tests.conftest import TEST_KEYS, TEST_SECRET
from tests.metrics.test_ports import free_port
from trim.cli import main
from trim.db import create_engine, make_sessionmaker
from trim.migrations import upgrade
from trim.privacy.models import AuditEvent  # noqa: F401 - tables registered
from trim.sharing.models import SharedNote


@pytest.fixture
def smtp_url() -> Iterator[str]:
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.fixture
def refusing_smtp_url() -> Iterator[str]:
    """A server that greets every connection with 554 (service refused) and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"554 5.3.2 no service here\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"smtp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'trim.db'}"
    upgrade(url)
    return url


def store_a_note(url: str, key: str) -> None:
    """One value encrypted under `key`, as a shared note would be."""
    import uuid

    from tests.cast import make_person

    async def work() -> None:
        engine = create_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                person = await make_person(session, roles=["responder"], name="Doc Tor", email="doc@example.org")
                manager = await make_person(session, roles=["responder"], name="Man Ager", email="man@example.org")
                session.add(
                    SharedNote(
                        id=uuid.uuid4(),
                        person_id=person.id,
                        manager_id=manager.id,
                        text_encrypted=Fernet(key.encode()).encrypt(b"lighter duties this week").decode(),
                    )
                )
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(work())


def doctor(**env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["doctor"], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def good_env(tmp_path: Path, url: str, smtp: str) -> dict[str, str]:
    return {
        "TRIM_DATABASE_URL": url,
        "TRIM_SECRET_KEY": TEST_SECRET,
        "TRIM_ENCRYPTION_KEYS": f'["{TEST_KEYS[0]}"]',
        "TRIM_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors.jsonl"),
        "TRIM_SMTP_URL": smtp,
    }


def test_doctor_says_all_is_in_order(tmp_path: Path, smtp_url: str) -> None:
    url = database(tmp_path)
    store_a_note(url, TEST_KEYS[0])
    code, out = doctor(**good_env(tmp_path, url, smtp_url))
    assert code == 0, out
    assert "FAIL" not in out
    assert "keys: the keys open all 1 stored values sampled" in out
    assert "answers EHLO" in out and "(current)" in out


def test_doctor_names_a_wrong_key(tmp_path: Path, smtp_url: str) -> None:
    url = database(tmp_path)
    store_a_note(url, TEST_KEYS[0])
    env = good_env(tmp_path, url, smtp_url) | {"TRIM_ENCRYPTION_KEYS": f'["{TEST_KEYS[1]}"]'}
    code, out = doctor(**env)
    assert code == 1
    assert "FAIL  keys: 1 of 1 stored values sampled do not open with TRIM_ENCRYPTION_KEYS" in out
    assert "lighter duties" not in out


def test_doctor_names_a_database_that_is_down(tmp_path: Path, smtp_url: str) -> None:
    env = good_env(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:1/trim", smtp_url)
    code, out = doctor(**env)
    assert code == 1
    assert "FAIL  database: cannot reach the database at TRIM_DATABASE_URL" in out
    assert "ok    mail" in out  # the other checks still ran


def test_doctor_names_a_database_behind_the_code(tmp_path: Path, smtp_url: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0625")
    code, out = doctor(**good_env(tmp_path, url, smtp_url))
    assert code == 1
    assert "reachable but at revision 0625" in out and "run `trim db upgrade`" in out


def test_doctor_names_an_anchors_file_it_cannot_write(tmp_path: Path, smtp_url: str) -> None:
    url = database(tmp_path)
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("")
    env = good_env(tmp_path, url, smtp_url) | {"TRIM_AUDIT_ANCHOR_FILE": str(not_a_folder / "anchors.jsonl")}
    code, out = doctor(**env)
    assert code == 1
    assert "FAIL  audit anchors: cannot append to TRIM_AUDIT_ANCHOR_FILE" in out


def test_doctor_names_a_mail_server_that_refuses(tmp_path: Path, refusing_smtp_url: str) -> None:
    url = database(tmp_path)
    code, out = doctor(**good_env(tmp_path, url, refusing_smtp_url))
    assert code == 1
    assert "FAIL  mail: the mail server at smtp://127.0.0.1:" in out and "refused us: 554" in out


def test_doctor_names_a_mail_server_that_is_not_there(tmp_path: Path) -> None:
    url = database(tmp_path)
    code, out = doctor(**good_env(tmp_path, url, f"smtp://127.0.0.1:{free_port()}"))
    assert code == 1
    assert "did not answer" in out


def test_doctor_names_missing_keys(tmp_path: Path, smtp_url: str) -> None:
    url = database(tmp_path)
    env = good_env(tmp_path, url, smtp_url) | {"TRIM_ENCRYPTION_KEYS": "[]"}
    code, out = doctor(**env)
    assert code == 1
    assert "FAIL  settings: TRIM_ENCRYPTION_KEYS is not set" in out
