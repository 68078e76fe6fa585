"""Recording check-ins against the floor: does auditing still make requests queue?

    uv run python bench/recording.py [--seconds 20] [--connections 32] [--per-peer 150] [--no-bounds]

Needs wrk (`apt-get install wrk`). In one run, on a fresh PostgreSQL database:

1. the floor: a bare Litestar + asyncpg app (bench/floor_app.py, 2 processes) doing one
   INSERT per POST, driven by wrk at N connections for S seconds;
2. trim: `trim run --workers 2` plus one `trim worker` (which seals the audit chain as it
   goes), driven the same way with POST /api/checkins/{id}/record: 32 signed-in peers,
   every request a different check-in with its own Idempotency-Key;
3. four bounds between them (bench/floor_app.py, served like the floor): trim's recording
   statements with no logic between them, the same writes as one PL/pgSQL call after the
   sign-in read, and the sign-in read inside that call too; what no implementation that
   writes what a recording writes can beat here; and last that call again with the tables'
   triggers disabled (--no-bounds leaves them out).

All are measured by the rows the database holds afterwards (floor_rows; assessments),
not by HTTP answers (a replayed Idempotency-Key answers 201 from the cache), and the
ratio trim/floor is reported with wrk's latency percentiles and error counts. After the
run the worker is given time to seal; every recorded check-in must then have its sealed
`checkin.recorded` event and the chain must verify.

Others share this machine: it refuses to start while the 1-minute load average is 1.5
or more (--force to run anyway), and the result says what the load was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from common import bench_database, machine
from load import ANSWERS, PASSWORD, seed
from serve import bench_env, free_port
from sqlalchemy import text

from trim.config import load_settings
from trim.db import create_engine, make_sessionmaker
from trim.privacy import audit

HERE = Path(__file__).resolve().parent
BOUND_NAMES = {
    "same": "trim's statements with no logic (13 round trips)",
    "one": "the same writes as one PL/pgSQL call (2 round trips)",
    "all": "the sign-in read in that call too (1 round trip)",
    "bare": "that call with the dashboard's marking triggers disabled",
}
# The tables a recording writes that have triggers (the dashboard's marking), disabled in the last bound.
TRIGGERED = ("checkins", "exposures", "assessments")
MAX_LOAD = 1.5

# wrk: each thread takes every n-th line of a request file (args: the file, the threads).
LINES_LUA = """
local lines, idx, stride = {}, 1, 1
function setup(thread) thread:set("tid", (counter or 0)); counter = (counter or 0) + 1 end
function init(args)
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  stride = tonumber(args[2]); idx = tid + 1
end
"""
# trim: each line is path, cookie, csrf, key, body; when they run out, GET /health.
RECORD_LUA = (
    LINES_LUA
    + """
function request()
  local line = lines[idx]
  if line == nil then return wrk.format("GET", "/health") end
  idx = idx + stride
  local path, cookie, csrf, key, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$")
  return wrk.format("POST", path, {["Cookie"] = cookie, ["x-csrftoken"] = csrf,
    ["Content-Type"] = "application/json", ["Idempotency-Key"] = key}, body)
end
"""
)
# The bounds: each line is path, body, wrapping round the list (a check-in may be written again).
BOUND_LUA = (
    LINES_LUA
    + """
function request()
  local line = lines[idx]
  idx = idx + stride
  if idx > #lines then idx = idx - #lines end
  local path, body = line:match("^([^\\t]*)\\t(.*)$")
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
"""
)
FLOOR_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{}"
"""


def load_average() -> float:
    return os.getloadavg()[0]


def wait_healthy(base: str, proc: subprocess.Popen[bytes], path: str = "/health") -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + path, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not come up")


def run_wrk(
    url: str, script: str, *, seconds: int, connections: int, threads: int, args: list[str]
) -> dict[str, object]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        lua = f.name
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        lua,
        url,
        *(["--", *args] if args else []),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(lua)

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: (.*)", out)
    return {
        "p50": ms("50"),
        "p90": ms("90"),
        "p99": ms("99"),
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket.group(1) if socket else "none",
        "raw": out,
    }


async def scalar(url: str, sql: str) -> int:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


async def fetch_rows(url: str, sql: str) -> list[Any]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def sign_in_all(base: str, peers: int) -> dict[str, tuple[str, str]]:
    """email -> (Cookie header, CSRF token) for each peer."""
    sessions: dict[str, tuple[str, str]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for i in range(peers):
            email = f"p{i}@bench.example"
            http.cookies.clear()
            r = await http.post("/api/session", json={"email": email, "password": PASSWORD})
            r.raise_for_status()
            cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies.jar)
            sessions[email] = (cookie, http.cookies["csrftoken"])
    return sessions


async def request_lines(url: str, sessions: dict[str, tuple[str, str]], path: Path) -> int:
    rows = await fetch_rows(
        url,
        "SELECT c.id::text, c.kind, p.email FROM checkins c JOIN people p ON p.id = c.peer_id "
        "WHERE c.outcome IS NULL ORDER BY c.due_at, c.id",
    )
    with path.open("w") as out:
        for checkin_id, kind, email in rows:
            cookie, csrf = sessions[email]
            body = json.dumps(
                {"outcome": "completed", "answers": ANSWERS[kind], "safety_concern": False}, separators=(",", ":")
            )
            out.write(f"/api/checkins/{checkin_id}/record\t{cookie}\t{csrf}\t{uuid.uuid4()}\t{body}\n")
    return len(rows)


@contextmanager
def floor_app(url: str) -> Iterator[str]:
    """bench/floor_app.py served like trim (uvicorn, 2 processes) until the block ends."""
    port = free_port()
    env = dict(os.environ, FLOOR_DSN=url.replace("postgresql+asyncpg://", "postgresql://"))
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "floor_app:app", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", "2", "--no-access-log", "--log-level", "warning"),
        ],
        env=env,
        cwd=HERE,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, "/")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def floor_phase(url: str, *, seconds: int, connections: int, threads: int) -> dict[str, object]:
    engine_sql = "CREATE TABLE floor_rows (id uuid PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
    asyncio.run(_exec(url, engine_sql))
    with floor_app(url) as base:
        load = load_average()
        result = run_wrk(
            f"{base}/insert", FLOOR_LUA, seconds=seconds, connections=connections, threads=threads, args=[]
        )
    result["rows"] = asyncio.run(scalar(url, "SELECT count(*) FROM floor_rows"))
    result["load"] = load
    return result


async def _exec(url: str, sql: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def trim_phase(url: str, *, seconds: int, connections: int, threads: int, peers: int) -> dict[str, object]:
    port = free_port()
    env = bench_env(url)
    env["TRIM_WORKER_POLL_SECONDS"] = "1"
    # The seeded incidents are a month old (so day 3 and day 28 can both be recorded): every
    # day 3 check-in is weeks overdue, and the quiet-peer sweep would spend the run moving
    # them all to other peers. That is the sweep's work, not recording's: keep it out.
    env["TRIM_QUIET_PEER_DAYS"] = "60"
    anchors = Path(tempfile.mkdtemp(prefix="trim-bench-anchors-")) / "audit-anchors.jsonl"
    env["TRIM_AUDIT_ANCHOR_FILE"] = str(anchors)
    app = subprocess.Popen(
        [sys.executable, "-m", "trim.cli", "run", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "trim.cli", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    lines = Path(tempfile.mkdtemp(prefix="trim-bench-")) / "requests.tsv"
    try:
        wait_healthy(base, app)
        sessions = asyncio.run(sign_in_all(base, peers))
        available = asyncio.run(request_lines(url, sessions, lines))
        recorded_sql = "SELECT count(*) FROM checkins WHERE outcome IS NOT NULL"
        before = asyncio.run(scalar(url, recorded_sql))
        load = load_average()
        result = run_wrk(
            f"{base}/",
            RECORD_LUA,
            seconds=seconds,
            connections=connections,
            threads=threads,
            args=[str(lines), str(threads)],
        )
        # Counted when wrk stops: requests still in flight then land later and are not counted.
        recorded = asyncio.run(scalar(url, recorded_sql)) - before
        # The worker keeps sealing; give it a moment to catch up, then check the chain.
        deadline, unsealed = time.perf_counter() + 60, -1
        while time.perf_counter() < deadline:
            unsealed = asyncio.run(scalar(url, "SELECT count(*) FROM audit_events WHERE seq IS NULL"))
            if unsealed == 0:
                break
            time.sleep(1)
        sealed_for_records = asyncio.run(
            scalar(
                url,
                (
                    "SELECT count(DISTINCT a.checkin_id) FROM assessments a JOIN audit_events e "
                    "ON e.action = 'checkin.recorded' AND e.target_id = a.checkin_id::text AND e.seq IS NOT NULL"
                ),
            )
        )
        report = asyncio.run(verify(url, env))
    finally:
        for proc in (app, worker):
            proc.terminate()
        for proc in (app, worker):
            proc.wait(timeout=120)  # a worker finishes its round first (a sweep can take a while)
    result.update(
        {
            "rows": recorded,
            "available": available,
            "load": load,
            "unsealed_after": unsealed,
            "sealed_for_records": sealed_for_records,
            "chain": report,
            "anchors": len(anchors.read_text().splitlines()) if anchors.exists() else 0,
        }
    )
    return result


async def bound_lines(url: str, prefix: str, path: Path) -> int:
    """One line per check-in of a signed-in peer: /{prefix}/{session}/{check-in} and its answers."""
    rows = await fetch_rows(
        url,
        "SELECT s.id, c.id::text, c.kind FROM checkins c "
        "JOIN (SELECT DISTINCT ON (person_id) id, person_id FROM web_sessions WHERE stage = 'full' "
        "ORDER BY person_id, created_at DESC) s ON s.person_id = c.peer_id ORDER BY c.due_at, c.id",
    )
    with path.open("w") as out:
        for session_id, checkin_id, kind in rows:
            body = json.dumps({"answers": ANSWERS[kind]}, separators=(",", ":"))
            out.write(f"/{prefix}/{session_id}/{checkin_id}\t{body}\n")
    return len(rows)


def bound_phase(url: str, prefix: str, *, seconds: int, connections: int, threads: int) -> dict[str, object]:
    """One of floor_app's bounds, served like the floor, counted by the assessments it inserted."""
    from floor_app import FUNCTIONS

    for function in FUNCTIONS:
        asyncio.run(_exec(url, function))
    if prefix == "bare":  # the last phase: the database is dropped after it
        for table in TRIGGERED:
            asyncio.run(_exec(url, f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    lines = Path(tempfile.mkdtemp(prefix="trim-bench-")) / f"{prefix}.tsv"
    available = asyncio.run(bound_lines(url, "all" if prefix == "bare" else prefix, lines))
    counted = "SELECT count(*) FROM assessments"
    with floor_app(url) as base:
        before = asyncio.run(scalar(url, counted))
        load = load_average()
        result = run_wrk(
            f"{base}/",
            BOUND_LUA,
            seconds=seconds,
            connections=connections,
            threads=threads,
            args=[str(lines), str(threads)],
        )
    result["rows"] = asyncio.run(scalar(url, counted)) - before
    result["load"] = load
    result["available"] = available
    return result


async def verify(url: str, env: dict[str, str]) -> str:
    settings = load_settings(database_url=url, secret_key=env["TRIM_SECRET_KEY"])
    engine = create_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            report = await audit.verify_chain(session, keys=audit.keyring(settings))
    finally:
        await engine.dispose()
    return (
        f"intact, {report.checked} events" if report.ok else f"BROKEN at {report.broken_seq}: {report.reason}"
    ) + f", {report.unsealed} unsealed"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peers", type=int, default=32)
    parser.add_argument("--per-peer", type=int, default=150, help="responders per peer (2 check-ins each)")
    parser.add_argument("--force", action="store_true", help="run even on a busy machine")
    parser.add_argument("--report", default="recording.md")
    parser.add_argument("--no-bounds", action="store_true", help="only the floor and trim")
    args = parser.parse_args()
    if load_average() >= MAX_LOAD and not args.force:
        sys.exit(f"load average {load_average():.2f} >= {MAX_LOAD}: others are using the machine; try later")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    started_load = load_average()
    with bench_database("trim_bench_recording") as url:
        asyncio.run(seed(url, args.peers, per_peer=args.per_peer))
        floor = floor_phase(url, seconds=args.seconds, connections=args.connections, threads=args.threads)
        trim = trim_phase(
            url, seconds=args.seconds, connections=args.connections, threads=args.threads, peers=args.peers
        )
        bounds = {
            prefix: bound_phase(url, prefix, seconds=args.seconds, connections=args.connections, threads=args.threads)
            for prefix in (() if args.no_bounds else ("same", "one", "all", "bare"))
        }
    floor_rate = int(floor["rows"]) / args.seconds  # type: ignore[call-overload]
    trim_rate = int(trim["rows"]) / args.seconds  # type: ignore[call-overload]
    ratio = trim_rate / floor_rate if floor_rate else float("nan")
    command = (
        f"uv run python bench/recording.py --seconds {args.seconds} --connections {args.connections} "
        f"--threads {args.threads} --peers {args.peers} --per-peer {args.per_peer}"
    )
    lines = [
        "# Recording check-ins against the floor",
        "",
        f"Machine: {machine()}",
        "",
        f"Command: `{command}` (commit {commit}); wrk {args.threads} threads, {args.connections} connections, "
        f"{args.seconds} s each; app and floor with 2 processes each; one `trim worker` sealing throughout.",
        "",
        f"Load average (1 min) at start {started_load:.2f}; when the floor ran {float(floor['load']):.2f}; "  # type: ignore[arg-type]
        f"when trim ran {float(trim['load']):.2f}.",  # type: ignore[arg-type]
        "",
        "| | rows in the database | rows/s | p50 | p90 | p99 | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|---|",
        f"| floor: bare Litestar + asyncpg INSERT | {floor['rows']} | {floor_rate:.0f} | {floor['p50']:.1f} ms | "
        f"{floor['p90']:.1f} ms | {floor['p99']:.1f} ms | {floor['non2xx']} | {floor['socket_errors']} |",
        f"| trim: POST /api/checkins/{{id}}/record | {trim['rows']} | {trim_rate:.0f} | {trim['p50']:.1f} ms | "
        f"{trim['p90']:.1f} ms | {trim['p99']:.1f} ms | {trim['non2xx']} | {trim['socket_errors']} |",
        *(
            f"| bound, {BOUND_NAMES[prefix]} | {b['rows']} | {int(b['rows']) / args.seconds:.0f} | "  # type: ignore[call-overload]
            f"{b['p50']:.1f} ms | {b['p90']:.1f} ms | {b['p99']:.1f} ms | {b['non2xx']} | {b['socket_errors']} |"
            for prefix, b in bounds.items()
        ),
        "",
        *(
            f"Ratio bound ({prefix})/floor: {int(b['rows']) / args.seconds / floor_rate:.2f}; "  # type: ignore[call-overload]
            f"load when it ran {float(b['load']):.2f}."  # type: ignore[arg-type]
            for prefix, b in bounds.items()
        ),
        "",
        f"Ratio trim/floor (rows/s): **{ratio:.2f}** (target 0.5 or better; p99 target under 100 ms; 0 errors).",
        "",
        f"Check-ins available to record: {trim['available']} (if all were recorded, the rest of the run asked "
        f"GET /health, which adds no rows; wrk's own check of the script takes one line per thread unsent). "
        f"Audit after the run: {trim['sealed_for_records']} of {trim['rows']} recorded check-ins have their sealed "
        f"`checkin.recorded` event; events still unsealed: {trim['unsealed_after']}; chain {trim['chain']}; "
        f"anchors written: {trim['anchors']}.",
        "",
        "<details><summary>wrk output</summary>",
        "",
        "```",
        str(floor["raw"]).strip(),
        "",
        str(trim["raw"]).strip(),
        *("\n" + str(b["raw"]).strip() for b in bounds.values()),
        "```",
        "",
        "</details>",
    ]
    report = HERE / "results" / args.report
    report.write_text("\n".join(lines) + "\n")
    print(report.read_text())


if __name__ == "__main__":
    main()
