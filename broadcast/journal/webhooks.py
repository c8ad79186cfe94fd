"""Apply a verified webhook's event now, or journal it and answer 200 like an applied one.

`apply_or_journal` is what every webhook route calls after checking the signature. While the database is
known to be down, or events journaled by this process still wait, the event goes straight to the journal (in
order behind them). Otherwise it is applied; if the database fails with an outage error, or has not finished
after JOURNAL_AFTER_SECONDS, the event is journaled instead (an application that finishes later anyway is
harmless: every handler is idempotent). Only when the journal cannot take it either does the route answer
503, so the provider's record shows the loss.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

from broadcast.db import utcnow
from broadcast.instruments import count_journal
from broadcast.journal.outage import Outage, unavailable
from broadcast.journal.replay import Replayer
from broadcast.journal.store import Entry, Journal, JournalUnavailable

log = logging.getLogger("broadcast.outage")
T = TypeVar("T")
REFUSAL_LOG_SECONDS = 60.0


class JournalWriter:
    """Group commit for the journal: events arriving together are written with one fsync, in a thread of the
    journal's own (a database outage may have taken every thread of the shared pool)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="journal-write")
        self._queue: asyncio.Queue[tuple[Entry, asyncio.Future[None]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def write(self, entry: Entry) -> None:
        """Return once `entry` is on disk; raises JournalUnavailable when it cannot be."""
        loop = asyncio.get_running_loop()
        if self._queue is None or self._task is None or self._task.done() or self._loop is not loop:
            self._queue, self._loop = asyncio.Queue(), loop
            self._task = asyncio.create_task(self._run(self._queue))
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put_nowait((entry, future))
        await future

    async def _run(self, queue: asyncio.Queue[tuple[Entry, asyncio.Future[None]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            await asyncio.sleep(0)
            while len(batch) < 1000 and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await loop.run_in_executor(self._executor, self.journal.append, [e for e, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


@dataclass
class Reliability:
    """What the webhook routes share in one process: the journal, its writer, the outage, the replayer."""

    journal: Journal
    outage: Outage
    after_seconds: float
    writer: JournalWriter
    replayer: Replayer | None = None
    _refusal: tuple[str, float] = field(default=("", 0.0))

    @classmethod
    def create(cls, directory: Path, after_seconds: float) -> Reliability:
        journal = Journal(directory)
        return cls(journal, Outage(directory), after_seconds, JournalWriter(journal))

    def must_journal(self) -> bool:
        return self.outage.down or self.journal.own_backlog() > 0

    def refused(self, reason: str) -> None:
        """A webhook answered 503: say why, once per reason (and again each minute it goes on)."""
        self.outage.count(refused=1)
        last, at = self._refusal
        if reason != last or time.monotonic() - at > REFUSAL_LOG_SECONDS:
            self._refusal = (reason, time.monotonic())
            log.error("webhook answered 503, nothing acknowledged (the provider keeps its record): database "
                      "unavailable (%s) and %s", self.outage.reason or "no answer", reason)


def reliability(request: Request) -> Reliability:
    found: Reliability = request.app.state.reliability
    return found


async def journal_event(state: Reliability, entry: Entry) -> None:
    """Journal one event (the route then answers 200); JournalUnavailable (503) when it cannot be kept."""
    try:
        await state.writer.write(entry)
    except JournalUnavailable as exc:
        state.refused(exc.message)
        raise
    state.outage.count(journaled=1)
    count_journal("journaled")
    if state.replayer is not None:
        state.replayer.wake()


async def apply_or_journal(request: Request, kind: str, data: dict[str, Any],
                           apply: Callable[[], Awaitable[T]], *, ordered: bool = True,
                           cancellable: bool = False) -> T | None:
    """`apply()`'s result, or None when the event was journaled instead.

    `ordered`: the event must not overtake events this process journaled before (writes); a read-mostly
    route (TwiML) passes False and skips the database only while an outage is known.
    `cancellable`: giving up waiting on `apply()` leaves its work going on by itself (a group commit keeps the
    item); then it is awaited directly, which is cheaper than watching it from a task of its own.
    """
    state = reliability(request)
    received = utcnow()  # the time the provider reported, for the replay
    if state.outage.down or (ordered and state.journal.own_backlog() > 0):
        await journal_event(state, Entry(kind, data, at=received))
        return None
    if cancellable:
        try:
            async with asyncio.timeout(state.after_seconds):
                return await apply()
        except TimeoutError:
            reason = f"no answer within {state.after_seconds:g} s"
        except Exception as exc:
            found = unavailable(exc)
            if found is None:
                raise
            reason = found
        state.outage.trip(reason)
        await journal_event(state, Entry(kind, data, at=received))
        return None
    task = asyncio.ensure_future(apply())
    try:
        finished = await _within(task, state.after_seconds)
    except Exception as exc:
        found = unavailable(exc)
        if found is None:
            raise
        reason = found
    else:
        if finished:
            return task.result()
        reason = f"no answer within {state.after_seconds:g} s"
        task.add_done_callback(_consume)  # it may still finish; the journaled copy then changes nothing
    state.outage.trip(reason)
    await journal_event(state, Entry(kind, data, at=received))
    return None


async def _within(task: asyncio.Future[Any], seconds: float) -> bool:
    """Wait up to `seconds` for `task` without cancelling it; True when it finished (its error is raised).

    (A plain waiter and a timer: asyncio.wait_for with shield cost four times as much on this hot path.)
    """
    if not task.done():
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer = loop.call_later(seconds, wake)
        task.add_done_callback(wake)
        try:
            await waiter
        finally:
            timer.cancel()
            task.remove_done_callback(wake)
    if not task.done():
        return False
    task.result()
    return True


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
