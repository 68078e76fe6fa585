"""The conversation on a request under load, on PostgreSQL, through the real server.

    uv run python bench/conversations.py [--conversations 50] [--seconds 60] [--wait 20 | --wait 0 --poll 1.0]

Starts `trim run --workers 2` on 127.0.0.1 against a fresh database; makes
`conversations` requests (each from its own responder, each taken by its own peer);
then each conversation carries one message a second for `seconds`, alternating
requester and peer, while the other side waits on GET /api/conversations/{id}/messages
?seen=N&wait=S (answered when the other side writes; asked again at once), or with
--wait 0 polls it every `poll` seconds. One message in twenty is sent twice with the same client_id
(a flaky connection). Reports, from the clients' side:

- lost: acknowledged messages the other side never saw, or that are not in the table;
- doubled: rows beyond one per (author, client_id);
- delivery: from the start of the POST to the first answer that shows it (p50/p95/p99).

Target (issue 22): 0 lost, 0 doubled, p95 delivery under 2 s. The page's htmx poller
asks every TRIM_CONVERSATION_POLL_SECONDS (3 s by default), so a browser adds up to
that wait.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import time
import uuid
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


async def seed(url: str, pairs: int) -> None:
    engine = create_engine(url)
    hashed = hash_password_sync(PASSWORD, profile="cheapest")
    async with make_sessionmaker(engine)() as session:
        station = await accounts.create_station(session, actor=SYSTEM, name="S")
        for i in range(pairs):
            for who, roles in (("r", ["responder"]), ("p", ["responder", "peer"])):
                await accounts.create_person(
                    session,
                    actor=SYSTEM,
                    password_hash=hashed,
                    data=accounts.PersonInput(
                        f"{who.upper()}{i}", f"{who} {i}", f"{who}{i}@bench.example", station.id, roles
                    ),
                )
        await session.commit()
    await engine.dispose()


async def signed_in(base: str, email: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=base, timeout=30)
    r = await http.post("/api/session", json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    http.headers["x-csrftoken"] = http.cookies["csrftoken"]
    return http


class Tally:
    def __init__(self) -> None:
        self.sent: dict[str, float] = {}  # client_id -> when its POST started
        self.seen: dict[str, float] = {}  # client_id -> when the other side first saw it
        self.errors: list[str] = []
        self.resends = 0


async def conversation(
    base: str, i: int, seconds: float, poll: float, tally: Tally, rng: random.Random, wait: int = 0
) -> None:
    requester = await signed_in(base, f"r{i}@bench.example")
    peer = await signed_in(base, f"p{i}@bench.example")
    try:
        asked = await requester.post(
            "/api/requests",
            json={"urgency": "today", "contact_method": "conversation", "safety_concern": False, "anonymous": True},
        )
        asked.raise_for_status()
        request_id = asked.json()["id"]
        # Offered to every peer; the bench wants pairs, so the lead's "offer first" is not needed:
        # peer i simply takes request i (someone else may have: then this conversation is skipped).
        taken = await peer.post(f"/api/requests/{request_id}/accept")
        if taken.status_code != 200:
            tally.errors.append(f"accept {taken.status_code}")
            return
        url = f"/api/conversations/{request_id}/messages"
        until = time.perf_counter() + seconds
        done = asyncio.Event()

        async def watch(http: httpx.AsyncClient) -> None:
            have = 0
            while not done.is_set():
                try:
                    if wait:  # ask again at once: the answer comes when the other side writes
                        r = await http.get(url, params={"seen": have, "wait": wait}, timeout=wait + 30)
                        if r.status_code == 204:
                            continue
                    else:
                        r = await http.get(url)
                    now = time.perf_counter()
                    messages = r.json()["messages"]
                    have = len(messages)
                    for m in messages:
                        if m["mine"] is False:
                            tally.seen.setdefault(m["client_id"], now)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    tally.errors.append(type(exc).__name__)
                    await asyncio.sleep(0.5)
                if not wait:
                    await asyncio.sleep(poll)

        watchers = [asyncio.create_task(watch(requester)), asyncio.create_task(watch(peer))]
        turn = 0
        while time.perf_counter() < until:
            tick = time.perf_counter()
            http = peer if turn % 2 else requester
            client_id = f"{i}-{turn}-{uuid.uuid4().hex[:8]}"
            body = {"client_id": client_id, "body": f"message {turn} in conversation {i}"}
            tally.sent[client_id] = tick
            try:
                r = await http.post(url, json=body)
                if r.status_code != 201:
                    tally.errors.append(f"post {r.status_code}")
                if rng.random() < 0.05:  # the same message again, as a flaky connection would
                    again = await http.post(url, json=body)
                    tally.resends += 1
                    if again.status_code != 200:
                        tally.errors.append(f"resend {again.status_code}")
            except httpx.HTTPError as exc:
                tally.errors.append(type(exc).__name__)
            turn += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
        await asyncio.sleep(max(3 * poll, 3.0))  # let the last ones arrive
        done.set()
        await asyncio.gather(*watchers)
    finally:
        await requester.aclose()
        await peer.aclose()


async def run(base: str, url: str, pairs: int, seconds: float, poll: float, wait: int = 0) -> str:
    tally = Tally()
    rng = random.Random(22)
    started = time.perf_counter()
    await asyncio.gather(*(conversation(base, i, seconds, poll, tally, rng, wait) for i in range(pairs)))
    elapsed = time.perf_counter() - started
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows, distinct = (
            await conn.execute(
                text("SELECT count(*), count(DISTINCT (author_id, client_id)) FROM conversation_messages")
            )
        ).one()
        stored_ids = {r[0] for r in await conn.execute(text("SELECT client_id FROM conversation_messages"))}
        emails = (
            await conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'conversation_message'"))
        ).scalar_one()
    await engine.dispose()
    lost_db = [c for c in tally.sent if c not in stored_ids]
    lost_seen = [c for c in tally.sent if c not in tally.seen]
    delivery = [tally.seen[c] - tally.sent[c] for c in tally.sent if c in tally.seen]
    p = percentiles(delivery)
    met = not lost_db and not lost_seen and rows == distinct and p.get("p95", 99) < 2.0
    return (
        f"{pairs} conversations, one message a second each for {seconds:.0f} s ({elapsed:.0f} s in all): "
        f"{len(tally.sent)} messages sent, {tally.resends} sent twice with the same client_id; "
        f"errors: {len(tally.errors)} {sorted(set(tally.errors))[:5]}\n\n"
        f"Stored: {rows} rows, {distinct} distinct (author, client_id); doubled: {rows - distinct}; "
        f"lost (not stored): {len(lost_db)}; never seen by the other side: {len(lost_seen)}.\n\n"
        + (
            f"Delivery (POST start to the other side's waiting GET showing it; GET ?seen=N&wait={wait}, asked "
            "again at once): "
            if wait
            else f"Delivery (POST start to the other side's first poll showing it, polling every {poll:g} s): "
        )
        + f"{fmt_ms(p)}\n\n"
        f"'New message' emails written: {emails} (at most one per person per conversation per 15 minutes: "
        f"at most {2 * pairs} in this run).\n\n"
        f"Target (0 lost, 0 doubled, p95 under 2 s): {'met' if met else 'NOT met'}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--poll", type=float, default=1.0, help="with --wait 0: poll every this many seconds")
    parser.add_argument("--wait", type=int, default=20, help="GET ?seen=N&wait=S, asked again at once (0: poll)")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    with bench_database("trim_bench_conversations") as url:
        asyncio.run(seed(url, args.conversations))
        assert bench_env(url)
        with server(url, workers=2) as base:
            result = asyncio.run(run(base, url, args.conversations, args.seconds, args.poll, args.wait))
    report = Path(__file__).parent / "results" / "conversations.md"
    report.write_text(
        "# The conversation on a request under load\n\n"
        f"Machine: {machine()}\n\n"
        f"Command: `uv run python bench/conversations.py --conversations {args.conversations} "
        f"--seconds {args.seconds:.0f} "
        + (f"--wait {args.wait}" if args.wait else f"--wait 0 --poll {args.poll:g}")
        + f"` (commit {commit}; load average {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end)"
        "\n\n`trim run --workers 2` on 127.0.0.1 against PostgreSQL; each conversation is an anonymous request "
        "taken by its own peer; both sides "
        + ("wait on the API for the other's next message" if args.wait else "poll the API")
        + " while they take turns writing.\n\n"
        + result
    )
    print(report.read_text())


if __name__ == "__main__":
    main()
