"""Database outages: which errors mean "the database cannot take work now", and one log line per outage.

An outage is an error of the database server or the way to it — refused or lost connections, a server
shutting down, a read-only server, lock or statement timeouts, a full disk — never an error of our own SQL.
Webhooks journal their events through it; background loops log it once instead of a traceback each round.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

import psycopg
from sqlalchemy import exc as sa_exc

from broadcast.db import utcnow

log = logging.getLogger("broadcast.outage")

# SQLSTATE prefixes and codes (PostgreSQL) that say the server cannot take work now.
_STATES = {
    "08": "connection failure",
    "57P01": "server shutting down",
    "57P02": "server crashed",
    "57P03": "server not accepting connections yet",
    "25006": "read-only",
    "55P03": "lock timeout",
    "57014": "statement timeout",
    "40P01": "deadlock",
    "40001": "serialization failure",
    "53": "insufficient resources (disk, memory or connections)",
}
_SQLITE = ("database is locked", "database table is locked", "disk i/o error", "readonly database",
           "unable to open database file", "database or disk is full")


def unavailable(exc: BaseException) -> str | None:
    """Why the database cannot take work now (for the log), or None when `exc` is some other error."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "no free database connection"
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return "connection lost"
        orig: BaseException | None = exc.orig
    else:
        orig = exc
    if isinstance(orig, psycopg.Error):
        state = orig.sqlstate or ""
        for prefix, reason in _STATES.items():
            if state.startswith(prefix):
                return reason
        if not state and isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
            return _connection_reason(str(orig))
        return None
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return next((f"SQLite: {m}" for m in _SQLITE if m in text), None)
    return None


def _connection_reason(text: str) -> str:
    lowered = text.lower()
    for words, reason in ((("refused",), "connection refused"), (("shutting down",), "server shutting down"),
                          (("starting up", "not yet accepting"), "server starting up"),
                          (("timeout", "timed out"), "connection timed out"),
                          (("closed", "terminat"), "connection closed")):
        if any(word in lowered for word in words):
            return reason
    first = text.strip().splitlines()[0] if text.strip() else "connection failed"
    return first.rsplit("failed:", 1)[-1].replace("FATAL:", "").strip()[:160] or "connection failed"


class Outage:
    """The database as this process's webhooks see it: one warning when it goes away, one line when it is
    back (how long, how many events were journaled and replayed). Thread-safe."""

    def __init__(self, journal_dir: Path) -> None:
        self.journal_dir = journal_dir
        self._lock = threading.Lock()
        self._since: float | None = None
        self.started_at: datetime | None = None
        self.reason = ""
        self.journaled = 0
        self.refused = 0  # webhooks answered 503: the journal could not take them either

    @property
    def down(self) -> bool:
        return self._since is not None

    def trip(self, reason: str) -> bool:
        """The database did not answer; True when this starts an outage (and was logged)."""
        with self._lock:
            if self._since is not None:
                return False
            self._since, self.started_at, self.reason = time.monotonic(), utcnow(), reason
            self.journaled = self.refused = 0
        log.warning("database unavailable (%s): verified webhooks are journaled in %s and answered 200 until "
                    "it answers again", reason, self.journal_dir)
        return True

    def count(self, journaled: int = 0, refused: int = 0) -> None:
        with self._lock:
            self.journaled += journaled
            self.refused += refused

    def clear(self, *, replayed: int, replay_seconds: float) -> tuple[datetime, datetime] | None:
        """The journal is replayed and the database answers: log the summary; the outage's (start, end)."""
        with self._lock:
            if self._since is None or self.started_at is None:
                return None
            seconds = time.monotonic() - self._since
            started, journaled, refused, reason = self.started_at, self.journaled, self.refused, self.reason
            self._since, self.started_at = None, None
        refused_text = f"; {refused} refused with 503 (journal unwritable)" if refused else ""
        log.warning("database available again after %.1f s (%s): %d webhook events journaled, %d replayed in "
                    "%.1f s%s", seconds, reason, journaled, replayed, replay_seconds, refused_text)
        return started, utcnow()


class QuietFailures:
    """A background loop's failures: a database outage is logged once when it starts and once when it ends,
    anything else with its traceback as before."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger, self.what = logger, what
        self._since: float | None = None
        self._rounds = 0

    def failed(self, exc: BaseException) -> None:
        """Call from the `except` block of one failed round."""
        reason = unavailable(exc)
        if reason is None:
            self.logger.exception("%s failed; retrying shortly", self.what)
            return
        self._rounds += 1
        if self._since is None:
            self._since = time.monotonic()
            self.logger.warning("%s: database unavailable (%s); retrying quietly until it answers", self.what,
                                reason)

    def succeeded(self) -> None:
        """Call after a round that reached the database."""
        if self._since is not None:
            self.logger.warning("%s: database available again after %.1f s (%d rounds failed)", self.what,
                                time.monotonic() - self._since, self._rounds)
            self._since, self._rounds = None, 0
