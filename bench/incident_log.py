"""Logging an incident with 200 exposed people: one transaction, well under a second.

    uv run python bench/incident_log.py

Seeds a PostgreSQL database with 400 people (20 of them peer supporters) and logs
twenty incidents of 200 people each through the real service (schedule, peer
assignment, cumulative-exposure check and audit included), timing each commit.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import bench_database, fmt_ms, machine, percentiles

import trim.models  # noqa: F401
from trim.accounts import service as accounts
from trim.accounts.actor import SYSTEM, Actor
from trim.config import load_settings
from trim.db import create_engine, make_sessionmaker
from trim.incidents import service as incidents

KEY = "Q2hhbmdlIG1lOiB0aGlzIGlzIGEgdGVzdCBrZXkgISE="


async def run(url: str) -> list[float]:
    settings = load_settings(database_url=url, secret_key="x" * 40, encryption_keys=[KEY])
    engine = create_engine(url)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        stations = [await accounts.create_station(session, actor=SYSTEM, name=f"Station {i}") for i in range(8)]
        people = []
        for i in range(400):
            roles = ["responder", "peer"] if i < 20 else ["responder"]
            people.append(
                await accounts.create_person(
                    session,
                    actor=SYSTEM,
                    data=accounts.PersonInput(
                        f"B{i:05d}", f"Person {i}", f"p{i}@bench.example", stations[i % 8].id, roles
                    ),
                )
            )
        lead = await accounts.create_person(
            session,
            actor=SYSTEM,
            data=accounts.PersonInput("LEAD", "Lead", "lead@bench.example", stations[0].id, ["lead"]),
        )
        await session.commit()
    actor = Actor(id=lead.id, name=lead.name, roles=frozenset({"lead"}))
    timings = []
    now = datetime.now(UTC)
    for round_ in range(20):
        chosen = people[20 + (round_ * 7) % 180 : 20 + (round_ * 7) % 180 + 200]
        chosen = (chosen + people[20:])[:200]
        async with maker() as session:
            start = time.perf_counter()
            await incidents.log_incident(
                session,
                actor=actor,
                now=now,
                settings=settings,
                data=incidents.IncidentInput(
                    occurred_at=now - timedelta(hours=round_),
                    kind="mass_casualty",
                    station_id=stations[round_ % 8].id,
                    summary="Bench",
                    exposures=[incidents.ExposureRef("direct", p.id) for p in chosen],
                ),
            )
            await session.commit()
            timings.append(time.perf_counter() - start)
    await engine.dispose()
    return timings


def main() -> None:
    with bench_database("trim_bench_incident") as url:
        timings = asyncio.run(run(url))
    stats = percentiles(timings)
    report = Path(__file__).parent / "results" / "incident_log.md"
    report.write_text(
        "# Logging an incident with 200 exposed people\n\n"
        f"Machine: {machine()}\n\n"
        "Command: `uv run python bench/incident_log.py`\n\n"
        "Each run logs one incident with 200 people through `incidents.log_incident` and commits: 400 check-ins "
        "scheduled and assigned, the cumulative-exposure rule checked for all 200, audit events chained, all in "
        "one transaction. 20 runs on a fresh PostgreSQL database with 400 people and 20 peer supporters.\n\n"
        f"Result: {fmt_ms(stats)}\n"
    )
    print(report.read_text())


if __name__ == "__main__":
    main()
