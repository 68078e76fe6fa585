"""Request-for-a-peer submission throughput on PostgreSQL, through the real server.

    uv run python bench/requests_throughput.py [--seconds 20] [--clients 40]

Starts `trim run --workers 2` on 127.0.0.1 against a fresh database, signs in
`clients` responders, and has each submit requests back to back for the given
time. Reports throughput and latency, and checks every acknowledged request is in
the database exactly once and visible at once to a matching peer.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import httpx
from common import bench_database, fmt_ms, machine, percentiles
from serve import bench_env, server
from sqlalchemy import text

import trim.models  # noqa: F401
from trim.accounts import service as accounts
from trim.accounts.actor import SYSTEM
from trim.accounts.passwords import hash_password_sync
from trim.db import create_engine, make_sessionmaker

PASSWORD = "bench-password-long-enough"


async def seed(url: str, clients: int) -> None:
    engine = create_engine(url)
    hashed = hash_password_sync(PASSWORD, profile="cheapest")
    async with make_sessionmaker(engine)() as session:
        stations = [await accounts.create_station(session, actor=SYSTEM, name=f"S{i}") for i in range(4)]
        for i in range(clients + 10):
            roles = ["responder", "peer"] if i >= clients else ["responder"]
            await accounts.create_person(
                session,
                actor=SYSTEM,
                password_hash=hashed,
                data=accounts.PersonInput(f"R{i}", f"Person {i}", f"r{i}@bench.example", stations[i % 4].id, roles),
            )
        await session.commit()
    await engine.dispose()


async def client_loop(
    base: str, index: int, until: float, latencies: list[float], acked: list[str], errors: list[str]
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        r = await http.post("/api/session", json={"email": f"r{index}@bench.example", "password": PASSWORD})
        r.raise_for_status()
        http.headers["x-csrftoken"] = http.cookies["csrftoken"]
        while time.perf_counter() < until:
            start = time.perf_counter()
            try:
                r = await http.post(
                    "/api/requests",
                    json={
                        "urgency": "this_week",
                        "contact_method": "phone",
                        "contact": "0770 900000",
                        "message": "bench",
                        "safety_concern": False,
                    },
                )
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - start)
            if r.status_code == 201:
                acked.append(r.json()["id"])
            else:
                errors.append(str(r.status_code))


async def run(base: str, url: str, clients: int, seconds: float) -> str:
    latencies: list[float] = []
    acked: list[str] = []
    errors: list[str] = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(client_loop(base, i, until, latencies, acked, errors) for i in range(clients)))
    elapsed = time.perf_counter() - started
    engine = create_engine(url)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*), count(DISTINCT id) FROM peer_requests"))).one()
    await engine.dispose()
    async with httpx.AsyncClient(base_url=base) as peer:
        await peer.post("/api/session", json={"email": f"r{clients}@bench.example", "password": PASSWORD})
        t = time.perf_counter()
        offered = len((await peer.get("/api/requests", params={"limit": 1000})).json())
        offered_ms = (time.perf_counter() - t) * 1000
    return (
        f"{clients} clients for {seconds:.0f} s: {len(acked)} requests acknowledged, "
        f"{len(acked) / elapsed:.0f} per second; {fmt_ms(percentiles(latencies))}; errors: {len(errors)}\n\n"
        f"Stored: {stored[0]} rows, {stored[1]} distinct (every acknowledged request once: "
        f"{stored[0] == stored[1] == len(acked)}). A matching peer's list showed {offered} open requests "
        f"(first page of up to 200) in {offered_ms:.0f} ms right after.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=40)
    args = parser.parse_args()
    with bench_database("trim_bench_requests") as url:
        asyncio.run(seed(url, args.clients))
        assert bench_env(url)
        with server(url, workers=2) as base:
            result = asyncio.run(run(base, url, args.clients, args.seconds))
    report = Path(__file__).parent / "results" / "requests_throughput.md"
    report.write_text(
        "# Asking for a peer: submission throughput\n\n"
        f"Machine: {machine()}\n\n"
        f"Command: `uv run python bench/requests_throughput.py --seconds {args.seconds:.0f} --clients {args.clients}`"
        "\n\n`trim run --workers 2` on 127.0.0.1 against PostgreSQL; each client is a signed-in responder posting "
        "`POST /api/requests` (message and contact encrypted, audit event chained) back to back.\n\n" + result
    )
    print(report.read_text())


if __name__ == "__main__":
    main()
