"""A PostgreSQL server for tests: TEST_DATABASE_URL, or a throw-away cluster started here."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql


@dataclass
class PostgresServer:
    admin_url: str  # libpq URL of a superuser connection to the `postgres` database
    _stop: list[list[str]] = field(default_factory=list)

    def url_for(self, database: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{database}".replace("postgresql://", "postgresql+psycopg://", 1)

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> None:
        with self._admin() as conn:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            conn.execute(stmt)

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        for cmd in self._stop:
            subprocess.run(cmd, check=False, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip() or done.stdout.strip()}")


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster started here, which a test may stop and start again (never a shared server)."""

    bindir: Path
    workdir: Path
    port: int
    prefix: list[str]
    durable: bool = False  # fsync on, as deployed (tests turn it off: they never survive a power cut)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> list[str]:
        return [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.workdir / "data"), *args]

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            opts += " -c fsync=off"
        _run(self._ctl("-o", opts, "-w", "-l", str(self.workdir / "log"), "start"))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: open connections are closed, as when the machine's PostgreSQL goes down)."""
        _run(self._ctl("-m", mode, "-w", "stop"))

    def server(self) -> PostgresServer:
        """A PostgresServer on this cluster whose stop() removes it."""
        server = PostgresServer(admin_url=self.admin_url)
        server._stop.append(self._ctl("-m", "immediate", "stop"))
        server._stop.append(["rm", "-rf", str(self.workdir)])
        return server


def private_cluster(conf: Path | None = None) -> PrivateCluster | None:
    """Create and start a throw-away cluster, or None when the server binaries are not installed.

    `conf`: settings appended to its postgresql.conf (a benchmark runs PostgreSQL as deployed:
    deploy/postgresql/broadcast.conf), with fsync on."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        return None
    bindir = Path(bins[-1]).parent
    # Not under pytest's tmp dir: that one is private to root, and the server runs as `postgres`.
    workdir = Path(tempfile.mkdtemp(prefix="broadcast-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(workdir, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    _run([*prefix, str(bindir / "initdb"), "-D", str(workdir / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8"])
    if conf is not None:
        with (workdir / "data" / "postgresql.conf").open("a") as settings:
            settings.write(f"\n# {conf}\n{conf.read_text()}")
    cluster = PrivateCluster(bindir, workdir, _free_port(), prefix, durable=conf is not None)
    cluster.start()
    return cluster


def find_postgres() -> PostgresServer | None:
    """Use TEST_DATABASE_URL when set; otherwise start a private cluster if the binaries exist."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        return PostgresServer(admin_url=url)
    cluster = private_cluster()
    return cluster.server() if cluster is not None else None
