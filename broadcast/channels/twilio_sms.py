"""Twilio Programmable Messaging through the official SDK, as a Channel."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from broadcast.channels.base import (
    OutboundMessage,
    PermanentSendError,
    ProviderMessage,
    SendResult,
    TransientSendError,
    UnknownOutcome,
)
from broadcast.channels.twilio_client import make_twilio_client
from broadcast.config import Settings

# Errors that will never succeed for this recipient/content (twilio_facts.md §4).
PERMANENT_CODES = frozenset({21211, 21212, 21408, 21610, 21612, 21614, 21617, 21635, 30004, 30006})


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class TwilioSmsChannel:
    """Sends SMS with `messages.create`; one SDK client per thread (requests sessions are not shared)."""

    name = "twilio"

    def __init__(self, settings: Settings, *, api_base_url: str | None = None) -> None:
        self._settings = settings
        self._base_url = settings.twilio_api_base_url if api_base_url is None else api_base_url
        self._local = threading.local()

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = make_twilio_client(
                self._settings.twilio_account_sid,
                self._settings.twilio_auth_token.get_secret_value(),
                self._base_url,
                timeout=self._settings.twilio_timeout_seconds,
            )
            session = getattr(client.http_client, "session", None)
            if session is not None:  # keep the last response's headers to honour Retry-After
                session.hooks["response"].append(self._remember_headers)
            self._local.client = client
        return client

    def warm_up(self) -> None:
        """Build this thread's SDK client now, so the first send does not pay for it after its rate slot."""
        self._client().messages  # noqa: B018 - the SDK imports and builds its API tree lazily on first use

    def _remember_headers(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._local.headers = response.headers

    def _retry_after(self) -> float | None:
        headers = getattr(self._local, "headers", None) or {}
        value = headers.get("Retry-After")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def send(self, message: OutboundMessage) -> SendResult:
        sender: dict[str, str] = {}
        if self._settings.twilio_messaging_service_sid:
            sender["messaging_service_sid"] = self._settings.twilio_messaging_service_sid
        else:
            sender["from_"] = self._settings.twilio_from
        kwargs: dict[str, Any] = {"to": message.to, "body": message.body, **sender}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            created = self._client().messages.create(**kwargs)
        except TwilioRestException as exc:
            code = int(exc.code) if exc.code else None
            text = f"HTTP {exc.status}: {exc.msg}"
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(text, code=code or exc.status, retry_after=self._retry_after()) from exc
            if code in PERMANENT_CODES or 400 <= exc.status < 500:
                raise PermanentSendError(text, code=code) from exc
            raise TransientSendError(text, code=code) from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):  # the request never reached the provider: safe to retry
                raise TransientSendError(f"connection failed: {exc.__class__.__name__}") from exc
            raise UnknownOutcome(f"connection lost mid-request: {exc.__class__.__name__}") from exc
        except requests.exceptions.Timeout as exc:
            raise UnknownOutcome(f"no answer within {self._settings.twilio_timeout_seconds:g} s") from exc
        except requests.exceptions.RequestException as exc:
            raise UnknownOutcome(f"request error: {exc.__class__.__name__}") from exc
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
