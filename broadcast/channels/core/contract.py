"""The Channel protocol every provider implements (Twilio SMS today; gateways and voice beside it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    delivery_id: int
    to: str  # E.164
    body: str
    status_callback: str | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message."""

    provider_sid: str
    status: str  # the provider's own status word (queued, accepted, sent, …)
    segments: int | None = None
    price: float | None = None


@dataclass(frozen=True)
class ProviderMessage:
    """A message as the provider lists it, used to reconcile an unknown outcome."""

    provider_sid: str
    to: str
    body: str
    status: str
    created_at: datetime | None
    segments: int | None = None


class SendError(Exception):
    """Base of send failures; `code` is the provider's error code when it gave one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientSendError(SendError):
    """Not sent, may be retried (429, 5xx, connection refused)."""

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Will never succeed for this recipient or content (21211, 21610, 21614, 21408…)."""


class UnknownOutcome(SendError):
    """The request may or may not have reached the provider (timeout): reconcile before resending."""


class Channel(Protocol):
    """A way to send one message; implementations must be safe to call from several threads."""

    name: str

    def send(self, message: OutboundMessage) -> SendResult:
        """Send one message or raise a SendError subclass."""
        ...

    def find_sent(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Messages the provider accepted for `to` since `since` (to reconcile an unknown outcome)."""
        ...
