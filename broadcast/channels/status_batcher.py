"""Group commit for status callbacks: concurrent webhook requests share one transaction.

Each request still answers only after its report is committed (nothing is acknowledged and then lost),
but a burst of callbacks costs one transaction and one statement per target state instead of one
transaction per request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from broadcast.channels.status import StatusReport, apply_statuses

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6


def retryable(exc: OperationalError) -> bool:
    """A lock conflict that a fresh attempt of the same transaction resolves."""
    name = type(exc.orig).__name__
    return name in {"DeadlockDetected", "SerializationFailure", "LockNotAvailable"} or "locked" in str(exc.orig)


class StatusBatcher:
    """Collects reports from concurrent requests and writes them together (at most `max_batch`)."""

    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[StatusReport, asyncio.Future[None]]] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, report: StatusReport) -> None:
        """Return once `report` is committed; raises if the write failed (the provider will retry)."""
        if self._queue is None or self._writer is None or self._writer.done():
            self._queue = asyncio.Queue()
            self._writer = asyncio.create_task(self._run(self._queue))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((report, future))
        await future

    async def _run(self, queue: asyncio.Queue[tuple[StatusReport, asyncio.Future[None]]]) -> None:
        while True:
            batch = [await queue.get()]
            await asyncio.sleep(0)  # let requests that arrived together join this batch
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await run_in_threadpool(self._write, [report for report, _ in batch])
            except Exception as exc:  # answer every waiting request with the failure
                log.exception("writing %d status reports failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    def _write(self, reports: list[StatusReport]) -> None:
        # The dispatcher records outcomes on the same rows at the same time: rows are locked in id order on
        # both sides, and a deadlock (or SQLite's busy lock) that still happens is retried, not returned
        # as an error (Twilio does not resend a callback that got a 5xx).
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._engine.begin() as conn:
                    apply_statuses(conn, reports)
                return
            except OperationalError as exc:
                if attempt == MAX_ATTEMPTS or not retryable(exc):
                    raise
                log.info("status batch of %d hit a lock conflict (%s); retrying", len(reports), exc.orig)
                time.sleep(random.uniform(0.01, 0.05) * attempt)
