"""Budget shares through the database: whatever members join, beat, stall or die, the shares they may use in
any window never add up to more than the budget, and the live members end up using all of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.engine import Connection, Engine

from broadcast.channels.core.budget import RateLimiter
from broadcast.channels.core.models import BudgetShare
from broadcast.channels.core.shares import BudgetShares
from tests.conftest import BOTH

pytestmark = BOTH  # advisory locks on PostgreSQL, IMMEDIATE transactions on SQLite

KEY = "sms:twilio:test"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Time:
    """One clock for every member: monotonic seconds, and the same instant as the database's wall time."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def wall(self, _conn: Connection) -> datetime:
        return EPOCH + timedelta(seconds=self.now)


@dataclass
class Process:
    shares: BudgetShares
    limiter: RateLimiter
    alive: bool = True
    usable: list[tuple[float, int]] = field(default_factory=list)  # (from, units it may use) steps

    def note(self, at: float) -> None:
        """Record what the limiter lets this process use from `at`, and when its lease runs out."""
        share = self.limiter.share if at < self.limiter.valid_until else 0
        self.usable.append((at, share))
        if share and self.limiter.valid_until != float("inf"):
            self.usable.append((self.limiter.valid_until, 0))

    def at(self, moment: float) -> int:
        value = 0
        for start, units in sorted(self.usable):
            if start <= moment:
                value = units
        return value


def worst_window(processes: list[Process], window: float) -> int:
    """The most units all processes together may use inside any window of `window` seconds."""
    points = sorted({t for p in processes for t, _ in p.usable})
    worst = 0
    for start in [*points, *(t - window + 1e-6 for t in points)]:
        inside = [t for t in points if start < t < start + window]
        worst = max(worst, sum(max(p.at(t) for t in [start, *inside]) for p in processes))
    return worst


def member(engine: Engine, time: Time, name: str, rate: float = 20.0) -> Process:
    limiter = RateLimiter(rate, guard=0.03, clock=time)
    shares = BudgetShares(engine, name, clock=time, wall=time.wall)
    shares.join(KEY, limiter)
    return Process(shares, limiter)


def may_send(limiter: RateLimiter) -> bool:
    """Whether the limiter grants one unit now, without waiting (the clock is frozen)."""
    answers = iter([False, True])
    return limiter.acquire(1, cancelled=lambda: next(answers))


ACTIONS = st.lists(st.tuples(st.sampled_from(["beat", "beat", "beat", "die", "join"]), st.integers(0, 7),
                             st.floats(0.0, 0.7)), min_size=5, max_size=60)


@pytest.mark.databases("sqlite")  # the rules, explored widely; the SQL of both databases is in the tests below
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, rate=st.sampled_from([20.0, 7.0, 300.0, 1.0, 0.5]))
def test_the_shares_in_any_window_never_exceed_the_budget(engine: Engine, actions: list[tuple[str, int, float]],
                                                          rate: float) -> None:
    with engine.begin() as conn:  # one database for every example
        conn.execute(delete(BudgetShare))
    time = Time()
    processes = [member(engine, time, "m0", rate)]
    processes[0].shares.beat()
    processes[0].note(time.now)
    for action, which, elapsed in actions:
        time.now += elapsed
        alive = [p for p in processes if p.alive]
        if action == "join" or not alive:
            processes.append(member(engine, time, f"m{len(processes)}", rate))
            target = processes[-1]
        else:
            target = alive[which % len(alive)]
        if action == "die" and len(alive) > 1:
            target.alive = False  # SIGKILL: it never beats again, its lease runs out
            continue
        target.shares.beat()
        for process in processes:
            if process.alive:
                process.note(time.now)
    units, window = processes[0].limiter.units, processes[0].limiter.window
    assert worst_window(processes, window) <= units
    # Then every live process beats regularly: the budget is used whole, split evenly between them.
    for _ in range(24):
        time.now += 0.25
        for process in processes:
            if process.alive:
                process.shares.beat()
    live = [p.limiter.share for p in processes if p.alive]
    assert sum(live) == units
    assert max(live) - min(live) <= 1 or rate < len(live)  # a budget under 1/s per process goes whole to one


def test_a_stalled_process_stops_sending_when_its_lease_runs_out(engine: Engine) -> None:
    time = Time()
    first, second = member(engine, time, "first"), member(engine, time, "second")
    first.shares.beat()
    assert first.limiter.share == 20
    second.shares.beat()
    assert second.limiter.share == 0  # the first still holds it all
    for _ in range(8):
        time.now += 0.25
        first.shares.beat()
        second.shares.beat()
    assert (first.limiter.share, second.limiter.share) == (10, 10)
    assert may_send(first.limiter)
    lapsed = time.now + 2.0  # the first's lease, renewed just now
    # The first stalls (no heartbeat) while the second keeps beating: the first refuses to send once its lease
    # is over, and the second takes the whole budget one window after that, not before.
    whole = None
    while whole is None:
        time.now += 0.25
        second.shares.beat()
        if time.now >= lapsed - 0.25:
            assert not may_send(first.limiter)
        if second.limiter.share == 20:
            whole = time.now
    assert lapsed + first.limiter.window <= whole <= lapsed + first.limiter.window + 0.75
    # When the first comes back it starts from nothing and gets its half once the second has given it up.
    first.shares.beat()
    assert first.limiter.share == 0
    for _ in range(12):
        time.now += 0.25
        second.shares.beat()
        first.shares.beat()
    assert (first.limiter.share, second.limiter.share) == (10, 10)


def test_a_process_that_stops_hands_its_share_over_one_window_later(engine: Engine) -> None:
    time = Time()
    first, second = member(engine, time, "first"), member(engine, time, "second")
    for _ in range(10):
        time.now += 0.25
        first.shares.beat()
        second.shares.beat()
    assert may_send(first.limiter)
    first.shares.leave(KEY)
    first.shares.beat()
    assert not may_send(first.limiter)
    second.shares.beat()
    assert second.limiter.share == 10  # the first's last sends are still inside the window
    time.now += 1.3
    second.shares.beat()
    assert second.limiter.share == 20
