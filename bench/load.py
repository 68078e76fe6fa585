"""Load and faults: 50 peers recording check-ins and loading their lists.

    uv run python bench/load.py [--seconds 60] [--peers 50] [--restart-at 25]

Runs the app with 2 worker processes on 127.0.0.1 against a fresh PostgreSQL
database; 50 simulated peers (each signed in) loop: load "my check-ins", record
the next one with an Idempotency-Key, retrying the same key on any error until it
is acknowledged. A bare endpoint doing one INSERT through the same pool runs in
the same run for comparison. With --restart-at N, PostgreSQL is restarted N
seconds in (pg_ctlcluster restart): afterwards every acknowledged check-in must be
in the database exactly once and the app must answer without being restarted.

A `trim worker` runs beside the app throughout (through the restart too) and seals the
audit chain: after the run every acknowledged check-in must also have exactly one sealed
`checkin.recorded` event, and the chain must verify.

Restarting PostgreSQL drops every connection on the machine. On a shared machine, give
the run a cluster of its own: `--pg-data DIR` (with TRIM_TEST_DATABASE_URL pointing at
it) restarts that one with pg_ctl instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common import bench_database, machine, percentiles
from serve import SECRET, bench_env, free_port
from sqlalchemy import text

import trim.models  # noqa: F401
from trim.accounts import service as accounts
from trim.accounts.actor import SYSTEM, Actor
from trim.accounts.passwords import hash_password_sync
from trim.config import load_settings
from trim.db import create_engine, make_sessionmaker
from trim.incidents import service as incidents

PASSWORD = "bench-password-long-enough"
ANSWERS: dict[str, dict[str, bool]] = {}


async def seed(url: str, peers: int, per_peer: int = 40) -> None:
    settings = load_settings(database_url=url, secret_key="x" * 40,
                             encryption_keys=["Q2hhbmdlIG1lOiB0aGlzIGlzIGEgdGVzdCBrZXkgISE="])
    engine = create_engine(url)
    hashed = hash_password_sync(PASSWORD, profile="cheapest")
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await session.exec(text("CREATE TABLE bench_rows (id uuid PRIMARY KEY, at timestamptz DEFAULT now())"))
        stations = [await accounts.create_station(session, actor=SYSTEM, name=f"S{i}") for i in range(6)]
        lead = await accounts.create_person(session, actor=SYSTEM, data=accounts.PersonInput(
            "L0", "Lead", "lead@bench.example", stations[0].id, ["lead"]))
        for i in range(peers):
            await accounts.create_person(session, actor=SYSTEM, password_hash=hashed, data=accounts.PersonInput(
                f"P{i}", f"Peer {i}", f"p{i}@bench.example", stations[i % 6].id, ["responder", "peer"]))
        people = []
        for i in range(peers * per_peer):
            people.append(await accounts.create_person(session, actor=SYSTEM, data=accounts.PersonInput(
                f"R{i}", f"Responder {i}", f"r{i}@bench.example", stations[i % 6].id, ["responder"])))
        await session.commit()
    actor = Actor(id=lead.id, name="Lead", roles=frozenset({"lead"}))
    now = datetime.now(UTC)
    for start in range(0, len(people), 40):
        async with maker() as session:
            await incidents.log_incident(session, actor=actor, now=now - timedelta(days=30), settings=settings,
                                         data=incidents.IncidentInput(
                                             occurred_at=now - timedelta(days=30), kind="mass_casualty",
                                             station_id=stations[start % 6].id, summary="Load",
                                             exposures=[incidents.ExposureRef("direct", p.id)
                                                        for p in people[start:start + 40]]))
            await session.commit()
    await engine.dispose()
    from trim.assessments import instruments as catalogue

    for kind in ("day3", "day28"):
        ANSWERS[kind] = {}
        for inst in catalogue.offered_at(catalogue.load(), kind):
            ANSWERS.setdefault(kind, {})[inst.id] = {i.id: False for i in inst.items}  # type: ignore[assignment]


class Stats:
    def __init__(self) -> None:
        self.record: list[float] = []
        self.lists: list[float] = []
        self.bare: list[float] = []
        self.errors: dict[str, int] = {}
        self.acked: dict[str, str] = {}  # check-in id -> assessment id

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def peer_loop(base: str, index: int, until: float, stats: Stats) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        while True:
            try:
                r = await http.post("/api/session", json={"email": f"p{index}@bench.example", "password": PASSWORD})
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
        http.headers["x-csrftoken"] = http.cookies["csrftoken"]
        done: set[str] = set()
        while time.perf_counter() < until:
            start = time.perf_counter()
            try:
                r = await http.get("/api/checkins", params={"status": "due,overdue", "limit": 20})
            except httpx.HTTPError as exc:
                stats.error(f"list {type(exc).__name__}")
                await asyncio.sleep(0.2)
                continue
            if r.status_code != 200:
                stats.error(f"list {r.status_code}")
                await asyncio.sleep(0.2)
                continue
            stats.lists.append(time.perf_counter() - start)
            todo = [c for c in r.json() if c["id"] not in done]
            if not todo:
                return
            checkin = todo[0]
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, checkin["id"]))
            body = {"outcome": "completed", "answers": ANSWERS[checkin["kind"]], "safety_concern": False}
            while True:  # the same key until acknowledged: never lost, never doubled
                start = time.perf_counter()
                try:
                    rr = await http.post(f"/api/checkins/{checkin['id']}/record", json=body,
                                         headers={"Idempotency-Key": key})
                except httpx.HTTPError as exc:
                    stats.error(f"record {type(exc).__name__}")
                    await asyncio.sleep(0.2)
                    continue
                if rr.status_code == 201:
                    stats.record.append(time.perf_counter() - start)
                    stats.acked[checkin["id"]] = rr.json()["id"]
                    break
                stats.error(f"record {rr.status_code}")
                if rr.status_code < 500:
                    break
                await asyncio.sleep(0.2)
            done.add(checkin["id"])


async def bare_loop(base: str, until: float, stats: Stats) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        while time.perf_counter() < until:
            start = time.perf_counter()
            try:
                r = await http.post("/bench/insert")
                if r.status_code == 201:
                    stats.bare.append(time.perf_counter() - start)
                else:
                    stats.error(f"bare {r.status_code}")
            except httpx.HTTPError as exc:
                stats.error(f"bare {type(exc).__name__}")
                await asyncio.sleep(0.2)


async def restart_postgres(after: float, log: list[str], pg_data: str | None = None) -> None:
    await asyncio.sleep(after)
    cluster = sorted(os.listdir("/etc/postgresql"))[0]
    t = time.perf_counter()
    if pg_data:
        command = ["runuser", "-u", "postgres", "--", f"/usr/lib/postgresql/{cluster}/bin/pg_ctl", "-D", pg_data,
                   "-m", "fast", "-w", "restart"]
    else:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
    await proc.wait()
    log.append(f"PostgreSQL restarted {after:.0f} s in (took {time.perf_counter() - t:.1f} s)")


def summary(name: str, samples: list[float], seconds: float) -> str:
    if not samples:
        return f"| {name} | 0 | - | - | - |"
    p = percentiles(samples)
    return (f"| {name} | {len(samples) / seconds:.0f}/s | {p['p50'] * 1000:.0f} ms | {p['p95'] * 1000:.0f} ms | "
            f"{p['p99'] * 1000:.0f} ms |")


async def audit_after(url: str, acked: dict[str, str]) -> tuple[str, list[str]]:
    """Wait for the worker to seal, then: does every acknowledged check-in have one sealed event?"""
    from trim.privacy import audit

    engine = create_engine(url)
    try:
        unsealed = -1
        for _ in range(120):
            async with engine.connect() as conn:
                unsealed = int((await conn.execute(text(
                    "SELECT count(*) FROM audit_events WHERE seq IS NULL"))).scalar_one())
            if unsealed == 0:
                break
            await asyncio.sleep(1)
        async with engine.connect() as conn:
            events = dict((await conn.execute(text(
                "SELECT target_id, count(*) FROM audit_events WHERE action = 'checkin.recorded' "
                "AND seq IS NOT NULL GROUP BY target_id"))).all())
        settings = load_settings(database_url=url, secret_key=SECRET)
        async with make_sessionmaker(engine)() as session:
            report = await audit.verify_chain(session, keys=audit.keyring(settings))
    finally:
        await engine.dispose()
    without = [c for c in acked if c not in events]
    twice = [c for c, n in events.items() if n > 1]
    chain = (f"intact ({report.checked} events)" if report.ok
             else f"BROKEN at event {report.broken_seq}: {report.reason}")
    line = (f"Audit, after the worker sealed: acknowledged check-ins without their sealed `checkin.recorded` "
            f"event: {len(without)}; with two: {len(twice)}; events still unsealed: {unsealed}; chain {chain}.")
    return line, without


async def run(url: str, base: str, peers: int, seconds: float, restart_at: float | None,
              pg_data: str | None = None) -> str:
    stats = Stats()
    log: list[str] = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    tasks = [peer_loop(base, i, until, stats) for i in range(peers)] + [bare_loop(base, until, stats)]
    if restart_at is not None:
        tasks.append(restart_postgres(restart_at, log, pg_data))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    async with httpx.AsyncClient(base_url=base) as http:
        healthy = (await http.get("/health")).json()
    engine = create_engine(url)
    async with engine.connect() as conn:
        per_checkin = dict((await conn.execute(text(
            "SELECT checkin_id::text, count(*) FROM assessments GROUP BY checkin_id"))).all())
    await engine.dispose()
    audit_line, _ = await audit_after(url, stats.acked)
    missing = [c for c in stats.acked if c not in per_checkin]
    doubled = [c for c, n in per_checkin.items() if n > 1]
    rec = percentiles(stats.record) if stats.record else {"p50": 0.0}
    bare = percentiles(stats.bare) if stats.bare else {"p50": 0.0}
    ratio = rec["p50"] / bare["p50"] if bare["p50"] else float("nan")
    lines = [
        f"{peers} peers for {elapsed:.0f} s" + (f", PostgreSQL restarted at {restart_at:.0f} s" if restart_at else ""),
        "",
        "| route | throughput | p50 | p95 | p99 |",
        "|---|---|---|---|---|",
        summary("record a check-in (POST /api/checkins/{id}/record)", stats.record, elapsed),
        summary("my check-ins (GET /api/checkins?status=due,overdue)", stats.lists, elapsed),
        summary("bare INSERT through the same pool (POST /bench/insert)", stats.bare, elapsed),
        "",
        f"Recording a check-in takes {ratio:.1f}x the bare INSERT at the median (p50).",
        f"Errors seen by clients (then retried with the same key): {stats.errors or 'none'}",
        f"Acknowledged check-ins: {len(stats.acked)}; missing from the database: {len(missing)}; "
        f"recorded twice: {len(doubled)}. Health afterwards, without restarting the app: {healthy}.",
        audit_line,
        *log,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--peers", type=int, default=50)
    parser.add_argument("--restart-at", type=float, default=None)
    parser.add_argument("--report", default="load.md")
    parser.add_argument("--pg-data", default=None, help="restart this cluster (pg_ctl -D) instead of the machine's")
    args = parser.parse_args()
    with bench_database("trim_bench_load") as url:
        asyncio.run(seed(url, args.peers))
        port = free_port()
        env = bench_env(url)
        env["PYTHONPATH"] = str(Path(__file__).parent) + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "load_app:create", "--host",
                                 "127.0.0.1", "--port", str(port), "--workers", "2", "--no-access-log",
                                 "--log-level", "warning"], env=env, cwd=Path(__file__).parent)
        base = f"http://127.0.0.1:{port}"
        wenv = dict(env, TRIM_WORKER_POLL_SECONDS="1",
                    TRIM_AUDIT_ANCHOR_FILE=str(Path(tempfile.mkdtemp(prefix="trim-load-")) / "anchors.jsonl"))
        worker = subprocess.Popen([sys.executable, "-m", "trim.cli", "worker"], env=wenv,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            result = asyncio.run(run(url, base, args.peers, args.seconds, args.restart_at, args.pg_data))
        finally:
            for p in (proc, worker):
                p.terminate()
            for p in (proc, worker):
                p.wait(timeout=15)
    command = f"uv run python bench/load.py --seconds {args.seconds:.0f} --peers {args.peers}" + (
        f" --restart-at {args.restart_at:.0f}" if args.restart_at else "") + (
        f" --pg-data {args.pg_data}" if args.pg_data else "")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    report = Path(__file__).parent / "results" / args.report
    report.write_text(f"# Load{' and faults' if args.restart_at else ''}\n\nMachine: {machine()}\n\n"
                      f"Command: `{command} --report {args.report}` (commit {commit}; load average at the end "
                      f"{os.getloadavg()[0]:.2f})\n\n{result}\n")
    print(report.read_text())


if __name__ == "__main__":
    main()
