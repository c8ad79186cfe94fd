"""Global budgets: every sending process holds a leased share of each budget in the database.

A budget (a Twilio sender's segments per second, a phone's messages per minute, a campaign's own rate) is
a whole number of units per window. Every dispatcher that sends through it is a member: a row in
`budget_share` with its share, renewed by a heartbeat. The members' shares never add up to more than the
budget, so the provider never sees more than the budget in any window, however many processes and machines
send. Each process enforces its own share locally (core/budget.py: pacing and a strict sliding window), so no
message costs a database round trip.

The rules every member applies at each heartbeat, in one transaction that holds the budget's lock:

- The budget's units are split evenly among the live members, oldest first (one member alone has it all;
  a budget under one unit per second goes whole to the oldest member rather than in slivers).
- Lowering a share takes effect at once. Raising one only uses room the others do not hold: a member counts,
  for every other member, its share, and for one window after a change (or after its lease ran out) also
  what it held before, since those sends are still inside the window.
- A member sends only while its lease is valid (it stops `margin` before its row expires), so when a process
  dies or stalls the others take its share over one window after its lease ran out.

So a process that starts gets its share within about two heartbeats and one window; one that dies (SIGKILL)
hands its share over within its lease plus one window (about 3.5 s for a per-second budget).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from broadcast.channels.core.budget import RateLimiter, budget_window
from broadcast.channels.core.models import BudgetShare
from broadcast.db import utcnow
from broadcast.journal.outage import QuietFailures

log = logging.getLogger(__name__)

LEASE_SECONDS = 2.0  # a member that has not renewed for this long is gone
HEARTBEAT_SECONDS = 0.25
# Between processes: a heartbeat's commit, thread wake-ups and clock differences between machines (on
# PostgreSQL every time comes from the database server's clock, so only the first two).
MARGIN_SECONDS = 0.25
LOCK_CLASS = 0x62756467  # "budg": the first half of the transaction-level advisory lock on a budget's key


@dataclass(frozen=True)
class Member:
    """One row of `budget_share`, as a heartbeat reads it."""

    member: str
    rate: float
    period: float
    share: int
    previous: int
    changed_at: datetime
    joined_at: datetime
    expires_at: datetime

    def held(self, now: datetime, window: timedelta) -> int:
        """Units this member may have sent, or may still send, inside a window that starts now: its share while
        its lease lasts (it stopped by `expires_at`), and what it held before a change less than a window ago."""
        current = self.share if now < self.expires_at + window else 0
        before = self.previous if now < self.changed_at + window else 0
        return max(current, before)


def targets(live: Sequence[Member]) -> dict[str, int]:
    """Each live member's fair share: the units split evenly, oldest first, never below one unit per second."""
    rate = min(m.rate for m in live)
    units, seconds = budget_window(rate, max(m.period for m in live))
    ordered = sorted(live, key=lambda m: (m.joined_at, m.member))
    holders = min(len(ordered), units, max(1, math.floor(units / seconds + 1e-9)))
    base, extra = divmod(units, holders)
    return {m.member: (base + (i < extra) if i < holders else 0) for i, m in enumerate(ordered)}


def decide(rows: Sequence[Member], me: str, now: datetime, window: timedelta) -> int:
    """My share from now: my fair share, as far as the room the others still hold allows."""
    live = [m for m in rows if m.expires_at > now]
    target = targets(live)[me]
    rate = min(m.rate for m in live)
    units, _ = budget_window(rate, max(m.period for m in live))
    others = sum(m.held(now, window) for m in rows if m.member != me)
    return max(0, min(target, units - others))


@dataclass
class _Budget:
    key: str
    limiter: RateLimiter
    rate: float
    period: float


def database_now(conn: Connection) -> datetime:
    """The time every process agrees on: the PostgreSQL server's clock; SQLite is one machine, its own clock."""
    if conn.dialect.name == "postgresql":
        value = conn.execute(text("SELECT statement_timestamp()")).scalar_one()
        assert isinstance(value, datetime)
        return value
    return utcnow()


def _lock(conn: Connection, key: str) -> None:
    """Serialise the heartbeats of one budget (SQLite transactions already begin IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:cls, :key)"),
                     {"cls": LOCK_CLASS, "key": zlib.crc32(key.encode()) - 2**31})


class BudgetShares:
    """One member's leases: joins budgets, renews them by heartbeat and sets its limiters to its shares."""

    def __init__(self, engine: Engine, member: str, *, lease: float = LEASE_SECONDS,
                 heartbeat: float = HEARTBEAT_SECONDS, margin: float = MARGIN_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[Connection], datetime] = database_now) -> None:
        """`clock` is the limiters' clock (leases run out on it); `wall` the time the members share."""
        self.engine, self.member = engine, member[:120]
        self.lease, self.heartbeat, self.margin, self.clock, self.wall = lease, heartbeat, margin, clock, wall
        self._budgets: dict[str, _Budget] = {}
        self._leaving: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def join(self, key: str, limiter: RateLimiter) -> None:
        """Take part in budget `key` (the limiter's rate and period); its limiter sends nothing until a
        heartbeat grants it a share."""
        limiter.set_share(0)
        with self._lock:
            self._budgets[key] = _Budget(key, limiter, limiter.budget_rate, limiter.period)
            self._leaving.discard(key)

    def leave(self, key: str) -> None:
        """Stop using budget `key`: its limiter sends no more from now; the others take its share over one
        window after the next heartbeat."""
        with self._lock:
            budget = self._budgets.pop(key, None)
            if budget is not None:
                budget.limiter.renew(-math.inf)
                self._leaving.add(key)

    def keys(self) -> set[str]:
        with self._lock:
            return set(self._budgets)

    def beat(self) -> None:
        """Renew every lease, take this member's share of each budget, and give up the budgets it left."""
        started = self.clock()
        with self._lock:
            budgets = dict(self._budgets)
            leaving = set(self._leaving)
        raised: list[tuple[RateLimiter, int]] = []
        with self.engine.begin() as conn:
            now = self.wall(conn)
            for key in sorted(set(budgets) | leaving):  # one lock order for every member: no deadlock
                _lock(conn, key)
                if key in budgets:
                    new = self._renew(conn, budgets[key], now)
                    limiter = budgets[key].limiter
                    if new < limiter.share:
                        limiter.set_share(new)  # lower at once, before the others can count on it
                    elif new > limiter.share:
                        raised.append((limiter, new))
                else:
                    conn.execute(update(BudgetShare).where(col(BudgetShare.key) == key,
                                                           col(BudgetShare.member) == self.member)
                                 .values(expires_at=now))
        with self._lock:
            self._leaving -= leaving
        for limiter, new in raised:  # raise only once the others can see it
            limiter.set_share(new)
        until = started + self.lease - self.margin
        for budget in budgets.values():
            budget.limiter.renew(until)

    def _renew(self, conn: Connection, budget: _Budget, now: datetime) -> int:
        window = timedelta(seconds=budget.limiter.window + self.margin)
        rows = [Member(**row._asdict()) for row in conn.execute(
            select(col(BudgetShare.member), col(BudgetShare.rate), col(BudgetShare.period), col(BudgetShare.share),
                   col(BudgetShare.previous), col(BudgetShare.changed_at), col(BudgetShare.joined_at),
                   col(BudgetShare.expires_at))
            .where(col(BudgetShare.key) == budget.key))]
        mine = next((m for m in rows if m.member == self.member), None)
        expires = now + timedelta(seconds=self.lease)
        if mine is None:
            mine = Member(self.member, budget.rate, budget.period, 0, 0, now, now, expires)
            conn.execute(insert(BudgetShare).values(key=budget.key, **mine.__dict__))
        elif mine.expires_at <= now:  # my lease ran out (a stall): I stopped sending then, and start again at 0
            mine = Member(self.member, budget.rate, budget.period, 0, max(mine.share, mine.previous),
                          mine.expires_at, mine.joined_at, expires)
        else:
            mine = Member(self.member, budget.rate, budget.period, mine.share, mine.previous, mine.changed_at,
                          mine.joined_at, expires)
        rows = [m for m in rows if m.member != self.member] + [mine]
        new = decide(rows, self.member, now, window)
        changed = new != mine.share
        # What I held within the last window stays counted for a window from now (two changes in a row must not
        # forget the larger share before them).
        before = max(mine.share, mine.previous if now < mine.changed_at + window else 0)
        conn.execute(update(BudgetShare).where(col(BudgetShare.key) == budget.key,
                                               col(BudgetShare.member) == self.member)
                     .values(rate=budget.rate, period=budget.period, share=new,
                             previous=before if changed else mine.previous,
                             changed_at=now if changed else mine.changed_at, expires_at=expires))
        gone = [m.member for m in rows if m.expires_at + window <= now]
        if gone:
            conn.execute(delete(BudgetShare).where(col(BudgetShare.key) == budget.key,
                                                   col(BudgetShare.member).in_(gone)))
        return new

    # ---- the heartbeat thread ----------------------------------------------------------------------

    def run(self) -> None:
        quiet = QuietFailures(log, f"budget heartbeat {self.member}")
        while not self._stop.is_set():
            try:
                self.beat()
                quiet.succeeded()
            except Exception as exc:  # the database hiccuped: the leases run out and sending pauses until it answers
                quiet.failed(exc)  # an outage: one line when it starts, one when it ends (it beats 4 times a second)
            self._stop.wait(self.heartbeat)

    def start(self) -> Callable[[], None]:
        """Beat once now (a member alone gets its share at once), then in a thread; returns stop()."""
        try:
            self.beat()
        except Exception:
            log.exception("budget heartbeat failed")
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"budget-{self.member}", daemon=True)
        self._thread.start()

        def stop() -> None:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=10)
            for key in self.keys():
                self.leave(key)
            try:
                self.beat()  # give the shares back now rather than when the leases run out
            except Exception:
                log.exception("giving budget shares back failed; they lapse with their leases")

        return stop
