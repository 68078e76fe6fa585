"""`trim demo`: a fresh embedded database with a believable organisation."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from trim.config import Settings, load_settings

DEMO_PASSWORD = "quiet-harbour-lantern"
DOMAIN = "demo.trim.example"

STATIONS = [
    "Northgate Fire Station",
    "Riverside Ambulance Station",
    "Eastfield Police Station",
    "County Control Room",
]
FIRST = [
    "Aisha",
    "Ben",
    "Carys",
    "Dev",
    "Elena",
    "Femi",
    "Grace",
    "Harvey",
    "Imogen",
    "Jamal",
    "Kasia",
    "Liam",
    "Maya",
    "Niall",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tess",
    "Umar",
    "Vera",
    "Wes",
    "Yusuf",
    "Zoe",
    "Alfie",
    "Bea",
    "Cormac",
    "Dina",
    "Ewan",
    "Farah",
    "Gethin",
    "Hana",
    "Isaac",
    "Jo",
    "Kieran",
    "Lena",
    "Marek",
    "Nadia",
    "Owen",
    "Pippa",
    "Rhys",
    "Sian",
    "Tom",
]
LAST = [
    "Adebayo",
    "Bennett",
    "Chowdhury",
    "Davies",
    "Evans",
    "Fraser",
    "Gallagher",
    "Hughes",
    "Iqbal",
    "Jones",
    "Kowalski",
    "Lewis",
    "Murphy",
    "Nowak",
    "O'Brien",
    "Patel",
    "Quinn",
    "Roberts",
    "Singh",
    "Thomas",
    "Usman",
    "Varga",
    "Williams",
    "Young",
    "Zielinski",
    "Ahmed",
    "Byrne",
    "Campbell",
    "Doyle",
    "Ellis",
]


@dataclass
class Cast:
    """The seeded people, by role, for the areas' own seed steps."""

    stations: list[Any] = field(default_factory=list)
    responders: list[Any] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    lead: Any = None
    clinician: Any = None
    supervisor: Any = None
    admin: Any = None
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # role label, name, email


async def seed_people(session: Any, *, settings: Settings, now: datetime, rng: random.Random) -> Cast:
    from trim.accounts import service
    from trim.accounts.actor import SYSTEM
    from trim.accounts.passwords import hash_password

    cast = Cast()
    password_hash = await hash_password(DEMO_PASSWORD, profile=settings.argon2_profile)
    for name in STATIONS:
        cast.stations.append(await service.create_station(session, actor=SYSTEM, name=name))
    used: set[str] = set()

    def person_name() -> str:
        while True:
            candidate = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if candidate not in used:
                used.add(candidate)
                return candidate

    counter = iter(range(1001, 10000))

    async def add(
        roles: list[str],
        station: Any,
        *,
        email: str | None = None,
        name: str | None = None,
        background: str | None = None,
    ) -> Any:
        full = name or person_name()
        number = next(counter)
        address = email or f"{full.lower().replace(' ', '.').replace(chr(39), '')}@{DOMAIN}"
        return await service.create_person(
            session,
            actor=SYSTEM,
            data=service.PersonInput(
                f"S{number}",
                full,
                address,
                station.id if station else None,
                roles,
                background,
                # Ofcom's range for drama (020 7946 0000-0999): tap-to-call works, rings nobody.
                phone=f"+44 20 7946 0{number % 1000:03d}",
            ),
            password_hash=password_hash,
            now=now,
        )

    backgrounds = [
        "fire, 18 years",
        "ambulance paramedic, 12 years",
        "police response, 9 years",
        "control room, 15 years",
        "fire, 6 years",
        "ambulance technician, 20 years",
    ]
    for i in range(6):
        station = cast.stations[i % len(cast.stations)]
        email = f"peer{i + 1}@{DOMAIN}"
        cast.peers.append(await add(["responder", "peer"], station, email=email, background=backgrounds[i]))
    for i in range(40):
        cast.responders.append(
            await add(
                ["responder"],
                cast.stations[i % len(cast.stations)],
                email=f"responder{i + 1}@{DOMAIN}" if i < 3 else None,
            )
        )
    cast.lead = await add(["lead", "responder"], cast.stations[0], email=f"lead@{DOMAIN}", name="Morgan Ellery")
    cast.clinician = await add(["clinician"], None, email=f"clinician@{DOMAIN}", name="Dr Ruth Okafor")
    cast.supervisor = await add(
        ["supervisor", "responder"], cast.stations[0], email=f"supervisor@{DOMAIN}", name="Watch Manager Dan Pryce"
    )
    cast.admin = await add(["admin"], None, email=f"admin@{DOMAIN}", name="Sam Admin")
    cast.logins = [
        ("Programme lead", cast.lead.name, cast.lead.email),
        ("Peer supporter", cast.peers[0].name, cast.peers[0].email),
        ("Peer supporter", cast.peers[1].name, cast.peers[1].email),
        ("Responder", cast.responders[0].name, cast.responders[0].email),
        ("Supervisor", cast.supervisor.name, cast.supervisor.email),
        ("Clinician", cast.clinician.name, cast.clinician.email),
        ("Administrator", cast.admin.name, cast.admin.email),
    ]
    return cast


async def seed_demo(session: Any, *, settings: Settings, now: datetime, seed: int = 2026) -> Cast:
    """Everything the demo shows. Areas add their own steps after the people."""
    rng = random.Random(seed)
    cast = await seed_people(session, settings=settings, now=now, rng=rng)
    for step in _seed_steps():
        await step(session, settings=settings, now=now, cast=cast, rng=rng)
    return cast


def _seed_steps() -> list[Any]:
    """Area seed steps, in order: async (session, *, settings, now, cast, rng) -> None."""
    from trim.demo_checkins import seed_checkins, seed_history, seed_history_support

    return [seed_history, seed_history_support, seed_checkins, seed_groups]


async def seed_groups(session: Any, *, settings: Settings, now: datetime, cast: Cast, rng: random.Random) -> None:
    """A high-exposure group (design section 14): the control room, seen every 90 days. The
    demo responder is in it, so their check-ins list shows a periodic check-in; the peers
    have one to record."""
    from trim.accounts.actor import Actor
    from trim.followups.periodic import sweep_periodic
    from trim.groups import service as groups

    lead = Actor(id=cast.lead.id, name=cast.lead.name, email=cast.lead.email, roles=frozenset({"lead", "responder"}))
    control_room = await groups.define_group(session, actor=lead, name="Control room", cadence_days=90, now=now)
    await groups.define_group(session, actor=lead, name="Crime scene investigators", cadence_days=180, now=now)
    members = [cast.responders[0].id, *(r.id for r in rng.sample(cast.responders[3:], 5))]
    await groups.set_members(session, actor=lead, group_id=control_room.id, person_ids=members, now=now)
    await session.flush()
    await sweep_periodic(session, now=now, settings=settings)


async def peers_with_checkins_due(
    session: Any, *, settings: Settings, now: datetime
) -> list[tuple[str, str, int, int]]:
    """(name, email, due, overdue) for each peer with open check-ins due or overdue now."""
    from sqlmodel import col, select

    from trim.accounts.models import Person
    from trim.followups.models import CheckIn, CheckInStatus
    from trim.followups.rules import checkin_status

    rows = await session.exec(
        select(CheckIn.due_at, Person.name, Person.email)
        .join(Person, col(Person.id) == col(CheckIn.peer_id))
        .where(col(CheckIn.outcome).is_(None))
    )
    counts: dict[tuple[str, str], list[int]] = {}
    for due_at, name, email in rows:
        status = checkin_status(due_at=due_at, outcome=None, now=now, window=settings.due_window)
        if status in (CheckInStatus.due, CheckInStatus.overdue):
            tally = counts.setdefault((name, email), [0, 0])
            tally[status == CheckInStatus.overdue] += 1
    return sorted((name, email, d, o) for (name, email), (d, o) in counts.items())


def demo_settings(folder: Path, host: str, port: int) -> Settings:
    from trim.privacy.crypto import generate_key

    folder.mkdir(parents=True, exist_ok=True)
    keys_file = folder / "demo-keys.env"
    if not keys_file.exists():
        import secrets

        keys_file.write_text(
            f'TRIM_SECRET_KEY={secrets.token_urlsafe(48)}\nTRIM_ENCRYPTION_KEYS=["{generate_key()}"]\n'
        )
        keys_file.chmod(0o600)
    values = dict(line.split("=", 1) for line in keys_file.read_text().splitlines() if "=" in line)
    import json

    return load_settings(
        environment="demo",
        database_url=f"sqlite+aiosqlite:///{(folder / 'trim.db').resolve()}",
        secret_key=values["TRIM_SECRET_KEY"],
        encryption_keys=json.loads(values["TRIM_ENCRYPTION_KEYS"]),
        cookie_secure=False,
        mfa_required_roles=[],
        base_url=f"http://{host}:{port}",
        optional_checkins_enabled=True,
        run_worker_in_app=True,
        organisation_name="Demo Fire & Rescue",
        audit_anchor_file=folder / "audit-anchors.jsonl",
        log_file=folder / "trim.log",
    )


def run_demo(folder: Path, *, host: str, port: int, serve: bool) -> None:
    import trim.models  # noqa: F401
    from trim.db import create_engine, make_sessionmaker, utcnow
    from trim.migrations import upgrade

    settings = demo_settings(folder, host, port)
    db_file = folder / "trim.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    click.echo(f"Creating a fresh demo database in {db_file} ...")
    upgrade(settings.database_url)

    async def seed() -> Cast:
        engine = create_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                cast = await seed_demo(session, settings=settings, now=utcnow())
                await session.commit()
                return cast
        finally:
            await engine.dispose()

    async def who_has_checkins_due() -> list[tuple[str, str, int, int]]:
        engine = create_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await peers_with_checkins_due(session, settings=settings, now=utcnow())
        finally:
            await engine.dispose()

    cast = asyncio.run(seed())
    due = asyncio.run(who_has_checkins_due())
    url = f"http://{host}:{port}"
    click.echo("")
    click.echo(f"trim demo: {url}")
    click.echo(f"Every demo account's password: {DEMO_PASSWORD}")
    click.echo("Second factor: not required in the demo (TRIM_MFA_REQUIRED_ROLES is empty).")
    width = max(len(label) for label, _, _ in cast.logins)
    for label, name, email in cast.logins:
        click.echo(f"  {label.ljust(width)}  {email}  ({name})")
    click.echo("Responders who can sign in too: " + ", ".join(r.email for r in cast.responders[:3]))
    if due:
        click.echo("Peers with check-ins waiting now (sign in as one to record them):")
        for name, email, n_due, n_overdue in due:
            click.echo(f"  {email}  ({name}): {n_due} due, {n_overdue} overdue")
    click.echo(f"The app's log (JSON lines) is written to {settings.log_file}, not to this terminal.")
    click.echo(f"Demo keys are in {folder / 'demo-keys.env'}; the demo serves plain http with secure cookies off.")
    if not serve:
        return
    import uvicorn

    from trim.app import create_app
    from trim.demo_mail import start_catcher

    mail_folder = folder / "mail"
    catcher, smtp_url = start_catcher(mail_folder)
    settings = settings.model_copy(update={"smtp_url": smtp_url})
    click.echo(f"Emails the demo sends are saved in {mail_folder}/ (one .eml file each).")
    click.echo("Press Ctrl+C to stop.")
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
    finally:
        catcher.stop()
