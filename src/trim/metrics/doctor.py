"""`trim doctor`: one command that says, in plain words, what would stop trim working here.

Each check is independent (a database that is down does not hide a mail server that
refuses), reads only, and writes nothing but an empty append to test the anchors file.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiosmtplib
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.analytics import Replica, analytics_session
from trim.config import Settings, SettingsError
from trim.db import create_engine, make_sessionmaker, ping
from trim.migrations import current_revisions, head_revisions
from trim.notifications.mail import connect, parse_smtp_url
from trim.privacy import crypto
from trim.records.keys import ENCRYPTED

# Values per encrypted column the keys must open: the newest ones, where a wrong key shows first.
SAMPLE_PER_COLUMN = 20


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    says: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.check}: {self.says}"


def check_settings(settings: Settings) -> Finding:
    """The secret and encryption keys are set, and the keys are Fernet keys."""
    try:
        settings.require_production_secrets()
        crypto.keyring(settings)
    except SettingsError as exc:
        return Finding("settings", False, str(exc))
    except ValueError:
        return Finding("settings", False, "TRIM_ENCRYPTION_KEYS holds a value that is not a Fernet key")
    problems = []
    if settings.cookie_secure is False and settings.environment == "production":
        problems.append("TRIM_COOKIE_SECURE is false: sessions would travel over plain http")
    if problems:
        return Finding("settings", False, "; ".join(problems))
    return Finding("settings", True, f"secret and {len(settings.encryption_keys)} encryption key(s) set")


async def check_database(settings: Settings) -> list[Finding]:
    """Reachable; at the code's revision; the keys open a sample of the stored values."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        try:
            await ping(engine)
        except Exception as exc:  # noqa: BLE001 - reported in words, whatever it is
            reason = type(exc).__name__
            return [
                Finding("database", False, f"cannot reach the database at TRIM_DATABASE_URL ({reason}): {exc}"[:300]),
                Finding("keys", False, "not checked: the database is not reachable"),
            ]
        current, head = await current_revisions(engine), head_revisions()
        if current == head:
            schema = Finding("database", True, f"reachable, at revision {', '.join(sorted(current))} (current)")
        else:
            at = ", ".join(sorted(current)) or "empty"
            schema = Finding(
                "database",
                False,
                f"reachable but at revision {at}, the code needs {', '.join(sorted(head))}: run `trim db upgrade`",
            )
        return [schema, await _check_keys(engine, settings, migrated=current == head)]
    finally:
        await engine.dispose()


async def _check_keys(engine: AsyncEngine, settings: Settings, *, migrated: bool) -> Finding:
    if not migrated:
        return Finding("keys", False, "not checked: the database is not at the current revision")
    if not settings.encryption_keys:
        return Finding("keys", False, "TRIM_ENCRYPTION_KEYS is not set")
    tried = unopened = 0
    try:
        async with make_sessionmaker(engine)() as session:
            for model, column in ENCRYPTED:
                field = getattr(model, column)
                rows = await session.exec(select(field).where(col(field).is_not(None)).limit(SAMPLE_PER_COLUMN))
                for token in rows:
                    tried += 1
                    try:
                        crypto.decrypt(settings, token)
                    except crypto.UndecryptableError:
                        unopened += 1
    except ValueError:
        return Finding("keys", False, "TRIM_ENCRYPTION_KEYS holds a value that is not a Fernet key")
    if unopened:
        return Finding(
            "keys",
            False,
            f"{unopened} of {tried} stored values sampled do not open with TRIM_ENCRYPTION_KEYS: "
            "a key that wrote them is missing (restore it from the secret store; never remove a key "
            "before `trim keys rotate` has finished)",
        )
    if not tried:
        return Finding("keys", True, "nothing encrypted is stored yet")
    return Finding("keys", True, f"the keys open all {tried} stored values sampled")


def check_anchor_file(settings: Settings) -> Finding:
    """The worker can append to TRIM_AUDIT_ANCHOR_FILE (an empty append; nothing is written)."""
    path = Path(settings.audit_anchor_file)
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        return Finding(
            "audit anchors",
            False,
            f"cannot append to TRIM_AUDIT_ANCHOR_FILE {path} ({exc.strerror or exc}): the worker could not "
            "record anchors, and `trim audit verify` would have nothing to check the chain against",
        )
    if not os.access(path, os.W_OK):
        return Finding("audit anchors", False, f"TRIM_AUDIT_ANCHOR_FILE {path} is not writable")
    return Finding("audit anchors", True, f"{path} is writable")


async def check_mail(settings: Settings) -> Finding:
    """The mail server at TRIM_SMTP_URL answers EHLO (and signs in, where a user is set)."""
    try:
        target = parse_smtp_url(settings.smtp_url, default_timeout=min(settings.smtp_timeout_seconds, 10.0))
    except ValueError as exc:
        return Finding("mail", False, f"TRIM_SMTP_URL: {exc}")
    try:
        smtp = await connect(target)
    except aiosmtplib.SMTPResponseException as exc:
        return Finding(
            "mail", False, f"the mail server at {target.describe()} refused us: {exc.code} {exc.message}"[:300]
        )
    except Exception as exc:  # noqa: BLE001 - reported in words, whatever it is
        return Finding("mail", False, f"the mail server at {target.describe()} did not answer: {exc}"[:300])
    try:
        code, _ = await smtp.ehlo()
    except Exception as exc:  # noqa: BLE001
        return Finding("mail", False, f"the mail server at {target.describe()} refused EHLO: {exc}"[:300])
    finally:
        with contextlib.suppress(Exception):  # the answer is already in hand
            await smtp.quit()
    if code >= 400:
        return Finding("mail", False, f"the mail server at {target.describe()} answered EHLO with {code}")
    return Finding("mail", True, f"{target.describe()} answers EHLO")


async def check_replica(settings: Settings) -> Finding | None:
    """With TRIM_DATABASE_REPLICA_URL set: the dashboard would read there now (reachable, a
    standby, not too far behind), as the web processes decide it (trim.analytics)."""
    if not settings.database_replica_url:
        return None
    primary_engine = create_engine(settings.database_url, pool_size=1)
    replica = Replica(settings)
    try:
        async with make_sessionmaker(primary_engine)() as primary, analytics_session(primary, replica) as analytics:
            await analytics.read(ping_session)
            read_from = analytics.read_from
    except Exception as exc:  # noqa: BLE001 - the primary itself is check_database's to report
        return Finding("read replica", False, f"not checked: the primary did not answer ({type(exc).__name__})")
    finally:
        await replica.dispose()
        await primary_engine.dispose()
    limit = settings.replica_max_lag_seconds
    if read_from.source == "replica":
        lag = (read_from.lag or timedelta(0)).total_seconds()
        behind = "caught up" if read_from.as_of is None else f"{lag:.0f} s behind (within {limit} s)"
        return Finding("read replica", True, f"a streaming standby, {behind}: the dashboard reads there")
    says = {
        "unreachable": "did not answer at TRIM_DATABASE_REPLICA_URL (down, unreachable, or refusing us) within "
        f"{settings.replica_connect_timeout_seconds:g} s",
        "lagging": f"more than TRIM_REPLICA_MAX_LAG_SECONDS ({limit} s) behind the primary",
        "not_standby": "is not a standby replaying the primary's WAL (promoted, or not a replica at all)",
        "failed": "failed part-way through a read",
        "resting": "failed a moment ago",
    }.get(read_from.reason or "", "is not used")
    return Finding("read replica", False, f"{says}: the dashboard and reports read from the primary meanwhile")


async def ping_session(session: AsyncSession) -> None:
    await (await session.connection()).execute(text("SELECT 1"))


async def diagnose(settings: Settings) -> list[Finding]:
    """Every check, in the order an operator would fix them."""
    findings = [check_settings(settings)]
    findings += await check_database(settings)
    replica = await check_replica(settings)
    if replica is not None:
        findings.append(replica)
    findings.append(check_anchor_file(settings))
    findings.append(await check_mail(settings))
    return findings
