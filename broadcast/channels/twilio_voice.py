"""Twilio Programmable Voice through the official SDK, as a Channel: one `calls.create` per delivery."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from broadcast.channels.base import (
    OutboundMessage,
    PermanentSendError,
    ProviderMessage,
    SendResult,
    TransientSendError,
    UnknownOutcome,
)
from broadcast.channels.twilio_client import make_twilio_client, retry_after_seconds
from broadcast.channels.twilio_sms import _never_connected
from broadcast.config import Settings

# Call-creation errors that will not succeed on retry (invalid/unsupported number, geo permissions).
PERMANENT_CODES = frozenset({13223, 13224, 13225, 13226, 13227, 21210, 21211, 21215, 21216, 21217, 21401})
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


@dataclass(frozen=True)
class OutboundCall(OutboundMessage):
    """A call to place: `body` names what it plays (clip URL or text), the TwiML URL says how."""

    twiml_url: str = ""
    machine_detection: str | None = None  # Twilio MachineDetection: Enable | DetectMessageEnd | None
    ring_timeout: int = 30


class TwilioVoiceChannel:
    """Places calls with `calls.create`; one SDK client per thread (requests sessions are not shared)."""

    name = "twilio-voice"

    def __init__(self, settings: Settings, *, api_base_url: str | None = None) -> None:
        self._settings = settings
        self._base_url = settings.twilio_api_base_url if api_base_url is None else api_base_url
        self._local = threading.local()

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = make_twilio_client(self._settings.twilio_account_sid,
                                        self._settings.twilio_auth_token.get_secret_value(), self._base_url,
                                        timeout=self._settings.twilio_timeout_seconds)
            self._local.client = client
        return client

    def warm_up(self) -> None:
        """Build this thread's SDK client before its first rate slot."""
        self._client().calls  # noqa: B018 - the SDK builds its API tree lazily on first use

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
        client = self._client()
        try:
            created = client.calls.create(**kwargs)
        except TwilioRestException as exc:
            code = int(exc.code) if exc.code else None
            text = f"HTTP {exc.status}: {exc.msg}"
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(text, code=code or exc.status,
                                         retry_after=retry_after_seconds(client)) from exc
            if code in PERMANENT_CODES or 400 <= exc.status < 500:
                raise PermanentSendError(text, code=code) from exc
            raise TransientSendError(text, code=code) from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise TransientSendError(f"connection failed: {exc.__class__.__name__}") from exc
            raise UnknownOutcome(f"connection lost mid-request: {exc.__class__.__name__}") from exc
        except requests.exceptions.Timeout as exc:
            raise UnknownOutcome(f"no answer within {self._settings.twilio_timeout_seconds:g} s") from exc
        except requests.exceptions.RequestException as exc:
            raise UnknownOutcome(f"request error: {exc.__class__.__name__}") from exc
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
