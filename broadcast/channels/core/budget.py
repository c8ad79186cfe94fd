"""A send budget in units per second (SMS segments, calls, a phone's messages), never exceeded in any window.

This is one process's side of a budget. Several processes share a budget through the database
(core/shares.py): each holds a share of the budget's units, set here with `set_share`, and may use it only
while its lease is valid (`renew`); the shares of all processes never add up to more than the budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def budget_window(rate: float, period: float = 1.0) -> tuple[int, float]:
    """(units, seconds): the budget as whole units per window; a rate below one unit per period gets a longer
    window (0.5 calls/s: 1 call per 2 s), so there is always at least one unit to share."""
    if rate <= 0 or period <= 0:
        raise ValueError("rate and period must be positive")
    seconds = max(period, 1.0 / rate)
    return max(1, math.floor(rate * seconds + 1e-9)), seconds


class RateLimiter:
    """Paces sends evenly and guards a strict sliding window: at most `share` units in any window.

    The budget is `rate` units/s counted over `period` seconds (1 for SMS and calls, 60 for a phone's
    per-minute rate): `units` per `period`. Pacing (a virtual clock advancing window/share per unit) spreads
    sends instead of bursting; the sliding window refuses a send that would put more than `share` units inside
    any window, even when threads wake up late and bunch together.

    `guard` (a fraction) widens that window to period × (1 + guard) and slows the pacing to match, so requests
    that reach the provider up to `guard` periods unevenly (a GC pause, a slow TLS handshake) still arrive
    within the budget in every period there; it costs a guard/(1 + guard) share of the rate.

    The share starts at the whole budget (one process alone); `set_share(0)` or a lease that ran out
    (`renew`) makes `acquire` wait.
    """

    def __init__(self, rate: float, *, period: float = 1.0, guard: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if guard < 0:
            raise ValueError("guard must be >= 0")
        self.units, seconds = budget_window(rate, period)
        self.budget_rate, self.period = rate, period
        self.seconds = seconds  # the window the budget is counted over, before the guard
        self.window = seconds * (1.0 + guard)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._share = self.units
        self._valid_until = math.inf
        self._next_slot = 0.0
        self._sent: deque[tuple[float, int]] = deque()  # (time, units) of recent sends
        self._in_window = 0
        self._held = 0  # units granted to requests not written yet (see `hold`)

    @property
    def share(self) -> int:
        return self._share

    @property
    def valid_until(self) -> float:
        """When the share's lease runs out (on this limiter's clock) unless renewed."""
        return self._valid_until

    @property
    def rate(self) -> float:
        """Units per second this process may send now (its share of the budget)."""
        return self._share / self.seconds

    def set_share(self, units: int) -> None:
        """Use `units` of the budget's units per window from now on (0: send nothing)."""
        with self._lock:
            self._share = max(0, min(units, self.units))

    def renew(self, until: float) -> None:
        """Send only until `until` (on this limiter's clock), when the share's lease runs out unless renewed."""
        with self._lock:
            self._valid_until = until

    def acquire(self, units: int = 1, *, cancelled: Callable[[], bool] | None = None) -> bool:
        """Block until `units` may be sent now; False if `cancelled()` turned true while waiting.

        A message larger than the whole share still goes, alone in its window.
        """
        return self._take(units, cancelled, held=False) is not None

    def hold(self, units: int = 1, *, cancelled: Callable[[], bool] | None = None) -> Hold | None:
        """Like `acquire`, for a request about to be written: the units count as sent *now* until `Hold.written()`
        records when they really left, so a thread delayed between the grant and the wire delays this process's
        next grants instead of bunching with them. None if cancelled."""
        return self._take(units, cancelled, held=True)

    def _take(self, units: int, cancelled: Callable[[], bool] | None, *, held: bool) -> Hold | None:
        units = max(1, units)
        slot: float | None = None
        step = 0.0
        while True:
            if cancelled is not None and cancelled():
                if slot is not None:
                    # Give the paced slot back. Otherwise requests that give up (their deadline passed while
                    # they waited) would push every later slot further out, until each new request's slot lay
                    # beyond its own deadline too and nothing was sent at all.
                    with self._lock:
                        self._next_slot = max(self._clock(), self._next_slot - step)
                return None
            with self._lock:
                now = self._clock()
                share = self._share if now < self._valid_until else 0
                if share <= 0:
                    wait = 0.05
                else:
                    if slot is None:
                        slot = max(self._next_slot, now)
                        step = min(units, share) * self.window / share
                        self._next_slot = slot + step
                    if now < slot:
                        wait = slot - now
                    else:
                        while self._sent and self._sent[0][0] <= now - self.window:
                            self._in_window -= self._sent.popleft()[1]
                        used = self._in_window + self._held
                        if used + units <= share or (used == 0 and units > share):
                            if held:
                                self._held += units
                            else:
                                self._sent.append((now, units))
                                self._in_window += units
                            return Hold(self, units, held)
                        # a held request leaves within milliseconds: look again soon
                        wait = self._sent[0][0] + self.window - now if self._sent else 0.002
            self._sleep(min(max(wait, 0.001), 0.05))

    def _written(self, units: int) -> None:
        with self._lock:
            self._held -= units
            self._sent.append((self._clock(), units))
            self._in_window += units


class Hold:
    """Units granted to one request; for a hold, `written()` records when the request left."""

    def __init__(self, limiter: RateLimiter, units: int, held: bool) -> None:
        self._limiter, self._units, self._open = limiter, units, held

    def written(self) -> None:
        if self._open:
            self._open = False
            self._limiter._written(self._units)


# ---- the gate: take the budget at the last moment before the request leaves --------------------------------
#
# Between a grant and the request reaching the provider, a thread can wait for the GIL or the CPU; requests that
# wait bunch up at the provider. Channels whose HTTP client supports it (Twilio's) pass the gate right before the
# first byte is written, once the connection is made, and say when the request is written: the grant is taken as
# late as possible, and a request delayed after it still counts as leaving now until it has left.

_gate = threading.local()


class GateClosed(Exception):
    """The budget was not granted (the message was halted or its time ran out): nothing was written."""


@contextmanager
def gated(take: Callable[[], Hold | None]) -> Iterator[Callable[[], bool]]:
    """While the block runs, this thread's next request passes `take` right before it is written.

    Yields `passed()`: whether the gate was passed (a channel that never reached it sent nothing).
    """
    _gate.take, _gate.hold, _gate.passed = take, None, False
    try:
        yield lambda: bool(getattr(_gate, "passed", False))
    finally:
        gate_written()
        _gate.take = None


def pass_gate() -> None:
    """Called by an HTTP connection right before it writes a request: waits for the budget, once per block."""
    take = getattr(_gate, "take", None)
    if take is None or _gate.passed:
        return
    hold = take()
    if hold is None:
        raise GateClosed("not granted")
    _gate.hold, _gate.passed = hold, True


def gate_written() -> None:
    """Called once the request's first bytes are written (or failed to be): they left now."""
    hold = getattr(_gate, "hold", None)
    if hold is not None:
        _gate.hold = None
        hold.written()
