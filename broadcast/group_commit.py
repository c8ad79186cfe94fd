"""Group commit for webhooks: concurrent requests share one transaction instead of one each.

Each request still answers only after its own item is committed (nothing is acknowledged and then
lost), but a burst of provider callbacks costs one transaction and a few set-based statements. A
lock conflict (PostgreSQL deadlock, SQLite busy) is retried, because Twilio does not resend a
webhook answered with 5xx; any other failure of a batch is retried item by item, so one message the
code cannot handle fails alone instead of taking the others in its batch with it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from broadcast.journal.outage import unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
MAX_ATTEMPTS = 6


def retryable(exc: OperationalError) -> bool:
    """A lock conflict that a fresh attempt of the same transaction resolves."""
    name = type(exc.orig).__name__
    return name in {"DeadlockDetected", "SerializationFailure", "LockNotAvailable"} or "locked" in str(exc.orig)


class GroupCommit(Generic[T, R]):
    """Collects items from concurrent requests; `write` commits a batch and returns one result per item."""

    def __init__(self, write: Callable[[list[T]], Sequence[R]], *, name: str, max_batch: int = 500) -> None:
        self._write = write
        self._name = name
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: T) -> R:
        """The item's result once it is committed; raises if it could not be written."""
        loop = asyncio.get_running_loop()
        if self._queue is None or self._writer is None or self._writer.done() or self._loop is not loop:
            self._queue, self._loop = asyncio.Queue(), loop
            self._writer = asyncio.create_task(self._run(self._queue))
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[T, asyncio.Future[R]]]) -> None:
        while True:
            batch = [await queue.get()]
            await asyncio.sleep(0)  # let requests that arrived together join this batch
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            await self._settle(batch)

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await run_in_threadpool(self.write, [item for item, _ in batch])
        except Exception as exc:
            if unavailable(exc) is not None:  # the database is down: every item fails alike, the routes journal
                for _, future in batch:
                    _answer(future, exc=exc)
                return
            if len(batch) == 1:
                log.exception("writing one %s failed", self._name)
                _answer(batch[0][1], exc=exc)
                return
            log.warning("a batch of %d %s failed (%s); writing them one by one", len(batch), self._name, exc)
            for pair in batch:
                await self._settle([pair])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _answer(future, result=result)

    def write(self, items: list[T]) -> Sequence[R]:
        """Commit `items` in one transaction, retrying lock conflicts with a growing random pause."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return self._write(items)
            except OperationalError as exc:
                if attempt == MAX_ATTEMPTS or not retryable(exc):
                    raise
                log.info("a batch of %d %s hit a lock conflict (%s); retrying", len(items), self._name, exc.orig)
                time.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")


def _answer(future: asyncio.Future[R], *, result: R | None = None, exc: BaseException | None = None) -> None:
    if future.done():  # the request was cancelled (client went away); its item is written all the same
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
