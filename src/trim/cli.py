"""The `trim` command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from trim.config import ROLES, Settings, SettingsError, load_settings

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _in_session(settings: Settings, work: Callable[[Any], Awaitable[T]], *, check: bool = True) -> T:
    """Run `work(session)` in one transaction against the configured database."""
    import trim.models  # noqa: F401
    from trim.db import create_engine, make_sessionmaker
    from trim.migrations import NotMigrated, ensure_migrated

    async def main() -> T:
        engine = create_engine(settings.database_url, pool_size=2)
        try:
            if check:
                await ensure_migrated(engine)
            async with make_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except NotMigrated as exc:
        raise click.ClickException(str(exc)) from None


def _read_password(confirm: bool = True) -> str:
    """From a prompt on a terminal, else the first line of standard input; never argv."""
    if sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
        return value
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.ClickException("no password on standard input (the first line is read)")
    return line


@click.group()
@click.version_option(package_name="trim")
def main() -> None:
    """trim: a peer support programme for first responders."""


# -- running ------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Web processes.")
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="Proxies whose X-Forwarded-For is trusted (for the sign-in limit per address).",
)
def run(host: str, port: int, workers: int, forwarded_allow_ips: str) -> None:
    """Serve the configured database (production)."""
    import uvicorn

    from trim.db import create_engine
    from trim.migrations import NotMigrated, ensure_migrated

    settings = _settings()
    try:
        settings.require_production_secrets()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None

    async def check() -> None:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            await ensure_migrated(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except NotMigrated as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database: {exc}") from None
    metrics_server = _start_web_metrics(settings)
    click.echo(f"trim serving on http://{host}:{port} with {workers} process(es)")
    try:
        uvicorn.run(
            "trim.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            access_log=False,
            log_config=None,
        )
    finally:
        if metrics_server is not None:
            metrics_server.stop()


def _start_web_metrics(settings: Settings) -> Any:
    """With metrics configured: every web process counts into one shared directory, and
    TRIM_METRICS_PORT (when set) is served from this process for all of them."""
    from trim.metrics.multiproc import prepare_multiprocess_dir

    if settings.metrics_port is None and settings.metrics_token is None:
        return None
    prepare_multiprocess_dir()  # before anything here imports prometheus_client
    if settings.metrics_port is None:
        return None
    from trim.metrics.server import WebMetricsServer

    try:
        server = WebMetricsServer(settings, port=settings.metrics_port, host=settings.metrics_host).start()
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on port {settings.metrics_port}: {exc}") from None
    click.echo(f"trim metrics on http://{settings.metrics_host}:{server.port}/metrics", err=True)
    return server


@main.command()
@click.option("--once", is_flag=True, help="One round of sweeps and sending, then stop (for cron or checks).")
def worker(once: bool) -> None:
    """Send the outbox's email and run the periodic sweeps (reminders), until stopped."""
    import signal

    from trim.metrics.multiproc import MULTIPROC_ENV

    # The worker is one process: it counts in its own memory, never in the web's directory
    # (popped before anything imports prometheus_client, which reads it once).
    os.environ.pop(MULTIPROC_ENV, None)

    from trim.db import create_engine, make_sessionmaker
    from trim.jobs import SWEEPS
    from trim.logs import configure_logging
    from trim.metrics.worker import ObservedWorker
    from trim.migrations import NotMigrated, ensure_migrated
    from trim.notifications.mail import parse_smtp_url

    settings = _settings()
    try:
        settings.require_production_secrets()
        target = parse_smtp_url(settings.smtp_url, default_timeout=settings.smtp_timeout_seconds)
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_level)
    if settings.worker_metrics_port is not None and not once:
        from trim.metrics.server import serve_worker_metrics

        try:
            serve_worker_metrics(port=settings.worker_metrics_port, host=settings.metrics_host)
        except OSError as exc:
            raise click.ClickException(f"cannot serve metrics on port {settings.worker_metrics_port}: {exc}") from None

    async def main_loop() -> None:
        engine = create_engine(settings.database_url, pool_size=2)
        try:
            await ensure_migrated(engine)
            runner = ObservedWorker(make_sessionmaker(engine), settings, sweeps=SWEEPS)
            if once:
                await runner.tick()
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await runner.run(stop)
        finally:
            await engine.dispose()

    if not once:
        click.echo(f"trim worker: sending through {target.describe()}; Ctrl+C to stop", err=True)
    try:
        asyncio.run(main_loop())
    except NotMigrated as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database: {exc}") from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--folder", default="trim-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--no-serve", is_flag=True, help="Create and seed the demo, then stop.")
def demo(host: str, port: int, folder: str, no_serve: bool) -> None:
    """A fresh SQLite demo with a believable organisation; prints how to sign in."""
    from trim import demo as demo_mod

    demo_mod.run_demo(Path(folder), host=host, port=port, serve=not no_serve)


# -- database -------------------------------------------------------------------


@main.command()
def doctor() -> None:
    """Check settings, the database and its revision, the keys, the anchors file and the mail
    server; say what is wrong in plain words (exit 1 if anything is)."""
    from trim.metrics.doctor import Finding, diagnose

    try:
        settings = load_settings()
    except SettingsError as exc:
        click.echo(Finding("settings", False, str(exc)).line())
        sys.exit(1)
    findings = asyncio.run(diagnose(settings))
    for finding in findings:
        click.echo(finding.line())
    failed = [f for f in findings if not f.ok]
    if failed:
        click.echo(f"{len(failed)} problem(s) found.", err=True)
        sys.exit(1)
    click.echo("Everything checked is in order.")


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from trim.migrations import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database upgraded to {revision}")


@db.command("current")
def db_current() -> None:
    """Show the database's revision and the code's."""
    from trim.db import create_engine
    from trim.migrations import current_revisions, head_revisions

    settings = _settings()

    async def current() -> set[str]:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            return await current_revisions(engine)
        finally:
            await engine.dispose()

    have = asyncio.run(current())
    want = head_revisions()
    click.echo(f"database: {', '.join(sorted(have)) or 'empty'}")
    click.echo(f"code:     {', '.join(sorted(want))}")
    click.echo("up to date" if have == want else "behind: run `trim db upgrade`")


# -- people -----------------------------------------------------------------------


@main.group()
def users() -> None:
    """People and passwords."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--staff-number", required=True)
@click.option("--roles", default="responder", show_default=True, help=f"Separated by ';' from: {', '.join(ROLES)}")
@click.option("--station", default="", help="Station name (created if new).")
@click.option("--password/--no-password", default=False, help="Ask for a password (prompt or first line of stdin).")
def users_create(email: str, name: str, staff_number: str, roles: str, station: str, password: bool) -> None:
    """Add a person."""
    from trim.accounts import service
    from trim.accounts.actor import SYSTEM
    from trim.accounts.passwords import hash_password
    from trim.accounts.rules import parse_roles, privileged
    from trim.db import utcnow
    from trim.errors import InvalidInput

    settings = _settings()
    known, unknown = parse_roles(roles)
    if unknown:
        raise click.ClickException(f"unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    secret = _read_password() if password else None

    async def work(session: Any) -> str:
        station_id = None
        if station.strip():
            found = await service.station_by_name(session, station)
            found = found or await service.create_station(session, actor=SYSTEM, name=station)
            station_id = found.id
        if secret:
            _check_password(secret, settings, user_inputs=(name, email))
        hashed = await hash_password(secret, profile=settings.argon2_profile) if secret else None
        person = await service.create_person(
            session,
            actor=SYSTEM,
            data=service.PersonInput(staff_number, name, email, station_id, known or ["responder"]),
            password_hash=hashed,
            now=utcnow(),
        )
        return str(person.id)

    try:
        person_id = _in_session(settings, work)
    except InvalidInput as exc:
        raise click.ClickException(_explain(exc)) from None
    click.echo(f"created {email} ({person_id})")
    if privileged(known):
        click.echo(f"a role with wider access ({', '.join(privileged(known))}): every programme lead has been told")


def _check_password(password: str, settings: Settings, *, user_inputs: tuple[str, ...] = ()) -> None:
    from trim.accounts.rules import password_problem

    problem = password_problem(password, min_length=settings.password_min_length, user_inputs=user_inputs)
    if problem:
        raise click.ClickException(problem)


def _explain(exc: Any) -> str:
    if getattr(exc, "errors", None):
        return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return str(exc.detail)


@users.command("set-password")
@click.argument("email")
def users_set_password(email: str) -> None:
    """Set EMAIL's password (from a prompt, or the first line of standard input)."""
    from trim.accounts import service
    from trim.accounts.actor import SYSTEM
    from trim.accounts.passwords import hash_password
    from trim.db import utcnow

    settings = _settings()
    secret = _read_password()
    _check_password(secret, settings)

    async def work(session: Any) -> None:
        person = await service.person_by_email(session, email)
        if person is None:
            raise click.ClickException(f"nobody has the email {email}")
        _check_password(secret, settings, user_inputs=(person.name, person.email))
        hashed = await hash_password(secret, profile=settings.argon2_profile)
        now = utcnow()
        await service.set_password_hash(session, actor=SYSTEM, person_id=person.id, password_hash=hashed, now=now)
        await service.notify_account(
            session,
            person=person,
            subject="Your password was changed",
            body=(
                "The password of your peer support account was just set by an administrator, and every browser "
                "signed in to it was signed out. If you did not expect this, tell your programme lead now."
            ),
            link="/signin",
            now=now,
            settings=settings,
        )

    _in_session(settings, work)
    click.echo(f"password set for {email}; their other sessions were ended, and they have been told by email")


@users.command("unlink-sso")
@click.argument("email")
def users_unlink_sso(email: str) -> None:
    """Forget which account at the identity provider is EMAIL's (their organisation gave
    them a new one): their next single sign-on links again, by verified email."""
    from trim.accounts import service, sso_identities
    from trim.db import utcnow

    settings = _settings()

    async def work(session: Any) -> int:
        if await service.person_by_email(session, email) is None:
            raise click.ClickException(f"nobody has the email {email}")
        return await sso_identities.unlink(session, email=email, now=utcnow())

    removed = _in_session(settings, work)
    if removed:
        click.echo(f"unlinked {email} from their account at the identity provider")
    else:
        click.echo(f"{email} was not linked to an account at the identity provider")


# -- roster ---------------------------------------------------------------------


@main.group()
def roster() -> None:
    """Staff roster."""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--invite",
    is_flag=True,
    help="Email an invitation to choose a password to everyone imported who has none yet "
    "(not to those already holding a live one).",
)
def roster_import(file: str, invite: bool) -> None:
    """Create or update people by staff number from FILE.csv."""
    from rich.progress import Progress

    from trim.accounts.actor import SYSTEM
    from trim.accounts.roster import import_roster
    from trim.db import utcnow
    from trim.errors import InvalidInput
    from trim.groups import service as exposure_groups
    from trim.peers import service as peers

    settings = _settings()
    data = Path(file).read_bytes()

    with Progress(transient=False) as progress:
        task = progress.add_task("Importing", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        async def work(session: Any) -> Any:
            return await import_roster(
                session,
                actor=SYSTEM,
                data=data,
                now=utcnow(),
                settings=settings,
                on_progress=on_progress,
                invite=invite,
                record_course=peers.record_course,
                record_groups=exposure_groups.set_person_groups,
            )

        try:
            report = _in_session(settings, work)
        except InvalidInput as exc:
            raise click.ClickException(_explain(exc)) from None
    click.echo(
        f"{report.created} added, {report.updated} updated, {report.unchanged} unchanged"
        + (f"; stations added: {', '.join(report.stations_created)}" if report.stations_created else "")
        + (f"; {report.invited} invited (sent by `trim worker`)" if invite else "")
    )
    for grant in report.privileged:
        click.echo(grant.describe())
    if report.privileged:
        count = len(report.privileged)
        click.echo(f"{count} line(s) gave a role with wider access; every programme lead has been told")
    for line, name in report.email_changes:
        click.echo(f"line {line}: {name}, new email address waits for them to confirm it from that address")
    for problem in report.problems:
        click.echo(f"line {problem.line}: {problem.reason}", err=True)
    if report.problems:
        click.echo(f"{len(report.problems)} line(s) not imported; fix them and run again", err=True)
        sys.exit(1)


# -- integration tokens -----------------------------------------------------------


@main.group()
def tokens() -> None:
    """Bearer tokens for integrations."""


@tokens.command("create")
@click.option("--name", required=True, help="Recorded as who logged what the token posts.")
@click.option("--scope", "scopes", multiple=True, default=["incidents:write"], show_default=True)
def tokens_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token; it is shown once."""
    from trim.accounts import signin
    from trim.db import utcnow
    from trim.errors import InvalidInput

    settings = _settings()

    async def work(session: Any) -> str:
        _, secret = await signin.create_token(session, name=name, scopes=list(scopes), now=utcnow())
        return secret

    try:
        secret = _in_session(settings, work)
    except InvalidInput as exc:
        raise click.ClickException(_explain(exc)) from None
    click.echo(secret)
    click.echo("Keep it safe: it is not shown again. Send it as 'Authorization: Bearer <token>'.", err=True)


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke the token called NAME."""
    from trim.accounts import signin
    from trim.db import utcnow
    from trim.errors import NotFound

    settings = _settings()

    async def work(session: Any) -> None:
        await signin.revoke_token(session, name=name, now=utcnow())

    try:
        _in_session(settings, work)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"revoked {name}")


@tokens.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""
    from trim.accounts import signin

    settings = _settings()
    rows = _in_session(settings, signin.list_tokens)
    for token in rows:
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(f"{token.name}\t{token.scopes}\t{state}\tlast used {used}")


# -- keys and audit ----------------------------------------------------------------


@main.group(invoke_without_command=True)
@click.pass_context
def keys(ctx: click.Context) -> None:
    """Encryption keys: fingerprints, never the keys."""
    if ctx.invoked_subcommand is None:
        from trim.privacy.crypto import fingerprint

        settings = _settings()
        if not settings.encryption_keys:
            raise click.ClickException("TRIM_ENCRYPTION_KEYS is not set")
        for index, key in enumerate(settings.fernet_keys()):
            role = "encrypts and decrypts" if index == 0 else "decrypts only"
            click.echo(f"{index + 1}. {fingerprint(key)}  {role}")


@keys.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key (put it first in TRIM_ENCRYPTION_KEYS)."""
    from trim.privacy.crypto import generate_key

    click.echo(generate_key())


@keys.command("rotate")
@click.option("--batch", default=500, show_default=True)
def keys_rotate(batch: int) -> None:
    """Re-encrypt notes and messages under the first key (the app keeps serving)."""
    import trim.models  # noqa: F401
    from trim.db import create_engine, make_sessionmaker
    from trim.privacy.crypto import fingerprint
    from trim.records.keys import Rotation, rotate_until_current

    settings = _settings()
    if not settings.encryption_keys:
        raise click.ClickException("TRIM_ENCRYPTION_KEYS is not set")

    async def main_() -> Rotation:
        engine = create_engine(settings.database_url, pool_size=2)
        try:
            return await rotate_until_current(
                make_sessionmaker(engine),
                settings,
                batch=batch,
                on_progress=lambda name, n: click.echo(f"  {name}: {n} re-encrypted"),
            )
        finally:
            await engine.dispose()

    result = asyncio.run(main_())
    first = fingerprint(settings.fernet_keys()[0])
    click.echo(f"{sum(result.counts.values())} values re-encrypted under key {first}")
    if result.unreadable:
        raise click.ClickException(f"{result.unreadable} values open with no configured key: do not remove any key yet")
    if result.stale:
        raise click.ClickException(
            f"{result.stale} values are still not under key {first} after {result.passes} passes: some "
            "process still encrypts with an older key first. Restart every web process and worker with the "
            "new key first in TRIM_ENCRYPTION_KEYS, run `trim keys rotate` again, and keep every key until it "
            "gives the all-clear."
        )
    click.echo(f"Every value opens with key {first} alone: older keys can be removed from TRIM_ENCRYPTION_KEYS.")


@main.command()
@click.option("--dry-run", is_flag=True, help="Count what would be de-identified; change nothing.")
def purge(dry_run: bool) -> None:
    """De-identify cases closed longer ago than TRIM_RETENTION_DAYS (safe to run daily)."""
    from trim.db import utcnow
    from trim.records.retention import purge as run_purge

    settings = _settings()

    async def work(session: Any) -> Any:
        return await run_purge(session, now=utcnow(), settings=settings, dry_run=dry_run)

    report = _in_session(settings, work)
    verb = "would be de-identified" if dry_run else "de-identified"
    click.echo(
        f"{report.exposures} case(s), {report.requests} request(s), {report.flags} other flag(s) {verb}; "
        f"{report.incidents_summarised} incident summaries removed, {report.briefing_attendance} briefing "
        f"attendance(s) de-identified (retention {settings.retention_days} days)"
    )
    expired = ", ".join(f"{table} {n}" for table, n in report.expired.items() if n)
    if expired:
        click.echo(f"past their own lifetime, removed: {expired}")


@main.command()
@click.option("--quarter", help="A quarter, YYYYQn (default: the last whole one).")
@click.option("--from", "from_month", help="Or the first month of a range, YYYY-MM.")
@click.option("--to", "to_month", help="And its last month, YYYY-MM (included).")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, writable=True), help="Write the PDF here.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True), help="Write the CSV here.")
def report(
    quarter: str | None, from_month: str | None, to_month: str | None, pdf_path: str | None, csv_path: str | None
) -> None:
    """The board's quarterly report (small cells suppressed), as PDF and/or CSV."""
    from trim.db import utcnow
    from trim.errors import InvalidInput
    from trim.reports import service as reports
    from trim.reports import views

    if not pdf_path and not csv_path:
        raise click.UsageError("give --pdf FILE and/or --csv FILE")
    settings = _settings()
    now = utcnow()
    try:
        period = reports.period_of(
            quarter=quarter, from_month=from_month, to_month=to_month, now=now, settings=settings
        )
    except InvalidInput as exc:
        raise click.UsageError(exc.detail) from None

    async def work(session: Any) -> Any:
        return await reports.operator_report(session, period=period, now=now, settings=settings)

    found = _in_session(settings, work)
    if csv_path:
        Path(csv_path).write_text(reports.as_csv(found), encoding="utf-8")
        click.echo(f"CSV written to {csv_path}")
    if pdf_path:
        html = views.print_document(found, organisation=settings.organisation_name)
        Path(pdf_path).write_bytes(reports.as_pdf(html, base_url=str(views.ROOT)))
        click.echo(f"PDF written to {pdf_path} ({found.title}, cells under {found.k} suppressed)")


@main.group()
def dashboard() -> None:
    """The lead's dashboard."""


@dashboard.command("rebuild")
@click.option("--from", "first", required=True, help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, help="Last local day, YYYY-MM-DD (included).")
def dashboard_rebuild(first: str, last: str) -> None:
    """Rebuild the dashboard's rollups of incidents on these days from the records."""
    from datetime import date

    from trim.dashboard import rollups

    settings = _settings()
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise click.BadParameter("Give dates as YYYY-MM-DD.") from None
    if end < start:
        raise click.BadParameter("--to must not be before --from.")

    async def work(session: Any) -> int:
        return await rollups.rebuild_range(session, first=start, last=end, settings=settings)

    click.echo(f"{_in_session(settings, work)} incident(s) rebuilt from {start} to {end}")


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.option(
    "--anchors",
    "anchor_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Anchor file to check against (default TRIM_AUDIT_ANCHOR_FILE); a copy kept off the database host is best.",
)
def audit_verify(anchor_file: Path | None) -> None:
    """Check the sealed chain and every anchor; name the first place that does not hold."""
    from trim.privacy import audit as audit_chain
    from trim.privacy import sealing

    settings = _settings()
    try:
        keys = audit_chain.keyring(settings)
    except audit_chain.NoAuditKey as exc:
        raise click.ClickException(str(exc)) from None
    path = anchor_file or settings.audit_anchor_file
    if anchor_file is not None and not path.exists():
        raise click.ClickException(f"no anchor file at {path}")
    anchors, problems = (
        sealing.read_anchors(path.read_text(encoding="utf-8").splitlines()) if path.exists() else ([], [])
    )

    async def work(session: Any) -> tuple[Any, list[Any], int]:
        report = await audit_chain.verify_chain(session, keys=keys)
        found, good = await sealing.check_anchors(session, anchors, head_seq=await sealing.max_seq(session))
        return report, found, good

    report, anchor_problems, good = _in_session(settings, work)
    problems = [*problems, *anchor_problems]
    waiting = f"; {report.unsealed} event(s) await sealing by the worker" if report.unsealed else ""
    if report.ok and not problems:
        if anchors:
            click.echo(f"audit chain intact: {report.checked} events verified, {good} anchor(s) held{waiting}")
        else:
            click.echo(f"audit chain intact: {report.checked} events verified{waiting}")
            click.echo(f"no anchors at {path}: a deleted tail could not be detected", err=True)
        return
    if not report.ok:
        click.echo(
            f"audit chain BROKEN at event {report.broken_seq}: {report.reason} "
            f"({report.checked} events before it verified)",
            err=True,
        )
    for problem in problems[:20]:
        click.echo(f"audit chain BROKEN at {problem}", err=True)
    if len(problems) > 20:
        click.echo(f"... and {len(problems) - 20} more anchor(s) that do not hold", err=True)
    if waiting:
        click.echo(waiting.lstrip("; "), err=True)
    sys.exit(1)


@audit.command("seal")
def audit_seal() -> None:
    """Seal every event that may be sealed now, and write an anchor (the worker does this itself)."""
    import trim.models  # noqa: F401
    from trim.db import create_engine, make_sessionmaker, utcnow
    from trim.privacy import audit as audit_chain
    from trim.privacy import sealing

    settings = _settings()

    async def main_() -> int:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            return await sealing.seal_all(make_sessionmaker(engine), settings=settings, now=utcnow())
        finally:
            await engine.dispose()

    try:
        sealed = asyncio.run(main_())
    except audit_chain.NoAuditKey as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{sealed} event(s) sealed")


@audit.command("keys")
def audit_keys() -> None:
    """The audit keys' ids (never the keys): the one that seals, and those that only verify."""
    from trim.privacy import audit as audit_chain

    settings = _settings()
    try:
        keys = audit_chain.keyring(settings)
    except audit_chain.NoAuditKey as exc:
        raise click.ClickException(str(exc)) from None
    source = "TRIM_AUDIT_KEY" if settings.audit_key is not None else "derived from TRIM_SECRET_KEY"
    click.echo(f"{keys.current_id}  seals new events ({source})")
    for older in keys.older:
        if audit_chain.key_id(older) != keys.current_id:
            click.echo(f"{audit_chain.key_id(older)}  verifies older events only")


if __name__ == "__main__":  # pragma: no cover
    main()
