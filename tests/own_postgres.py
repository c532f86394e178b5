"""A PostgreSQL server of the fault tests' own, so they can kill, stop and freeze it.

It runs the binaries of the `pgserver` wheel (a runtime dependency, so every checkout has
them), listens on a free port of 127.0.0.1 and keeps its data in a temporary folder.
As root, PostgreSQL refuses to run, so the server runs as the `pgserver` system user, as
the embedded database does (pgserver creates that user and opens its binaries to it).
Nothing here touches any other server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pgserver._commands import POSTGRES_BIN_PATH

SYSTEM_USER = "pgserver"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnPostgres:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pgdata = folder / "pgdata"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = SYSTEM_USER
            ensure_user_exists(SYSTEM_USER)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
            shutil.chown(folder, SYSTEM_USER, SYSTEM_USER)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / program), "-D", str(self.pgdata), *args],
            check=True,
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def init(self) -> None:
        self._run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres")

    def start(self) -> None:
        # A throw-away server need not survive a power cut (fsync), but it must keep what it
        # committed through a killed backend's crash restart: synchronous_commit stays on.
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-w", "-l", str(self.log), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-w", "-m", mode, "stop")

    @property
    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().split()[0])

    def signal_backend(self, pid: int, signum: signal.Signals) -> None:
        """Signal one of this server's own processes (never anyone else's)."""
        with open(f"/proc/{pid}/stat") as stat:
            parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        if pid != self.postmaster_pid and parent != self.postmaster_pid:
            raise RuntimeError(f"process {pid} is not one of this server's")
        os.kill(pid, signum)


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    folder = Path(tempfile.mkdtemp(prefix="tempo-faults-"))
    server = OwnPostgres(folder)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            # Wake a frozen server first, or it could not stop.
            os.kill(server.postmaster_pid, signal.SIGCONT)
            server.stop("immediate")
        except (OSError, ValueError, subprocess.CalledProcessError):
            pass
        shutil.rmtree(folder, ignore_errors=True)
