"""SMS Gateway for Android as a Channel: one phone with a local SIM, through the maintained client.

Each message is sent with our own id (`bc-<delivery>-<attempt>`), so a send whose outcome is unknown
(timeout) is settled by asking the phone for that id, and webhooks name the delivery directly.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
from android_sms_gateway import APIClient, Message, MessageState, TextMessage, Webhook, WebhookEvent
from android_sms_gateway.domain import MessagesExportRequest
from android_sms_gateway.errors import APIError, NotFoundError
from android_sms_gateway.http import RequestsHttpClient

from broadcast.bounds import parse_count
from broadcast.channels.core.contract import (
    Channel,
    Composed,
    OutboundMessage,
    PermanentSendError,
    Prepared,
    ProviderMessage,
    ProviderStatus,
    SendResult,
    TransientSendError,
    UnknownOutcome,
)
from broadcast.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

PROVIDER_PREFIX = "gateway:"
# A code of our own on TransientSendError: the phone did not answer at all (counts towards "down").
UNREACHABLE = -1
STATUS_EVENTS = (WebhookEvent.SMS_SENT, WebhookEvent.SMS_DELIVERED, WebhookEvent.SMS_FAILED)
_SID = re.compile(r"^bc-(\d+)-(\d+)$")


@dataclass(frozen=True)
class PhoneConfig:
    """What the channel needs to call one phone."""

    name: str
    base_url: str
    login: str
    password: str
    timeout: float = 10.0

    @property
    def provider(self) -> str:
        return PROVIDER_PREFIX + self.name


def webhook_url(public_base_url: str, name: str) -> str:
    """The address a phone's webhooks must be registered with (served by gateway_webhooks.py)."""
    return f"{public_base_url}/webhooks/gateway/{name}"


def message_id(delivery_id: int, attempt: int) -> str:
    """Our id for one send of a delivery (the phone keeps it as the message id)."""
    return f"bc-{delivery_id}-{attempt}"


def delivery_of(sid: str) -> int | None:
    """The delivery a message id of ours belongs to (None for ids we did not make)."""
    found = _SID.match(sid)
    return int(found.group(1)) if found else None


def sign(key: str, body: bytes, timestamp: str) -> str:
    """The app's webhook signature: hex HMAC-SHA256 over the raw body followed by X-Timestamp."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def verify(key: str, body: bytes, timestamp: str, signature: str, *, tolerance: float,
           now: float | None = None) -> bool:
    """True when `signature` is the app's signature of `body` and the timestamp is recent."""
    stamp = parse_count(timestamp, maximum=10**12)  # seconds since 1970; "²" or a 5,000-digit value: refused
    if not key or not signature or stamp is None:
        return False
    if abs((now if now is not None else time.time()) - stamp) > tolerance:
        return False
    return hmac.compare_digest(sign(key, body, timestamp), signature.strip().lower())


class _TimeoutSession(requests.Session):
    """The client sets no timeout; a phone that stops answering must not hang a send thread."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "Failed to establish" in text


@dataclass(frozen=True)
class GatewayMessage(OutboundMessage):
    """An outbound SMS with the attempt number, which makes the id the phone keeps for it."""

    attempt: int = 1


class GatewayChannel(Channel):
    """Sends through one phone; one client (requests session) per thread. States come from the phone's own
    webhooks (no status callback per message), and a SIM's carrier counts messages, not segments."""

    looks_up_status = True

    def __init__(self, phone: PhoneConfig) -> None:
        self.phone = phone
        self.name = phone.provider
        self._local = threading.local()

    def client(self) -> APIClient:
        """This thread's client for the phone."""
        client: APIClient | None = getattr(self._local, "client", None)
        if client is None:
            http = RequestsHttpClient(session=_TimeoutSession(self.phone.timeout))
            client = APIClient(self.phone.login or None, self.phone.password, base_url=self.phone.base_url,
                               http=http)
            self._local.client = client
        return client

    def warm_up(self) -> None:
        """Build this thread's client before its first rate slot."""
        self.client()

    def units(self, message: OutboundMessage) -> int:
        return 1

    def prepare(self, conn: Connection, settings: Settings, batch: Sequence[Composed], *,
                now: datetime) -> dict[int, Prepared]:
        """The text, with the attempt number that makes the phone's message id."""
        attempts = {item.claimed.id: item.claimed.attempts for item in batch}
        return {delivery_id: GatewayMessage(**{f.name: getattr(plan, f.name) for f in fields(OutboundMessage)},
                                            attempt=attempts[delivery_id])
                if isinstance(plan, OutboundMessage) else plan
                for delivery_id, plan in super().prepare(conn, settings, batch, now=now).items()}

    def send(self, message: OutboundMessage) -> SendResult:
        attempt = message.attempt if isinstance(message, GatewayMessage) else 1
        outgoing = Message(phone_numbers=[message.to], text_message=TextMessage(message.body),
                           with_delivery_report=True, id=message_id(message.delivery_id, attempt))
        state = self._call(lambda c: c.send(outgoing, skip_phone_validation=True))
        return SendResult(provider_sid=state.id, status=state.state.value.lower())

    def _call(self, action: Any) -> MessageState:
        try:
            result: MessageState = action(self.client())
            return result
        except APIError as exc:
            status = exc.status_code or 0
            text = f"HTTP {status}: {exc}"[:200]
            if status == 429 or status >= 500:
                raise TransientSendError(text, code=status) from exc
            raise PermanentSendError(text, code=status or None) from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise TransientSendError(f"phone unreachable: {exc.__class__.__name__}", code=UNREACHABLE) from exc
            raise UnknownOutcome(f"connection lost mid-request: {exc.__class__.__name__}") from exc
        except requests.exceptions.Timeout as exc:
            raise UnknownOutcome(f"no answer within {self.phone.timeout:g} s") from exc
        except (requests.exceptions.RequestException, ValueError, KeyError) as exc:
            raise UnknownOutcome(f"bad answer: {exc.__class__.__name__}") from exc

    def find_sent(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Not used by the gateway dispatcher (it asks by id, see `lookup`); kept for the protocol."""
        return []

    def lookup(self, sid: str) -> MessageState | None:
        """The phone's record of one of our message ids (None: it never got it); raises when unreachable."""
        try:
            return self.client().get_state(sid)
        except NotFoundError:
            return None

    def export_inbox(self, since: datetime, until: datetime) -> None:
        """Ask the phone to post the messages it received between `since` and `until` again as `sms:received`
        webhooks (the app's inbox export, version 1.28 and later); duplicates are recognised on arrival."""
        client = self.client()
        try:  # the cloud server needs the device's id; the phone's own server ignores it
            device = next((d.id for d in client.list_devices()), self.phone.name)
        except Exception:
            device = self.phone.name
        client.export_inbox(MessagesExportRequest(device_id=device[:21], since=since, until=until))

    def fetch_status(self, provider_sid: str) -> ProviderStatus | None:
        """The phone's state of one of our messages (pending, processed, sent, delivered, failed)."""
        state = self.lookup(provider_sid)
        return ProviderStatus(status=state.state.value.lower()) if state is not None else None

    def health(self) -> str:
        """The phone's health status word (pass, warn, fail); raises when it does not answer."""
        return self.client().health_check().status.value

    def register_webhooks(self, url: str) -> list[str]:
        """Point the phone's received/sent/delivered/failed webhooks at `url` (replacing ours)."""
        client = self.client()
        events = (WebhookEvent.SMS_RECEIVED, *STATUS_EVENTS)
        registered = []
        for event in events:
            hook_id = f"broadcast-{event.value.replace(':', '-')}"
            created = client.create_webhook(Webhook(id=hook_id, url=url, event=event))
            registered.append(created.id or hook_id)
        return registered
