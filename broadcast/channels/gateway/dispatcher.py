"""One outbox dispatcher per gateway phone (its own rate budget and daily limit), health marks, and
the pool that starts them for the registered phones and probes the phones that are down."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from broadcast.channels.core.claims import Outcome, claim_due, reclaim_stale
from broadcast.channels.core.contract import Result
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.core.screening import Ready, screen
from broadcast.channels.gateway.channel import UNREACHABLE, GatewayChannel, PhoneConfig, message_id
from broadcast.channels.gateway.models import GatewayPhone, PhoneStatus
from broadcast.channels.gateway.routing import phone_may_take, phone_stale
from broadcast.channels.gateway.service import day_start, in_use_today, lock_phone, set_status
from broadcast.config import Settings
from broadcast.journal.outage import QuietFailures
from broadcast.outbox.models import Delivery, DeliveryStatus, WaitingReason

log = logging.getLogger(__name__)
D = DeliveryStatus


class PhoneHealth:
    """Consecutive failures of one phone; marks it down after GATEWAY_DOWN_AFTER_FAILURES, up on an answer."""

    def __init__(self, engine: Engine, name: str, threshold: int, down: bool = False) -> None:
        self.engine, self.name, self.threshold = engine, name, threshold
        self.down = down
        self._failures = 0
        self._lock = threading.Lock()

    def failure(self, reason: str) -> None:
        with self._lock:
            self._failures += 1
            mark = not self.down and self._failures >= self.threshold
            if mark:
                self.down = True
        if mark:
            log.warning("gateway phone %s marked down after %d failures: %s", self.name, self.threshold, reason)
            set_status(self.engine, self.name, PhoneStatus.down, error=reason)

    def success(self, *, record: bool = False) -> None:
        with self._lock:
            self._failures = 0
            was_down, self.down = self.down, False
        if was_down or record:
            if was_down:
                log.warning("gateway phone %s answers again: marked up", self.name)
            set_status(self.engine, self.name, PhoneStatus.up, seen=True)


class GatewayDispatcher(Dispatcher):
    """The outbox dispatcher for one phone: claims the rows routed to it, stamps them with the phone."""

    def __init__(self, engine: Engine, settings: Settings, phone: GatewayPhone, health: PhoneHealth,
                 **kwargs: Any) -> None:
        config = PhoneConfig(phone.name, phone.base_url, phone.login, phone.password,
                             timeout=settings.gateway_timeout_seconds)
        small = settings.model_copy(update={"dispatcher_concurrency": settings.gateway_concurrency})
        self.gateway = GatewayChannel(config)
        # The phone's rate is per minute, and so is its budget's window: every process together sends at most
        # RATE_PER_MINUTE messages in any minute through it.
        super().__init__(engine, small, self.gateway, rate_per_second=phone.rate_per_minute / 60.0, period=60.0,
                         claim_where=phone_may_take(phone.name, settings.gateway_default_route),
                         stale_where=phone_stale(phone.name), paced_campaigns=False, **kwargs)
        self.phone_name, self.daily_limit, self.health = phone.name, phone.daily_limit, health

    def remaining_today(self, conn: Connection) -> int:
        """How many more messages the daily limit allows: sent today, and in hand anywhere, count."""
        return max(0, self.daily_limit - in_use_today(conn, self.phone_name, day_start(self.clock(),
                                                                                       self.settings.zone)))

    def claim_batch(self, limit: int, inflight: Counter[int] | None = None) -> tuple[list[Ready], list[Outcome]]:
        if self.health.down:
            return [], []
        now = self.clock()
        with self.engine.begin() as conn:
            # One claim at a time per phone across every process, counted after the lock: the daily limit
            # holds however many workers send through the phone.
            lock_phone(conn, self.phone_name)
            limit = min(limit, self.remaining_today(conn))
            if limit <= 0:
                return [], []
            claimed = claim_due(conn, worker=self.worker, channel=self.kind, limit=limit, now=now,
                                where=self.claims(inflight))
            if not claimed:
                return [], []
            conn.execute(update(Delivery).where(col(Delivery.id).in_([c.id for c in claimed]))
                         .values(provider=self.gateway.name).execution_options(synchronize_session=False))
            return screen(conn, claimed, self.settings, self.channel, now=now)

    def send_one(self, ready: Ready, claimed_at: float) -> Outcome:
        if self.health.down:
            return Outcome(ready.claimed.id, ready.claimed.attempts, D.queued, Result.released,
                           waiting_reason=WaitingReason.gateway_down)
        outcome = super().send_one(ready, claimed_at)
        if outcome.result == Result.transient and outcome.error_code == UNREACHABLE:
            self.health.failure(outcome.error_message or "unreachable")
            # Never reached the phone: hand the row back at once, without using up an attempt.
            return Outcome(outcome.delivery_id, outcome.attempt, D.queued, Result.released,
                           waiting_reason=WaitingReason.gateway_down)
        if outcome.result == Result.unknown:
            self.health.failure(outcome.error_message or "no answer")
        elif outcome.result in (Result.accepted, Result.permanent) or outcome.result == Result.transient:
            self.health.success()
        return outcome

    def reconcile_stale(self) -> int:
        """Rows left `sending` on this phone: ask the phone for our message id before any resend."""
        now = self.clock()
        with self.engine.begin() as conn:
            stale = reclaim_stale(conn, worker=self.worker, channel=self.kind,
                                  lease_seconds=self.settings.dispatcher_lease_seconds, now=now,
                                  where=self.stale_where)
        outcomes = []
        for row in stale:
            sid = message_id(row.id, row.attempts)
            try:
                state = self.gateway.lookup(sid)
            except Exception as exc:  # the phone is unreachable: ask again after another lease
                log.warning("reconcile delivery %s on %s: %s", row.id, self.phone_name, exc.__class__.__name__)
                continue
            if state is not None:
                outcomes.append(Outcome(row.id, row.attempts, D.sent, Result.accepted, provider=self.gateway.name,
                                        provider_sid=sid, provider_status=state.state.value.lower(),
                                        at=state.created_at or now))
            else:
                outcomes.append(Outcome(row.id, row.attempts, D.queued, Result.not_sent, next_attempt_at=now,
                                        error_message="reconciled: the phone has no such message"))
        self.record(outcomes)
        return len(outcomes)


class GatewayPool:
    """Runs a dispatcher per enabled phone, follows registrations, and probes phones for health."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.dispatchers: dict[str, tuple[tuple[Any, ...], GatewayDispatcher, Callable[[], None]]] = {}
        self.health: dict[str, PhoneHealth] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self) -> None:
        """Start dispatchers for new or changed phones, stop those removed or disabled."""
        with Session(self.engine) as session:
            phones = {p.name: p for p in session.exec(select(GatewayPhone).where(col(GatewayPhone.enabled))).all()}
            for phone in phones.values():
                session.expunge(phone)
        for name in [n for n in self.dispatchers if n not in phones]:
            self._stop_one(name)
        for name, phone in phones.items():
            key = (phone.base_url, phone.login, phone.password, phone.rate_per_minute, phone.daily_limit)
            health = self.health.get(name)
            if health is None:
                health = self.health[name] = PhoneHealth(self.engine, name, self.settings.gateway_down_after_failures)
            health.down = phone.status == PhoneStatus.down  # another process may have marked it
            current = self.dispatchers.get(name)
            if current is not None and current[0] == key:
                continue
            if current is not None:
                self._stop_one(name)
            dispatcher = GatewayDispatcher(self.engine, self.settings, phone, health)
            self.dispatchers[name] = (key, dispatcher, dispatcher.start())
            log.info("gateway phone %s: dispatcher started (%g/min, %d/day)", name, phone.rate_per_minute,
                     phone.daily_limit)

    def _stop_one(self, name: str) -> None:
        _key, _dispatcher, stop = self.dispatchers.pop(name)
        stop()

    def check_health(self) -> None:
        """Ask every phone for /health: marks down phones up again when they answer."""
        for name, (_key, dispatcher, _stop) in list(self.dispatchers.items()):
            health = self.health[name]
            try:
                dispatcher.gateway.health()
            except Exception as exc:
                health.failure(f"health check: {exc.__class__.__name__}")
                continue
            health.success(record=True)

    def run(self) -> None:
        last_health = 0.0
        quiet = QuietFailures(log, "gateway pool")
        while not self._stop.is_set():
            try:
                self.sync()
                quiet.succeeded()
                if time.monotonic() - last_health >= self.settings.gateway_health_seconds:
                    last_health = time.monotonic()
                    self.check_health()
            except Exception as exc:  # the database hiccuped: try again next round
                quiet.failed(exc)
            self._stop.wait(self.settings.gateway_sync_seconds)

    def start(self) -> Callable[[], None]:
        """Run in a background thread; returns a function that stops every phone's dispatcher and waits."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="gateway-pool", daemon=True)
        self._thread.start()

        def stop() -> None:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=10)
            for name in list(self.dispatchers):
                self._stop_one(name)

        return stop
