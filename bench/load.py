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

Mail: with --mail, a real SMTP server (aiosmtpd) listens on loopback, two `trim worker`s
send from the outbox, and the run writes --mail-rate emails a second into the outbox for
its whole length (the way a busy sweep would). --kill-worker-at N kills one worker with
SIGKILL N seconds in and starts a replacement (as an orchestrator would); --mail-outage-at
N stops the SMTP server for --mail-outage-seconds. After the run the outbox is given time
to drain; each email is then expected (a row in the outbox), delivered (its Message-ID
seen by the server), doubled (seen twice) or lost; the table says so per fault, by when
the email was written (in a fault's window, from its start to 10 s after its end).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
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
    settings = load_settings(
        database_url=url,
        secret_key="x" * 40,
        encryption_keys=["Q2hhbmdlIG1lOiB0aGlzIGlzIGEgdGVzdCBrZXkgISE="],
        # Every responder gets a peer: the default cap (8 open people each) would leave most
        # check-ins unassigned, and the benchmarks would run out of check-ins to record.
        peer_caseload_cap=500,
    )
    engine = create_engine(url)
    hashed = hash_password_sync(PASSWORD, profile="cheapest")
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await session.exec(text("CREATE TABLE bench_rows (id uuid PRIMARY KEY, at timestamptz DEFAULT now())"))
        stations = [await accounts.create_station(session, actor=SYSTEM, name=f"S{i}") for i in range(6)]
        lead = await accounts.create_person(
            session,
            actor=SYSTEM,
            data=accounts.PersonInput("L0", "Lead", "lead@bench.example", stations[0].id, ["lead"]),
        )
        for i in range(peers):
            await accounts.create_person(
                session,
                actor=SYSTEM,
                password_hash=hashed,
                data=accounts.PersonInput(
                    f"P{i}", f"Peer {i}", f"p{i}@bench.example", stations[i % 6].id, ["responder", "peer"]
                ),
            )
        people = []
        for i in range(peers * per_peer):
            people.append(
                await accounts.create_person(
                    session,
                    actor=SYSTEM,
                    data=accounts.PersonInput(
                        f"R{i}", f"Responder {i}", f"r{i}@bench.example", stations[i % 6].id, ["responder"]
                    ),
                )
            )
        await session.commit()
    actor = Actor(id=lead.id, name="Lead", roles=frozenset({"lead"}))
    now = datetime.now(UTC)
    for start in range(0, len(people), 40):
        async with maker() as session:
            await incidents.log_incident(
                session,
                actor=actor,
                now=now - timedelta(days=30),
                settings=settings,
                data=incidents.IncidentInput(
                    occurred_at=now - timedelta(days=30),
                    kind="mass_casualty",
                    station_id=stations[start % 6].id,
                    summary="Load",
                    exposures=[incidents.ExposureRef("direct", p.id) for p in people[start : start + 40]],
                ),
            )
            await session.commit()
    await engine.dispose()
    from trim.assessments import instruments as catalogue

    for kind in ("day3", "day28"):
        ANSWERS[kind] = {}
        for inst in catalogue.offered_at(catalogue.load(), kind):
            ANSWERS.setdefault(kind, {})[inst.id] = {i.id: False for i in inst.items}  # type: ignore[assignment]


class Sink:
    """The SMTP server: counts each Message-ID it accepts; can be stopped and started."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: dict[str, int] = {}
        self.controller: Controller | None = None

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        parsed = email.message_from_bytes(envelope.content)  # type: ignore[attr-defined]
        message_id = str(parsed.get("Message-ID", "")).strip().strip("<>").split("@")[0].replace("-", "")
        self.seen[message_id] = self.seen.get(message_id, 0) + 1
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class Workers:
    """The `trim worker` processes; one can be killed and replaced mid-run."""

    def __init__(self, env: dict[str, str], count: int) -> None:
        self.env = env
        self.procs = [self._start() for _ in range(count)]

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "trim.cli", "worker"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill_one(self) -> None:
        victim = self.procs.pop(0)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.procs.append(self._start())

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=15)


FAULT_TAIL = 10.0  # seconds after a fault ends that still count as its window


async def kill_worker(
    after: float, workers: Workers, log: list[str], faults: list[tuple[str, float, float]], origin: float
) -> None:
    await asyncio.sleep(after)
    at = time.perf_counter() - origin
    workers.kill_one()
    faults.append(("worker killed (SIGKILL), replaced", at, at))
    log.append(f"A mail worker was killed with SIGKILL {at:.0f} s in and a replacement started.")


async def mail_outage(
    after: float, seconds: float, sink: Sink, log: list[str], faults: list[tuple[str, float, float]], origin: float
) -> None:
    await asyncio.sleep(after)
    at = time.perf_counter() - origin
    await asyncio.to_thread(sink.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(sink.start)
    faults.append((f"mail server down for {seconds:.0f} s", at, at + seconds))
    log.append(f"The mail server was down from {at:.0f} s to {at + seconds:.0f} s.")


async def write_mail(url: str, rate: float, until: float, origin: float, written: dict[str, float]) -> None:
    """`rate` emails a second into the outbox, through the app's own enqueue."""
    from trim.notifications import service as notifications

    engine = create_engine(url, pool_size=1)
    maker = make_sessionmaker(engine)
    n = 0
    try:
        while time.perf_counter() < until:
            tick = time.perf_counter()
            try:
                async with maker() as session:
                    message = notifications.Message(
                        "request_new",
                        "Someone asks for a peer",
                        "Open trim to see the request.",
                        None,
                        f"r{n % 2000}@bench.example",
                        "/requests",
                        False,
                        f"load:{n}",
                    )
                    await notifications.enqueue_many(session, [message], now=datetime.now(UTC))
                    row = (
                        await session.exec(
                            text("SELECT id::text FROM outbox WHERE dedupe_key = :k").bindparams(k=f"load:{n}")
                        )
                    ).scalar_one()
                    await session.commit()
                written[row.replace("-", "")] = tick - origin
                n += 1
            except Exception:  # the database is restarting: try the same email again
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(max(0.0, 1.0 / rate - (time.perf_counter() - tick)))
    finally:
        await engine.dispose()


async def mail_after(
    url: str, sink: Sink, written: dict[str, float], faults: list[tuple[str, float, float]]
) -> list[str]:
    """Wait for the outbox to drain, then the table of expected, delivered, doubled and lost."""
    engine = create_engine(url, pool_size=1)
    waited = time.perf_counter()
    try:
        for _ in range(240):
            async with engine.connect() as conn:
                unsent = int(
                    (
                        await conn.execute(
                            text("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
                        )
                    ).scalar_one()
                )
            if unsent == 0:
                break
            await asyncio.sleep(1)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id::text, sent_at IS NOT NULL, attempts FROM outbox"))).all()
    finally:
        await engine.dispose()
    drained = time.perf_counter() - waited
    in_db = {r[0].replace("-", ""): (bool(r[1]), int(r[2])) for r in rows}

    def window(at: float) -> str:
        for name, start, end in faults:
            if start <= at <= end + FAULT_TAIL:
                return name
        return "no fault"

    table: dict[str, list[int]] = {}
    for message_id, at in written.items():
        cell = table.setdefault(window(at), [0, 0, 0, 0, 0])
        cell[0] += 1
        seen = sink.seen.get(message_id, 0)
        cell[1] += 1 if seen else 0
        cell[2] += 1 if seen > 1 else 0
        cell[3] += 0 if seen else 1
        cell[4] += 1 if message_id not in in_db else 0
    total = [sum(c[i] for c in table.values()) for i in range(5)]
    lines = ["", "| emails written while | expected | delivered | doubled | lost |", "|---|---|---|---|---|"]
    for name in ["no fault", *(f[0] for f in faults)]:
        if name in table:
            e, d, dd, lost, _ = table[name]
            lines.append(f"| {name} | {e} | {d} | {dd} | {lost} |")
    lines.append(f"| **all** | {total[0]} | {total[1]} | {total[2]} | {total[3]} |")
    # The app's own emails (check-ins assigned when the seed's incidents were logged).
    own = [m for m in in_db if m not in written]
    own_seen = [m for m in own if sink.seen.get(m)]
    strangers = [m for m in sink.seen if m not in in_db]
    lines += [
        "",
        f"Outbox drained {drained:.0f} s after the run. The app's own emails in the same outbox "
        f"(written when the incidents were logged, sent as the run began): {len(own)} expected, "
        f"{len(own_seen)} delivered, "
        f"{sum(1 for m in own if sink.seen.get(m, 0) > 1)} doubled, {len(own) - len(own_seen)} lost. "
        f"Emails the server saw that no outbox row explains: {len(strangers)}; rows the run wrote that are "
        f"missing from the outbox: {total[4]}.",
    ]
    return lines


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
                    rr = await http.post(
                        f"/api/checkins/{checkin['id']}/record", json=body, headers={"Idempotency-Key": key}
                    )
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
        command = [
            "runuser",
            "-u",
            "postgres",
            "--",
            f"/usr/lib/postgresql/{cluster}/bin/pg_ctl",
            "-D",
            pg_data,
            "-m",
            "fast",
            "-w",
            "restart",
        ]
    else:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
    await proc.wait()
    log.append(f"PostgreSQL restarted {after:.0f} s in (took {time.perf_counter() - t:.1f} s)")


def summary(name: str, samples: list[float], seconds: float) -> str:
    if not samples:
        return f"| {name} | 0 | - | - | - |"
    p = percentiles(samples)
    return (
        f"| {name} | {len(samples) / seconds:.0f}/s | {p['p50'] * 1000:.0f} ms | {p['p95'] * 1000:.0f} ms | "
        f"{p['p99'] * 1000:.0f} ms |"
    )


async def audit_after(url: str, acked: dict[str, str]) -> tuple[str, list[str]]:
    """Wait for the worker to seal, then: does every acknowledged check-in have one sealed event?"""
    from trim.privacy import audit

    engine = create_engine(url)
    try:
        unsealed = -1
        for _ in range(120):
            async with engine.connect() as conn:
                unsealed = int(
                    (await conn.execute(text("SELECT count(*) FROM audit_events WHERE seq IS NULL"))).scalar_one()
                )
            if unsealed == 0:
                break
            await asyncio.sleep(1)
        async with engine.connect() as conn:
            events = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT target_id, count(*) FROM audit_events WHERE action = 'checkin.recorded' "
                            "AND seq IS NOT NULL GROUP BY target_id"
                        )
                    )
                ).all()
            )
        settings = load_settings(database_url=url, secret_key=SECRET)
        async with make_sessionmaker(engine)() as session:
            report = await audit.verify_chain(session, keys=audit.keyring(settings))
    finally:
        await engine.dispose()
    without = [c for c in acked if c not in events]
    twice = [c for c, n in events.items() if n > 1]
    chain = (
        f"intact ({report.checked} events)" if report.ok else f"BROKEN at event {report.broken_seq}: {report.reason}"
    )
    line = (
        f"Audit, after the worker sealed: acknowledged check-ins without their sealed `checkin.recorded` "
        f"event: {len(without)}; with two: {len(twice)}; events still unsealed: {unsealed}; chain {chain}."
    )
    return line, without


async def run(
    url: str,
    base: str,
    peers: int,
    seconds: float,
    restart_at: float | None,
    pg_data: str | None = None,
    mail: Mail | None = None,
) -> str:
    stats = Stats()
    log: list[str] = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    tasks = [peer_loop(base, i, until, stats) for i in range(peers)] + [bare_loop(base, until, stats)]
    faults: list[tuple[str, float, float]] = []
    written: dict[str, float] = {}
    if restart_at is not None:
        tasks.append(restart_postgres(restart_at, log, pg_data))
        faults.append(("PostgreSQL restarted", restart_at, restart_at + 5))
    if mail is not None:
        tasks.append(write_mail(url, mail.rate, until, started, written))
        if mail.kill_at is not None:
            tasks.append(kill_worker(mail.kill_at, mail.workers, log, faults, started))
        if mail.outage_at is not None:
            tasks.append(mail_outage(mail.outage_at, mail.outage_seconds, mail.sink, log, faults, started))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    async with httpx.AsyncClient(base_url=base) as http:
        healthy = (await http.get("/health")).json()
    engine = create_engine(url)
    async with engine.connect() as conn:
        per_checkin = dict(
            (await conn.execute(text("SELECT checkin_id::text, count(*) FROM assessments GROUP BY checkin_id"))).all()
        )
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
    if mail is not None:
        lines += await mail_after(url, mail.sink, written, sorted(faults, key=lambda f: f[1]))
    return "\n".join(lines)


class Mail:
    def __init__(
        self,
        sink: Sink,
        workers: Workers,
        rate: float,
        kill_at: float | None,
        outage_at: float | None,
        outage_seconds: float,
    ) -> None:
        self.sink, self.workers, self.rate = sink, workers, rate
        self.kill_at, self.outage_at, self.outage_seconds = kill_at, outage_at, outage_seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--peers", type=int, default=50)
    parser.add_argument("--restart-at", type=float, default=None)
    parser.add_argument("--report", default="load.md")
    parser.add_argument("--pg-data", default=None, help="restart this cluster (pg_ctl -D) instead of the machine's")
    parser.add_argument("--mail", action="store_true", help="send email throughout, through two workers")
    parser.add_argument("--mail-rate", type=float, default=5.0, help="emails written a second")
    parser.add_argument("--kill-worker-at", type=float, default=None)
    parser.add_argument("--mail-outage-at", type=float, default=None)
    parser.add_argument("--mail-outage-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with bench_database("trim_bench_load") as url:
        asyncio.run(seed(url, args.peers))
        port = free_port()
        env = bench_env(url)
        env["PYTHONPATH"] = str(Path(__file__).parent) + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "load_app:create",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=Path(__file__).parent,
        )
        base = f"http://127.0.0.1:{port}"
        wenv = dict(
            env,
            TRIM_WORKER_POLL_SECONDS="1",
            TRIM_AUDIT_ANCHOR_FILE=str(Path(tempfile.mkdtemp(prefix="trim-load-")) / "anchors.jsonl"),
        )
        mail: Mail | None = None
        if args.mail:
            sink = Sink(free_port())
            sink.start()
            wenv["TRIM_SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}?timeout=5"
            wenv["TRIM_MAIL_RETRY_BASE_SECONDS"] = "2"
            mail = Mail(
                sink,
                Workers(wenv, 2),
                args.mail_rate,
                args.kill_worker_at,
                args.mail_outage_at,
                args.mail_outage_seconds,
            )
        else:
            workers = Workers(wenv, 1)
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            result = asyncio.run(run(url, base, args.peers, args.seconds, args.restart_at, args.pg_data, mail))
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            if mail is not None:
                mail.workers.stop()
                mail.sink.stop()
            else:
                workers.stop()
    command = (
        f"uv run python bench/load.py --seconds {args.seconds:.0f} --peers {args.peers}"
        + (f" --restart-at {args.restart_at:.0f}" if args.restart_at else "")
        + (f" --pg-data {args.pg_data}" if args.pg_data else "")
        + (f" --mail --mail-rate {args.mail_rate:g}" if args.mail else "")
        + (f" --kill-worker-at {args.kill_worker_at:.0f}" if args.kill_worker_at is not None else "")
        + (
            f" --mail-outage-at {args.mail_outage_at:.0f} --mail-outage-seconds {args.mail_outage_seconds:.0f}"
            if args.mail_outage_at is not None
            else ""
        )
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    report = Path(__file__).parent / "results" / args.report
    report.write_text(
        f"# Load{' and faults' if args.restart_at else ''}\n\nMachine: {machine()}\n\n"
        f"Command: `{command} --report {args.report}` (commit {commit}; load average at the end "
        f"{os.getloadavg()[0]:.2f})\n\n{result}\n"
    )
    print(report.read_text())


if __name__ == "__main__":
    main()
