"""A per-channel send budget in units per second (SMS segments, calls), never exceeded in any 1 s window."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """Paces sends evenly at `rate` units/s and guards a strict sliding one-second window.

    Pacing (a virtual clock advancing 1/rate per unit) spreads sends instead of bursting; the
    sliding window refuses a send that would put more than `rate` units inside any second,
    even when threads wake up late and bunch together.

    `guard` (seconds) widens that window to 1 + guard and slows the pacing to match, so requests
    that reach the provider up to `guard` s unevenly (a GC pause, a slow TLS handshake) still
    arrive within the budget in every second there; it costs a guard/(1 + guard) share of the rate.
    """

    def __init__(self, rate: float, *, guard: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if guard < 0:
            raise ValueError("guard must be >= 0")
        self._rate = rate
        self._span = 1.0 + guard
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._window: deque[tuple[float, int]] = deque()  # (time, units) of recent sends
        self._in_window = 0

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self._rate = rate

    def acquire(self, units: int = 1, *, cancelled: Callable[[], bool] | None = None) -> bool:
        """Block until `units` may be sent now; False if `cancelled()` turned true while waiting."""
        units = max(1, units)
        capacity = max(1, int(self._rate))
        units = min(units, capacity)  # a message larger than a whole second's budget still goes alone
        with self._lock:
            now = self._clock()
            slot = max(self._next_slot, now)
            self._next_slot = slot + units * self._span / self._rate
        while True:
            if cancelled is not None and cancelled():
                return False
            now = self._clock()
            if now < slot:
                self._sleep(min(slot - now, 0.05))
                continue
            with self._lock:
                now = self._clock()
                while self._window and self._window[0][0] <= now - self._span:
                    self._in_window -= self._window.popleft()[1]
                if self._in_window + units <= capacity:
                    self._window.append((now, units))
                    self._in_window += units
                    return True
                wait = self._window[0][0] + self._span - now
            self._sleep(min(max(wait, 0.001), 0.05))
