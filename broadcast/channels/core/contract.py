"""The channel contract: what a provider must do, and the hooks a kind of delivery can change.

A channel sends deliveries of one kind (`delivery_channel`: "sms" or "voice") through one provider. The
dispatcher (core/dispatcher.py) claims due rows of that kind, applies the rules every channel shares (opt-out,
campaign state, expiry, quiet hours, daily cap, the rate budget), records every outcome and reconciles unknown
ones; a channel only says how its messages are made, sent, counted and recognised:

- `send` and `find_sent` (required): hand one message to the provider; list what it accepted for a number.
- `prepare`: turn screened deliveries into provider messages, or a `Wait` (until when, why), or why one cannot go
  (default: the text, with the status callback the channel asks for).
- `opted_out`: whether a resident refused this kind of message (default: SMS opt-out).
- `status_callback`: the address the provider reports a delivery's states to (default: none).
- `units`: how much of the rate budget a message takes (default: its SMS segments).
- `budget_key`: which budget the messages count against, shared by every process (default: the channel's
  kind and provider).
- `owns`: whether a message the provider lists is the one a stale delivery sent (default: same text).
- `also_taken`: provider ids other records already own, beyond the deliveries' own (default: none).
- `fetch_status` (with `looks_up_status`): the provider's current state of one accepted message, for messages
  whose final status never came (default: not supported).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from broadcast.config import Settings
from broadcast.outbox.segments import estimate

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from broadcast.channels.core.claims import Claimed


class Result(StrEnum):
    """What one claimed delivery came to (stored as the attempt's outcome)."""

    accepted = "accepted"  # the provider took it
    transient = "transient"  # not sent, retried later (or failed after MAX_SEND_ATTEMPTS)
    permanent = "permanent"  # will never succeed for this recipient or content
    unknown = "unknown"  # may have reached the provider: reconciled before any resend
    released = "released"  # handed back unsent (quiet hours, daily cap, paused, budget): not an attempt
    skipped = "skipped"  # not sent on purpose (opted out, expired, number erased)
    cancelled = "cancelled"  # its campaign was cancelled
    not_sent = "not_sent"  # reconciliation found that the provider never had it


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


@dataclass(frozen=True)
class ProviderStatus:
    """A message's state as the provider reports it when asked (its own word: delivered, failed, sent, …)."""

    status: str
    error_code: int | None = None


class SendError(Exception):
    """Base of send failures; `code` is the provider's error code when it gave one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientSendError(SendError):
    """Not sent, may be retried (429, 5xx, connection refused).

    `unreachable`: the provider could not be connected to at all; the dispatcher pauses the whole channel and
    tries one message at growing intervals instead of spending every message's attempts.
    """

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None,
                 unreachable: bool = False) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.unreachable = unreachable


class PermanentSendError(SendError):
    """Will never succeed for this recipient or content (21211, 21610, 21614, 21408…)."""


class UnknownOutcome(SendError):
    """The request may or may not have reached the provider (timeout): reconcile before resending."""


@dataclass(frozen=True)
class Composed:
    """A screened delivery ready to be prepared: its text (None when the channel finds its own content)."""

    claimed: Claimed
    body: str | None
    language: str


@dataclass(frozen=True)
class Wait:
    """Hand a delivery back unsent until `until`, for `reason` (an outbox WaitingReason, shown to officers)."""

    until: datetime
    reason: str


# What `prepare` decides for a delivery: send this message, wait (until when, why), or fail with this reason.
Prepared = OutboundMessage | Wait | str


class Channel(ABC):
    """One provider sending one kind of delivery; implementations must be safe to call from several threads."""

    name: str  # recorded as the delivery's provider
    delivery_channel: ClassVar[str] = "sms"
    carries_links: ClassVar[bool] = True  # a campaign's short link may follow the text
    # True when `send` passes core.budget's gate itself, right before its request is written (see budget.py);
    # otherwise the dispatcher takes the budget before calling `send`.
    gates_requests: ClassVar[bool] = False
    looks_up_status: ClassVar[bool] = False  # fetch_status is implemented (SMS status reconciliation)

    @abstractmethod
    def send(self, message: OutboundMessage) -> SendResult:
        """Send one message or raise a SendError subclass."""

    @abstractmethod
    def find_sent(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Messages the provider accepted for `to` since `since` (to reconcile an unknown outcome)."""

    def warm_up(self) -> None:
        """Prepare a sending thread (build clients) before the first message; nothing by default."""
        return None

    def opted_out(self, *, sms: bool, voice: bool) -> bool:
        return sms

    def status_callback(self, settings: Settings, delivery_id: int) -> str | None:
        return None

    def units(self, message: OutboundMessage) -> int:
        return max(1, estimate(message.body).segments)

    def budget_key(self, settings: Settings) -> str:
        """The budget every process sending through this provider account, sender or phone shares."""
        return f"{self.delivery_channel}:{self.name}"

    def prepare(self, conn: Connection, settings: Settings, batch: Sequence[Composed], *,
                now: datetime) -> dict[int, Prepared]:
        prepared: dict[int, Prepared] = {}
        for item in batch:
            claimed = item.claimed
            if not item.body or not claimed.to_phone:
                prepared[claimed.id] = "no content for this channel and language"
                continue
            prepared[claimed.id] = OutboundMessage(delivery_id=claimed.id, to=claimed.to_phone, body=item.body,
                                                   status_callback=self.status_callback(settings, claimed.id))
        return prepared

    def owns(self, found: ProviderMessage, body: str) -> bool:
        return found.body == body

    def also_taken(self, conn: Connection, provider_ids: list[str]) -> set[str]:
        return set()

    def fetch_status(self, provider_sid: str) -> ProviderStatus | None:
        """The provider's state of one message it accepted (None: it has no such message); raises when the
        provider cannot be asked."""
        raise NotImplementedError(f"{type(self).__name__} cannot look up a message's status")
