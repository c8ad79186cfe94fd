"""Reconciliation of final states: SMS the provider accepted but whose final status callback never came
(lost in an outage, dropped by the provider) are looked up at the provider, through the Channel contract
(`fetch_status`), so Twilio and the gateway phones get it alike.

A message silent for SMS_STATUS_TIMEOUT_SECONDS is asked about, SMS_RECONCILE_BATCH at a time and at most
SMS_RECONCILE_PER_SECOND look-ups a second; a final state is applied like a callback (updates only move
forward); a message still without one is asked about again after another timeout, until
SMS_STATUS_GIVE_UP_SECONDS after sending, when it is recorded `unknown`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from broadcast.channels.core.budget import RateLimiter
from broadcast.channels.core.claims import claim_unsettled, give_up
from broadcast.channels.core.contract import Channel
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.instruments import count_lookups
from broadcast.journal.outage import QuietFailures
from broadcast.outbox.models import FINAL_STATUSES
from broadcast.outbox.status import TWILIO_STATUS, StatusReport, apply_statuses

log = logging.getLogger(__name__)


@dataclass
class Reconciled:
    """What one round found."""

    asked: int = 0
    final: int = 0
    pending: int = 0  # the provider has no final state yet: asked again after another timeout
    gave_up: int = 0  # recorded `unknown`
    failed: int = 0  # the provider could not be asked: asked again after another timeout


class StatusReconciler:
    """Runs beside a dispatcher whose channel can look up a message's status."""

    def __init__(self, engine: Engine, settings: Settings, channel: Channel, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.engine, self.settings, self.channel, self.clock = engine, settings, channel, clock
        self.limiter = RateLimiter(settings.sms_reconcile_per_second)
        self.period = max(0.5, min(30.0, settings.sms_status_timeout_seconds / 2))
        self._quiet = QuietFailures(log, f"status reconciliation ({channel.name})")
        self._stop = threading.Event()
        self._failing_since: datetime | None = None  # the provider could not be asked: logged once

    def run_once(self) -> Reconciled:
        """Ask about one batch of silent messages and record what the provider says."""
        now = self.clock()
        found = Reconciled()
        with self.engine.begin() as conn:
            rows = claim_unsettled(conn, channel=self.channel.delivery_channel, provider=self.channel.name,
                                   older_than=now - timedelta(seconds=self.settings.sms_status_timeout_seconds),
                                   now=now, limit=self.settings.sms_reconcile_batch)
        reports, expired, error = [], [], ""
        give_up_before = now - timedelta(seconds=self.settings.sms_status_give_up_seconds)
        for row in rows:
            if not self.limiter.acquire(1, cancelled=self._stop.is_set):
                break  # stopping: the rest are asked about after another timeout
            found.asked += 1
            try:
                status = self.channel.fetch_status(row.provider_sid)
            except Exception as exc:  # the provider cannot be asked now: again after another timeout
                found.failed += 1
                error = error or f"{exc.__class__.__name__}: {exc}"[:200]
                continue
            target = TWILIO_STATUS.get(status.status.lower()) if status is not None else None
            if status is not None and target in FINAL_STATUSES:
                reports.append(StatusReport(provider_sid=row.provider_sid, provider_status=status.status,
                                            error_code=status.error_code, at=self.clock(), delivery_id=row.id))
                found.final += 1
            elif row.sent_at is not None and row.sent_at < give_up_before:
                expired.append(row.id)
            else:
                found.pending += 1
        with self.engine.begin() as conn:
            apply_statuses(conn, reports)
            hours = self.settings.sms_status_give_up_seconds / 3600
            found.gave_up = give_up(conn, expired, now=now,
                                    reason=f"no final status from the provider {hours:g} h after sending")
        count_lookups(self.channel.name, found.final, found.pending, found.gave_up, found.failed)
        self._log_provider(found, error, now)
        return found

    def _log_provider(self, found: Reconciled, error: str, now: datetime) -> None:
        """One line when look-ups start failing, one when they answer again (not one per round)."""
        if found.failed and self._failing_since is None:
            self._failing_since = now
            log.warning("status reconciliation (%s): %d of %d look-ups failed (%s); asking again after each "
                        "timeout until the provider answers", self.channel.name, found.failed, found.asked, error)
        elif found.asked > found.failed and self._failing_since is not None:
            log.warning("status reconciliation (%s): the provider answers look-ups again after %.0f s",
                        self.channel.name, (now - self._failing_since).total_seconds())
            self._failing_since = None

    def run(self, stop: threading.Event) -> None:
        """Reconcile every period (at once again while batches come back full) until `stop` is set."""
        self._stop = stop
        while not stop.is_set():
            try:
                found = self.run_once()
                self._quiet.succeeded()
            except Exception as exc:
                self._quiet.failed(exc)
                found = Reconciled()
            if found.asked < self.settings.sms_reconcile_batch or found.failed:
                stop.wait(self.period)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name=f"reconcile-{self.channel.name}",
                                  daemon=True)
        thread.start()
        return thread
