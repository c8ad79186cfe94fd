"""The replayer: applies journaled webhook events in order once the database answers, exactly once.

Each transaction inserts the ids of the events it applies into `journal_applied` (ON CONFLICT DO NOTHING) and
applies only those that were new, so a replay killed part-way and started again skips what was committed; the
handlers are idempotent besides (updates only move forward, messages are stored once by SID). An event a
handler cannot apply (a bug, not an outage) is set aside in `failed/` with a log line rather than blocking
the events behind it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, delete, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from broadcast.db import session_scope, utcnow
from broadcast.instruments import count_journal
from broadcast.journal.models import JournalApplied
from broadcast.journal.outage import Outage, QuietFailures, unavailable
from broadcast.journal.store import Entry, Journal, Segment

log = logging.getLogger(__name__)
APPLIED: Table = JournalApplied.__table__  # type: ignore[attr-defined]
KEEP_APPLIED = timedelta(days=30)  # ids of applied events outlive any segment that could still hold them

Handler = Callable[[Session, Sequence[Entry]], None]
RecoveryHook = Callable[[datetime, datetime], object]


@dataclass
class ReplayStats:
    applied: int = 0
    duplicates: int = 0  # already applied by an earlier, interrupted replay
    failed: int = 0  # set aside in failed/

    def add(self, other: ReplayStats) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.failed += other.failed

    @property
    def total(self) -> int:
        return self.applied + self.duplicates + self.failed


class Replayer:
    """Runs in every process that receives webhooks: replays its own journal and any orphaned segment."""

    def __init__(self, engine: Engine, journal: Journal, outage: Outage, handlers: dict[str, Handler], *,
                 batch: int = 200, poll_seconds: float = 1.0) -> None:
        self.engine, self.journal, self.outage, self.handlers = engine, journal, outage, handlers
        self.batch, self.poll_seconds = batch, poll_seconds
        self.hooks: list[RecoveryHook] = []  # run once an outage is over: what else was missed meanwhile
        self._wake = threading.Event()
        self._quiet = QuietFailures(log, "journal replay")
        self._since_outage = ReplayStats()
        self._replay_seconds = 0.0
        self._pruned = 0.0

    def wake(self) -> None:
        """Try now rather than at the next poll (an event was journaled)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.round()
            except Exception as exc:
                self._quiet.failed(exc)
                stop.wait(self.poll_seconds)  # the database is not back: new events need not wake us meanwhile
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def start(self) -> Callable[[], None]:
        """Run in a background thread; returns a function that stops it and waits."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="journal-replay", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            self._wake.set()
            thread.join(timeout=30)

        return halt

    def round(self) -> ReplayStats | None:
        """One attempt: when anything waits (or an outage is on), probe the database and replay."""
        if not self.outage.down and not self.journal.files():
            return None
        self._probe()
        started = time.monotonic()
        stats = self.replay()
        self._quiet.succeeded()
        self._since_outage.add(stats)
        self._replay_seconds += time.monotonic() - started
        if self.journal.own_backlog():
            return stats
        done, replayed, seconds = self._since_outage, self._since_outage.total, self._replay_seconds
        self._since_outage, self._replay_seconds = ReplayStats(), 0.0
        window = self.outage.clear(replayed=replayed, replay_seconds=seconds)
        if window is None and done.total:
            log.warning("journal: %d events left by a process that stopped were replayed (%d already applied, "
                        "%d set aside)", done.total, done.duplicates, done.failed)
        if window is not None:
            for hook in self.hooks:
                try:
                    hook(*window)
                except Exception:
                    log.exception("after the outage: %s failed", getattr(hook, "__name__", hook))
        self._prune()
        return stats

    def _probe(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def replay(self) -> ReplayStats:
        """Apply every replayable segment, oldest first; raises (leaving the rest) when the database goes."""
        stats = ReplayStats()
        segments = self.journal.replayable()
        try:
            for segment in segments:
                self._segment(segment, stats)
        finally:
            for segment in segments:
                self.journal.release(segment)
        return stats

    def _segment(self, segment: Segment, stats: ReplayStats) -> None:
        while True:
            entries, offset = self.journal.read(segment, self.batch)
            if entries:
                for kind, group in itertools.groupby(entries, key=lambda e: e.kind):
                    self._apply(kind, list(group), stats)
            if offset == segment.offset:
                break
            self.journal.advance(segment, offset, len(entries))
        self.journal.finish(segment)

    def _apply(self, kind: str, group: list[Entry], stats: ReplayStats) -> None:
        handler = self.handlers.get(kind)
        if handler is None:
            for entry in group:
                self._set_aside(entry, f"no handler for kind {kind!r}")
            stats.failed += len(group)
            return
        try:
            with session_scope(self.engine) as session:
                fresh = _mark_applied(session, group)
                todo = [entry for entry in group if entry.id in fresh]
                if todo:
                    handler(session, todo)
        except Exception as exc:
            if unavailable(exc) is not None:
                raise
            if len(group) == 1:
                log.exception("journaled %s event %s could not be applied; set aside", kind, group[0].id)
                self._set_aside(group[0], repr(exc)[:300])
                stats.failed += 1
                count_journal("failed")
                return
            for entry in group:  # one event the code cannot handle fails alone
                self._apply(kind, [entry], stats)
            return
        stats.applied += len(todo)
        stats.duplicates += len(group) - len(todo)
        count_journal("applied", len(todo))
        count_journal("duplicate", len(group) - len(todo))

    def _set_aside(self, entry: Entry, reason: str) -> None:
        directory = self.journal.directory / "failed"
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / "failed.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, entry.line())
            os.fsync(fd)
        finally:
            os.close(fd)
        log.error("journaled %s event %s set aside in %s: %s", entry.kind, entry.id, directory, reason)

    def _prune(self) -> None:
        if time.monotonic() - self._pruned < 3600:
            return
        self._pruned = time.monotonic()
        with contextlib.suppress(Exception), session_scope(self.engine) as session:
            session.execute(delete(JournalApplied).where(col(JournalApplied.applied_at) < utcnow() - KEEP_APPLIED))


def _mark_applied(session: Session, group: Sequence[Entry]) -> set[str]:
    """Record the events as applied; the ids that were not recorded before (those to apply now)."""
    now = utcnow()
    rows = [{"event_id": entry.id, "kind": entry.kind[:20], "applied_at": now} for entry in group]
    returned = session.connection().execute(_insert(session.get_bind().dialect.name), rows)
    return {str(event_id) for (event_id,) in returned}


@lru_cache(maxsize=2)
def _insert(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(APPLIED).on_conflict_do_nothing(index_elements=["event_id"]).returning(APPLIED.c.event_id)
