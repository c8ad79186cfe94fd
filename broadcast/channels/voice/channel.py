"""Calls as a channel: Twilio Programmable Voice with the hooks that make a delivery a call.

A call plays a rendered clip (or reads the script) inside the campaign's calling window; a resident who
pressed 9 refused calls, not SMS; a call costs one unit of the calls-per-second budget; and a call has no
text, so reconciliation takes any call to the number that no delivery or earlier attempt owns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from sqlalchemy.engine import Connection
from sqlmodel import col, select

from broadcast.channels.core.contract import Composed, OutboundMessage, Prepared, ProviderMessage
from broadcast.channels.twilio.voice import TwilioVoiceChannel
from broadcast.channels.voice.dispatch import plan_calls
from broadcast.config import Settings
from broadcast.outbox.models import DeliveryAttempt


class CallChannel(TwilioVoiceChannel):
    """Campaign, callback and missed-call calls through Twilio."""

    delivery_channel: ClassVar[str] = "voice"
    carries_links: ClassVar[bool] = False

    def opted_out(self, *, sms: bool, voice: bool) -> bool:
        return voice

    def units(self, message: OutboundMessage) -> int:
        return 1

    def budget_key(self, settings: Settings) -> str:
        """VOICE_RATE_PER_SECOND is the account's calls per second (Twilio counts CPS per account)."""
        return f"voice:twilio:{settings.twilio_account_sid}"

    def prepare(self, conn: Connection, settings: Settings, batch: Sequence[Composed], *,
                now: datetime) -> dict[int, Prepared]:
        return dict(plan_calls(conn, settings, batch, now=now))

    def owns(self, found: ProviderMessage, body: str) -> bool:
        return True  # a call has no text: any call to the number in the window that nobody owns is ours

    def also_taken(self, conn: Connection, provider_ids: list[str]) -> set[str]:
        """A retried call's earlier calls are named only in its attempts."""
        return set(conn.execute(select(DeliveryAttempt.detail)
                                .where(col(DeliveryAttempt.detail).in_(provider_ids))).scalars())
