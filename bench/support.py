"""What several benchmarks share: a free loopback port, a PostgreSQL database, `broadcast serve` running."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database(url: str, prefix: str, *, as_deployed: bool = False) -> Iterator[str]:
    """`url` if given, else a new database on a private cluster (tests/pg.py), stopped afterwards.

    `as_deployed`: always a cluster of its own with deploy/postgresql/broadcast.conf and fsync on (not the
    TEST_DATABASE_URL server, whose defaults, e.g. 128 MB of shared buffers, a volume benchmark outgrows)."""
    if url:
        yield url
        return
    from tests.pg import find_postgres, private_cluster

    if as_deployed:
        cluster = private_cluster(ROOT / "deploy" / "postgresql" / "broadcast.conf")
        server = cluster.server() if cluster is not None else None
    else:
        server = find_postgres()
    if server is None:
        sys.exit("PostgreSQL is not installed; pass --database-url")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server.create_database(name)
    try:
        yield server.url_for(name)
    finally:
        server.stop()


@contextmanager
def broadcast_serve(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`broadcast serve` on `port`, ready (GET /healthz answered), terminated afterwards."""
    # Output to a file, never a pipe nobody reads: a full pipe would stall the server on its next log line.
    log = tempfile.NamedTemporaryFile(prefix="bench-serve-", suffix=".log", delete=False)  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "broadcast.cli", "serve", "--port", str(port)], env=env,
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _ready(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("broadcast serve did not start: " + Path(log.name).read_text()[-2000:])
            time.sleep(0.2)  # polling another process's start-up; there is no event to wait on
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False
