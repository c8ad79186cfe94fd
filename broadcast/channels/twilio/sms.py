"""Twilio Programmable Messaging through the official SDK, as a Channel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from twilio.base.exceptions import TwilioRestException

from broadcast.channels.core.contract import OutboundMessage, ProviderMessage, ProviderStatus, SendResult
from broadcast.channels.twilio.rest import TwilioRestChannel
from broadcast.config import Settings

# Errors that will never succeed for this recipient/content (twilio_facts.md §4).
PERMANENT_CODES = frozenset({21211, 21212, 21408, 21610, 21612, 21614, 21617, 21635, 30004, 30006})


class TwilioSmsChannel(TwilioRestChannel):
    """Sends SMS with `messages.create`."""

    name = "twilio"
    resource = "messages"
    permanent_codes = PERMANENT_CODES
    looks_up_status = True

    def status_callback(self, settings: Settings, delivery_id: int) -> str | None:
        """Reports name the delivery (`d`), so one that arrives before the SID is recorded still lands."""
        return f"{settings.public_base_url}/webhooks/twilio/status?d={delivery_id}"

    def budget_key(self, settings: Settings) -> str:
        """SMS_RATE_PER_SECOND is the sender's budget: the Messaging Service, or the sender ID, of the account."""
        sender = settings.twilio_messaging_service_sid or settings.twilio_from
        return f"sms:twilio:{settings.twilio_account_sid}:{sender}"

    def send(self, message: OutboundMessage) -> SendResult:
        sender: dict[str, str] = {}
        if self._settings.twilio_messaging_service_sid:
            sender["messaging_service_sid"] = self._settings.twilio_messaging_service_sid
        else:
            sender["from_"] = self._settings.twilio_from
        kwargs: dict[str, Any] = {"to": message.to, "body": message.body, **sender}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        with self.provider_errors() as client:
            created = client.messages.create(**kwargs)
        segments = int(created.num_segments) if created.num_segments not in (None, "", "0") else None
        price = abs(float(created.price)) if created.price not in (None, "") else None
        return SendResult(provider_sid=str(created.sid), status=str(created.status), segments=segments,
                          price=price)

    def find_sent(self, to: str, since: datetime) -> list[ProviderMessage]:
        found = []
        window_start = since - timedelta(minutes=5)  # clock skew between us and the provider
        for msg in self._client().messages.stream(to=to, date_sent_after=window_start, page_size=100):
            created = msg.date_created or msg.date_sent
            if created is not None and created < window_start:
                continue
            segments = int(msg.num_segments) if msg.num_segments not in (None, "") else None
            found.append(ProviderMessage(provider_sid=str(msg.sid), to=str(msg.to), body=str(msg.body or ""),
                                         status=str(msg.status), created_at=created, segments=segments))
        return found

    def fetch_status(self, provider_sid: str) -> ProviderStatus | None:
        """`messages(sid).fetch()`: the message's status and error code as Twilio has them now."""
        try:
            with self.provider_errors() as client:
                message = client.messages(provider_sid).fetch()
        except Exception as exc:
            if isinstance(exc.__cause__, TwilioRestException) and exc.__cause__.status == 404:
                return None
            raise
        code = int(message.error_code) if message.error_code not in (None, "", 0) else None
        return ProviderStatus(status=str(message.status or ""), error_code=code)
