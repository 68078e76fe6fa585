"""A private PostgreSQL primary and a streaming standby of it, on free ports under a
temporary folder: what the read-replica tests run against, and a way to try
TRIM_DATABASE_REPLICA_URL by hand (README, "Deploying with a read replica"):

    uv run python -m tests.replica_pair up      # prints both URLs and the folder
    uv run python -m tests.replica_pair down DIR

The standby is made the way a deployment makes one: `pg_basebackup -R` from the running
primary, so it streams WAL from it and answers read-only queries (hot standby). Both
servers refuse to run as root: as root, every command runs as the `postgres` user
(`runuser`) in a folder that user owns. Nothing is kept: fsync is off and the folder is
deleted by `down`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
SERVER_USER = "postgres"
# A small server: the tests make a handful of connections and a few megabytes of data.
SERVER_OPTIONS = (
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "full_page_writes=off",
    "shared_buffers=16MB",
    "max_connections=40",
    "max_wal_senders=4",
    "wal_level=replica",
    "hot_standby=on",
    # The standby tells the primary what its queries still read, so a dashboard query on
    # the standby is not cancelled by the primary's clean-up.
    "hot_standby_feedback=on",
    "wal_receiver_status_interval=1s",
    "log_min_messages=warning",
)


class ReplicaPairError(RuntimeError):
    """The pair could not be made (the message says which step failed, with its output)."""


def find_bin() -> Path | None:
    """The folder of PostgreSQL's server programs, or None when they are not installed."""
    for folder in BIN_DIRS:
        if (folder / "initdb").exists() and (folder / "pg_basebackup").exists():
            return folder
    return None


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (held open together, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Server:
    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"


@dataclass
class ReplicaPair:
    """A primary and its standby under `root`."""

    root: Path
    bin: Path
    primary: Server
    standby: Server

    # -- running commands ---------------------------------------------------------------

    def _run(self, *args: str, step: str, timeout: float = 60) -> str:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False)
        if done.returncode != 0:
            raise ReplicaPairError(f"{step} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done.stdout

    def _options(self, server: Server) -> str:
        return " ".join(
            [f"-c port={server.port}", f"-c unix_socket_directories={self.root}"]
            + [f"-c {option}" for option in SERVER_OPTIONS]
        )

    def start(self, server: Server) -> None:
        self._run(
            "pg_ctl", "-D", str(server.data), "-l", str(server.log), "-o", self._options(server), "-w", "-t", "60",
            "start", step=f"starting the server in {server.data.name}",
        )  # fmt: skip

    def stop(self, server: Server) -> None:
        """Stop at once (a crash, as far as the server can tell: nothing here must survive)."""
        self._run("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop", step="stopping a server")

    def is_running(self, server: Server) -> bool:
        return (server.data / "postmaster.pid").exists()

    def psql(self, server: Server, sql: str) -> str:
        """One statement's answer, unaligned, no headers."""
        return self._run(
            "psql", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-d", "postgres", "-XAtq",
            "-v", "ON_ERROR_STOP=1", "-c", sql, step=f"psql {sql!r}",
        ).strip()  # fmt: skip

    # -- the standby ----------------------------------------------------------------------

    def wait_streaming(self, timeout: float = 30) -> None:
        """Until the standby is in recovery, streaming, and has replayed all the primary wrote."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                target = self.psql(self.primary, "SELECT pg_current_wal_flush_lsn()")
                state = self.psql(
                    self.standby,
                    "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver), "
                    f"pg_last_wal_replay_lsn() >= '{target}'::pg_lsn",
                )
                if state == "t|streaming|t":
                    return
                last = state
            except ReplicaPairError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise ReplicaPairError(f"the standby did not catch up within {timeout:.0f} s: {last}")

    def pause_replay(self) -> None:
        self.psql(self.standby, "SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.psql(self.standby, "SELECT pg_wal_replay_resume()")

    def down(self) -> None:
        """Both servers stopped and the folder gone."""
        for server in (self.standby, self.primary):
            if self.is_running(server):
                with contextlib.suppress(ReplicaPairError):
                    self.stop(server)
        shutil.rmtree(self.root, ignore_errors=True)


def up(root: Path | None = None) -> ReplicaPair:
    """Make and start a primary and a streaming standby; raise ReplicaPairError, after
    cleaning up, when a step fails."""
    bin_dir = find_bin()
    if bin_dir is None:
        raise ReplicaPairError(f"the PostgreSQL server programs are not installed (looked in {BIN_DIRS[0]})")
    root = root or Path(tempfile.mkdtemp(prefix="trim-replica-"))
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        try:
            shutil.chown(root, SERVER_USER, SERVER_USER)
        except LookupError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise ReplicaPairError(f"running as root needs a {SERVER_USER!r} user to run the servers as") from exc
    primary_port, standby_port = free_ports(2)
    pair = ReplicaPair(
        root=root,
        bin=bin_dir,
        primary=Server(root / "primary", primary_port, root / "primary.log"),
        standby=Server(root / "standby", standby_port, root / "standby.log"),
    )
    try:
        pair._run(
            "initdb", "-D", str(pair.primary.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8",
            "--locale=C", step="initdb",
        )  # fmt: skip
        pair.start(pair.primary)
        pair._run(
            "pg_basebackup", "-D", str(pair.standby.data), "-R", "-X", "stream", "-c", "fast", "--no-sync",
            "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres", step="pg_basebackup",
        )  # fmt: skip
        pair.start(pair.standby)
        pair.wait_streaming()
    except BaseException:
        pair.down()
        raise
    return pair


def _main() -> None:
    parser = argparse.ArgumentParser(description="A private PostgreSQL primary with a streaming standby.")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("up", help="make and start both; prints their URLs")
    make.add_argument("--dir", type=Path, help="the folder to make them in (default: a new temporary one)")
    stop = commands.add_parser("down", help="stop both and delete the folder")
    stop.add_argument("dir", type=Path)
    args = parser.parse_args()
    if args.command == "up":
        pair = up(args.dir)
        print(f"folder:  {pair.root}")
        print(f"TRIM_DATABASE_URL={pair.primary.url}")
        print(f"TRIM_DATABASE_REPLICA_URL={pair.standby.url}")
        print(f"stop with: uv run python -m tests.replica_pair down {pair.root}")
        return
    bin_dir = find_bin()
    if bin_dir is None:
        raise SystemExit("the PostgreSQL server programs are not installed")
    root = args.dir
    ports = [0, 0]
    pair = ReplicaPair(
        root=root,
        bin=bin_dir,
        primary=Server(root / "primary", ports[0], root / "primary.log"),
        standby=Server(root / "standby", ports[1], root / "standby.log"),
    )
    pair.down()


if __name__ == "__main__":
    _main()
