"""Twilio Programmable Voice through the official SDK, as a Channel: one `calls.create` per delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from broadcast.channels.core.contract import (
    OutboundMessage,
    PermanentSendError,
    ProviderMessage,
    SendResult,
)
from broadcast.channels.twilio.rest import TwilioRestChannel

# Call-creation errors that will not succeed on retry (invalid/unsupported number, geo permissions).
PERMANENT_CODES = frozenset({13223, 13224, 13225, 13226, 13227, 21210, 21211, 21215, 21216, 21217, 21401})
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


@dataclass(frozen=True)
class OutboundCall(OutboundMessage):
    """A call to place: `body` names what it plays (clip URL or text), the TwiML URL says how."""

    twiml_url: str = ""
    machine_detection: str | None = None  # Twilio MachineDetection: Enable | DetectMessageEnd | None
    ring_timeout: int = 30


class TwilioVoiceChannel(TwilioRestChannel):
    """Places calls with `calls.create`."""

    name = "twilio-voice"
    resource = "calls"
    permanent_codes = PERMANENT_CODES

    def send(self, message: OutboundMessage) -> SendResult:
        """Place one call (To, From, Url, StatusCallback events, Timeout, MachineDetection)."""
        if not isinstance(message, OutboundCall) or not message.twiml_url:
            raise PermanentSendError("not a call: no TwiML address")
        kwargs: dict[str, Any] = {
            "to": message.to, "from_": self._settings.twilio_voice_from, "url": message.twiml_url,
            "method": "POST", "timeout": message.ring_timeout,
        }
        if message.status_callback:
            kwargs.update(status_callback=message.status_callback, status_callback_method="POST",
                          status_callback_event=STATUS_EVENTS)
        if message.machine_detection:
            kwargs["machine_detection"] = message.machine_detection
        with self.provider_errors() as client:
            created = client.calls.create(**kwargs)
        return SendResult(provider_sid=str(created.sid), status=str(created.status))

    def find_sent(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Calls placed to `to` since `since` (a call has no body: reconciliation matches on number)."""
        window_start = since - timedelta(minutes=5)  # clock skew between us and the provider
        found = []
        for call in self._client().calls.stream(to=to, start_time_after=window_start, page_size=100):
            created = call.date_created or call.start_time
            if created is not None and created < window_start:
                continue
            found.append(ProviderMessage(provider_sid=str(call.sid), to=str(call.to), body="",
                                         status=str(call.status), created_at=created))
        return found

    def fetch_call(self, sid: str) -> dict[str, Any]:
        """The provider's record of one call (status, duration, answered_by), for lost callbacks."""
        call = self._client().calls(sid).fetch()
        return {"CallSid": str(call.sid), "CallStatus": str(call.status or ""),
                "CallDuration": str(call.duration or ""), "AnsweredBy": str(call.answered_by or "")}
