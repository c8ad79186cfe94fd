"""A durable, append-only journal of verified webhook events, for when the database does not answer.

Each process appends to a segment file of its own (`<time>-<pid>-<random>.jsonl`, one JSON object a line),
holding an exclusive flock on it while it lives; a batch of events is one write followed by an fsync, so an
event acknowledged to the provider is on disk. A failed write is cut back off the file, so no torn line is
ever followed by another. Segments are removed once every event in them is applied: the owner rotates its
own when it has replayed it all, and any process may replay and remove a segment whose owner died (its lock
is free).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from broadcast.db import utcnow
from broadcast.exceptions import ServiceBusy

log = logging.getLogger(__name__)
SUFFIX = ".jsonl"
ROTATE_BYTES = 16 * 1024 * 1024  # a long outage spreads over several segments, each removed once replayed


class JournalUnavailable(ServiceBusy):
    """The journal cannot take an event (directory not writable, disk full): the webhook answers 503."""


@dataclass(frozen=True)
class Entry:
    """One verified webhook event: `kind` names its handler, `at` is when it was received."""

    kind: str
    data: dict[str, Any]
    at: datetime = field(default_factory=utcnow)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def line(self) -> bytes:
        record = {"id": self.id, "kind": self.kind, "at": self.at.isoformat(), "data": self.data}
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def parse(cls, line: bytes) -> Entry:
        record = json.loads(line)
        return cls(kind=str(record["kind"]), data=dict(record["data"]), at=datetime.fromisoformat(record["at"]),
                   id=str(record["id"]))


@dataclass
class Segment:
    """A segment being replayed: `offset` is how far (in bytes) its events are applied."""

    path: Path
    own: bool
    offset: int = 0
    end: int | None = None  # own active segment: what is known to be written and synced
    lock_fd: int | None = None  # another process's segment: our lock on it while we replay it


@dataclass
class _Active:
    path: Path
    fd: int
    size: int = 0
    events: int = 0


class Journal:
    """The journal directory as this process sees it; thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._active: _Active | None = None
        self._applied = 0  # bytes of the active segment already applied
        self._applied_events = 0
        self.appended = 0  # events this process journaled since it started
        self.replayed = 0  # events this process's replayer applied (or found applied)

    # ---- writing --------------------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        """Write `entries` and fsync them; raises JournalUnavailable when they cannot be made durable."""
        if not entries:
            return
        data = b"".join(entry.line() for entry in entries)
        with self._lock:
            active = self._open()
            try:
                written = 0
                while written < len(data):
                    written += os.write(active.fd, data[written:])
                os.fsync(active.fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(active.fd, active.size)  # never leave a torn line for the next event to follow
                raise JournalUnavailable(f"cannot write the webhook journal in {self.directory}: "
                                         f"{exc.strerror or exc}") from exc
            active.size += len(data)
            active.events += len(entries)
            self.appended += len(entries)
            if active.size >= ROTATE_BYTES:
                self._close(active)  # anyone may now replay it; the next event starts a new segment

    def _open(self) -> _Active:
        if self._active is not None:
            return self._active
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except OSError as exc:
            raise JournalUnavailable(f"cannot create the webhook journal in {self.directory}: "
                                     f"{exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "owned by a live process": others leave it alone
            _sync_directory(self.directory)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise JournalUnavailable(f"cannot create the webhook journal in {self.directory}: "
                                     f"{exc.strerror or exc}") from exc
        self._active, self._applied, self._applied_events = _Active(path, fd), 0, 0
        return self._active

    def _close(self, active: _Active) -> None:
        os.close(active.fd)  # releases the flock
        self._active, self._applied, self._applied_events = None, 0, 0

    # ---- what waits -----------------------------------------------------------------------------

    def own_backlog(self) -> int:
        """Events this process journaled that are not applied yet (new events queue behind them)."""
        with self._lock:
            return self._active.events - self._applied_events if self._active is not None else 0

    def files(self) -> list[Path]:
        """Every segment in the directory, oldest first."""
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        except OSError:
            return []

    def backlog(self) -> int:
        """Events waiting in the directory: this process's not yet applied, and every other segment's."""
        with self._lock:
            own = self._active.path if self._active is not None else None
        total = self.own_backlog()
        for path in self.files():
            if path != own:
                with contextlib.suppress(OSError):
                    total += path.read_bytes().count(b"\n")
        return total

    def oldest(self) -> float | None:
        """Seconds since the oldest waiting segment was started (None when nothing waits)."""
        files = self.files()
        if not files:
            return None
        try:
            started = int(files[0].name.split("-", 1)[0]) / 1e9
        except ValueError:
            return None
        return max(0.0, time.time() - started)

    # ---- replaying ------------------------------------------------------------------------------

    def replayable(self) -> list[Segment]:
        """Segments to replay now: this process's own, and others' whose owner is gone (locked for us)."""
        with self._lock:
            active = self._active
            own = Segment(active.path, own=True, offset=self._applied, end=active.size) if active else None
        segments = []
        for path in self.files():
            if own is not None and path == own.path:
                segments.append(own)
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue  # removed meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # its owner is alive and replays it itself
                continue
            if not path.exists():  # replayed and removed by another process between listing and locking
                os.close(fd)
                continue
            segments.append(Segment(path, own=False, lock_fd=fd))
        return segments

    def read(self, segment: Segment, limit: int) -> tuple[list[Entry], int]:
        """Up to `limit` entries after the segment's offset, and the offset after them."""
        entries: list[Entry] = []
        offset = segment.offset
        with open(segment.path, "rb") as handle:
            handle.seek(offset)
            for line in _lines(handle, segment.end):
                if not line.endswith(b"\n"):
                    break  # a write cut short when its process died: never acknowledged, never applied
                offset += len(line)
                try:
                    entries.append(Entry.parse(line))
                except (ValueError, KeyError, TypeError):
                    log.error("journal %s: an unreadable line at byte %d was skipped", segment.path.name,
                              offset - len(line))
                    continue
                if len(entries) >= limit:
                    break
        return entries, offset

    def advance(self, segment: Segment, offset: int, events: int) -> None:
        """Record that the segment's events up to `offset` are applied."""
        segment.offset = offset
        self.replayed += events
        if segment.own:
            with self._lock:
                if self._active is not None and self._active.path == segment.path:
                    self._applied = offset
                    self._applied_events += events

    def finish(self, segment: Segment) -> bool:
        """Remove a segment whose events are all applied; False when more arrived meanwhile (own segment)."""
        if segment.own:
            with self._lock:
                active = self._active
                if active is not None and active.path == segment.path:
                    if self._applied < active.size:
                        return False
                    self._close(active)
                else:  # rotated while we replayed it: remove it only if nothing was added after what we read
                    try:
                        if segment.path.stat().st_size > segment.offset:
                            return False
                    except FileNotFoundError:
                        return True
            _remove(segment.path)
            return True
        _remove(segment.path)
        self.release(segment)
        return True

    def release(self, segment: Segment) -> None:
        """Let go of another process's segment without removing it (replay stopped part-way)."""
        if segment.lock_fd is not None:
            os.close(segment.lock_fd)
            segment.lock_fd = None

    def close(self) -> None:
        """Stop writing (process exit): the segment stays for the next replayer if anything is left in it."""
        with self._lock:
            if self._active is not None:
                leftover = self._applied < self._active.size
                path = self._active.path
                self._close(self._active)
                if not leftover:
                    _remove(path)


def _lines(handle: Any, end: int | None) -> Iterator[bytes]:
    remaining = None if end is None else end - handle.tell()
    while remaining is None or remaining > 0:
        line = handle.readline() if remaining is None else handle.readline(remaining)
        if not line:
            return
        if remaining is not None:
            remaining -= len(line)
        yield line


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with contextlib.suppress(OSError):
        _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make a file's creation or removal durable (the directory entry, not only the file's data)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
