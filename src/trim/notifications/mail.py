"""SMTP: where to send (TRIM_SMTP_URL), what one email looks like, and which failures are
worth retrying."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from trim.config import Settings
from trim.db import utcnow
from trim.notifications import rules
from trim.notifications.models import OutboxMessage

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # TLS from the first byte (smtps://, usually port 465)
    start_tls: bool | None  # True: required; False: never; None: when the server offers it
    validate_certs: bool
    timeout: float

    def describe(self) -> str:
        """For logs: never the password."""
        return f"{'smtps' if self.use_tls else 'smtp'}://{self.host}:{self.port}"


def _flag(query: dict[str, list[str]], name: str) -> bool | None:
    if name not in query:
        return None
    value = query[name][-1].strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"TRIM_SMTP_URL: {name}= takes 1 or 0, not {value!r}")


def parse_smtp_url(url: str, *, default_timeout: float) -> SmtpTarget:
    """smtp://user:pass@host:587?starttls=1, smtps://host:465, smtp://host:1025 (a local
    catcher). User and password are URL-encoded (p%40ss for p@ss)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("TRIM_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("TRIM_SMTP_URL names no host")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"starttls", "timeout", "verify"})
    if unknown:
        raise ValueError(f"TRIM_SMTP_URL: unknown option {unknown[0]!r} (use starttls, timeout, verify)")
    use_tls = parts.scheme == "smtps"
    start_tls = None if use_tls else _flag(query, "starttls")
    default_port = 465 if use_tls else (587 if start_tls else 25)
    try:
        timeout = float(query["timeout"][-1]) if "timeout" in query else default_timeout
        port = parts.port or default_port
    except ValueError:
        raise ValueError("TRIM_SMTP_URL: the port and timeout must be numbers") from None
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=use_tls,
        start_tls=start_tls,
        validate_certs=_flag(query, "verify") is not False,
        timeout=timeout,
    )


def _domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rsplit("@", 1)[1] if "@" in address else "trim.invalid"


def build_email(message: OutboxMessage, settings: Settings) -> EmailMessage:
    """The email for one outbox row. Its Message-ID comes from the row, so a retry after a
    crash is recognisably the same message."""
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = f"<{message.id}@{_domain(settings.mail_from)}>"
    email["Auto-Submitted"] = "auto-generated"
    email["X-Trim-Kind"] = message.kind
    email.set_content(
        rules.email_text(
            body=message.body,
            link=message.link,
            base_url=settings.base_url,
            org_name=settings.organisation_name,
            to_person=message.person_id is not None,
        )
    )
    return email


async def connect(target: SmtpTarget) -> aiosmtplib.SMTP:
    """An open, greeted (and, where set, encrypted and signed-in) SMTP connection."""
    smtp = aiosmtplib.SMTP(
        hostname=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.use_tls,
        start_tls=target.start_tls,
        validate_certs=target.validate_certs,
        timeout=target.timeout,
    )
    await smtp.connect()
    return smtp


def is_permanent(exc: BaseException) -> bool:
    """A 5xx answer about this message (a refused recipient, a rejected body): retrying
    soon will not help. Anything else (no connection, a timeout, a 4xx) is the server
    being unavailable, which waiting fixes."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code >= 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code >= 500
    return False


def is_connection_failure(exc: BaseException) -> bool:
    """The connection is gone: stop this batch, everything in it waits for a retry."""
    # aiosmtplib's disconnect, connect and timeout errors are all OSErrors.
    return isinstance(exc, OSError)


def describe_error(exc: BaseException) -> str:
    """The error's kind and code, for the outbox row and the logs (never the server's
    text, which can echo an address)."""
    code = getattr(exc, "code", None)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        code = exc.recipients[0].code
    return f"{type(exc).__name__}{f' {code}' if code else ''}"[:200]
