"""The calls dispatcher: the outbox dispatcher with the voice rate budget, plus a sweep that asks the
provider about calls whose final status callback never came."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.voice.calls import FINAL_CALL_STATUSES, CallReport, apply_call_status
from broadcast.channels.voice.channel import CallChannel
from broadcast.config import Settings
from broadcast.journal.outage import QuietFailures
from broadcast.outbox.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)

class VoiceDispatcher(Dispatcher):
    """The outbox dispatcher for calls, which also asks the provider about calls whose final status
    callback never came (lost webhook, or one that arrived before the call's own record)."""

    def __init__(self, engine: Engine, settings: Settings, channel: CallChannel, **kwargs: Any) -> None:
        kwargs.setdefault("rate_per_second", settings.voice_rate_per_second)
        super().__init__(engine, settings, channel, **kwargs)
        self.voice_channel = channel
        self._checked = 0.0
        self._quiet_calls = QuietFailures(log, "checking silent calls")

    def settle(self) -> None:
        now = time.monotonic()
        if now - self._checked > min(30.0, self.settings.voice_status_timeout_seconds / 2):
            self._checked = now
            try:
                self.check_silent_calls()
                self._quiet_calls.succeeded()
            except Exception as exc:  # the provider or database hiccuped: next time
                self._quiet_calls.failed(exc)
        super().settle()

    def check_silent_calls(self, limit: int = 20) -> int:
        """Apply the provider's final status to calls silent for VOICE_STATUS_TIMEOUT_SECONDS."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.settings.voice_status_timeout_seconds)
        with Session(self.engine) as session:
            silent = session.exec(select(Delivery.id, Delivery.provider_sid).where(
                Delivery.channel == "voice", Delivery.status == DeliveryStatus.sent,
                col(Delivery.updated_at) < cutoff, col(Delivery.provider_sid).is_not(None)).limit(limit)).all()
        applied = 0
        for delivery_id, sid in silent:
            assert delivery_id is not None and sid is not None
            report = CallReport.from_params(self.voice_channel.fetch_call(sid))
            with Session(self.engine) as session:
                if report.status in FINAL_CALL_STATUSES:
                    applied += apply_call_status(session, self.settings, report, delivery_id=delivery_id,
                                                 now=now) != "stale"
                else:  # still ringing or talking: ask again after another timeout
                    session.execute(update(Delivery).where(col(Delivery.id) == delivery_id)
                                    .values(updated_at=now).execution_options(synchronize_session=False))
                session.commit()
        return applied
