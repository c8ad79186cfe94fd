"""Leader election: one active scheduler per database (PostgreSQL advisory lock, or a file lock for SQLite)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from broadcast.journal.outage import QuietFailures

log = logging.getLogger(__name__)
# A fixed 64-bit key for pg_try_advisory_lock; no other code in this database uses advisory locks.
LOCK_KEY = 0x62726F6164636173  # "broadcas"


class LeaderLock(Protocol):
    def acquire(self) -> bool:
        """Try to become the leader without waiting."""
        ...

    def healthy(self) -> bool:
        """Whether the lock is still held (the dedicated connection is alive)."""
        ...

    def release(self) -> None:
        """Give up leadership."""
        ...


class PostgresLeaderLock:
    """Session-level pg_try_advisory_lock on a dedicated connection; the server frees it when we die."""

    def __init__(self, url: str, key: int = LOCK_KEY) -> None:
        self.key = key
        self.engine = create_engine(url, poolclass=NullPool,
                                    connect_args={"keepalives_idle": 5, "keepalives_interval": 2,
                                                  "keepalives_count": 3, "application_name": "broadcast-scheduler"})
        self.conn: Connection | None = None
        self._quiet = QuietFailures(log, "leader lock")

    def acquire(self) -> bool:
        try:
            if self.conn is None:
                self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except Exception as exc:  # database unreachable: stay standby and retry (logged once per outage)
            self._quiet.failed(exc)
            self._drop()
            return False
        self._quiet.succeeded()
        return got

    def healthy(self) -> bool:
        if self.conn is None:
            return False
        try:
            self.conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.error("leader lock connection lost: %s", exc)
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.invalidate()
                self.conn.close()
            except Exception:  # already broken
                pass
        self.conn = None

    def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the connection is gone, and with it the lock
                self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.conn.close()
            self.conn = None
        self.engine.dispose()


class FileLeaderLock:
    """An exclusive flock next to the SQLite database file; the kernel frees it when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the leader's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle
        return True

    def healthy(self) -> bool:
        return self.handle is not None

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def leader_lock(database_url: str) -> LeaderLock:
    """The right lock for DATABASE_URL."""
    if database_url.startswith("postgresql"):
        return PostgresLeaderLock(database_url)
    path = database_url.split("///", 1)[-1]
    if not path or path == ":memory:":
        path = f"/tmp/broadcast-scheduler-{os.getuid()}"
    return FileLeaderLock(Path(f"{path}.scheduler.lock"))
