"""The outbox (one Delivery per campaign run × resident × channel) and inbound messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from broadcast.db import BigIntId, UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    queued = "queued"  # waiting in the outbox (next_attempt_at says when)
    sending = "sending"  # claimed by a dispatcher; outcome of the provider call not yet recorded
    sent = "sent"  # accepted by the provider
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    cancelled = "cancelled"
    skipped = "skipped"  # not sent on purpose: opted out, expired, daily cap
    # accepted, but no final state came or could be looked up before SMS_STATUS_GIVE_UP_SECONDS
    unknown = "unknown"


FINAL_STATUSES = frozenset(
    {
        DeliveryStatus.delivered,
        DeliveryStatus.undelivered,
        DeliveryStatus.failed,
        DeliveryStatus.cancelled,
        DeliveryStatus.skipped,
        DeliveryStatus.unknown,
    }
)

# Monotonic order of states a delivery may move through: a late `sent` never overwrites `delivered`.
STATUS_RANK: dict[str, int] = {
    DeliveryStatus.queued: 0,
    DeliveryStatus.sending: 1,
    DeliveryStatus.sent: 2,
    DeliveryStatus.delivered: 3,
    DeliveryStatus.undelivered: 3,
    DeliveryStatus.failed: 3,
    DeliveryStatus.cancelled: 3,
    DeliveryStatus.skipped: 3,
    DeliveryStatus.unknown: 3,
}


class WaitingReason(StrEnum):
    """Why a message not yet sent waits (the API's `waiting_reason`; see flows/waiting.py)."""

    quiet_hours = "quiet_hours"  # the campaign's quiet hours (Decree 91: 22:00–07:00)
    daily_cap = "daily_cap"  # the resident already had the campaign messages allowed in 24 hours
    paused = "paused"  # the campaign is paused
    calling_window = "calling_window"  # calls: outside the calling window
    budget = "budget"  # due, waiting its turn in the provider's rate budget
    gateway_down = "gateway_down"  # routed to gateway phones, none of which is up
    audio_not_ready = "audio_not_ready"  # calls: the clip is still being rendered
    retry_backoff = "retry_backoff"  # the provider refused it for now; next attempt at next_attempt_at
    scheduled = "scheduled"  # spread over the campaign's sending window, or otherwise set for later


class DeliveryKind(StrEnum):
    campaign = "campaign"
    test = "test"  # an officer's send-test-to-my-phone
    reply = "reply"  # an officer's answer from the inbox, or a keyword auto-reply
    system = "system"


class Delivery(SQLModel, table=True):
    """One outbound message or call and everything that happened to it."""

    __table_args__ = (
        UniqueConstraint("run_id", "contact_id", "channel", name="uq_delivery_run_contact_channel"),
        Index("ix_delivery_due", "status", "kind", "next_attempt_at"),
        # Counts by status and error code, and (covering) why the queued ones wait (flows/waiting.py).
        Index("ix_delivery_campaign_status", "campaign_id", "status", "error_code", "channel", "waiting_reason",
              "next_attempt_at"),
        Index("ix_delivery_contact_sent", "contact_id", "sent_at"),
        Index("ix_delivery_provider_sid", "provider_sid", unique=True),
        Index("ix_delivery_updated", "updated_at"),  # incremental metric rollups
        Index("ix_delivery_provider_sent", "provider", "sent_at"),  # gateway phones' daily limits
        Index("ix_delivery_run_status", "run_id", "status"),  # has this run anything left to send?
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    campaign_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("campaign.id", ondelete="CASCADE"), nullable=True)
    )
    run_id: int | None = Field(
        default=None, sa_column=Column(BigIntId, ForeignKey("campaign_run.id", ondelete="CASCADE"))
    )
    contact_id: int | None = Field(
        default=None, sa_column=Column(BigIntId, ForeignKey("contact.id", ondelete="SET NULL"))
    )
    to_phone: str | None = Field(default=None, max_length=16)  # E.164; NULL after erasure
    channel: str = Field(default="sms", sa_type=String(10))
    kind: str = Field(default=DeliveryKind.campaign, sa_type=String(10))
    body: str | None = Field(default=None, sa_column=Column(Text))  # NULL: the campaign's content
    status: str = Field(default=DeliveryStatus.queued, sa_type=String(12))
    provider: str | None = Field(default=None, max_length=40)
    provider_sid: str | None = Field(default=None, max_length=64)
    provider_status: str | None = Field(default=None, max_length=20)
    error_code: int | None = Field(default=None)
    error_message: str | None = Field(default=None, max_length=500)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why a queued row waits until next_attempt_at (a WaitingReason), recorded when a dispatcher hands it
    # back; NULL when it is simply due (migration 0011).
    waiting_reason: str | None = Field(default=None, sa_type=String(16))
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    segments: int | None = Field(default=None)
    price: float | None = Field(default=None)
    # Calls only (migration 0003): last call's length, AMD verdict, share of the clip heard (0..1).
    call_duration_seconds: int | None = Field(default=None)
    answered_by: str | None = Field(default=None, max_length=20)
    listened_share: float | None = Field(default=None)
    in_reply_to_id: int | None = Field(default=None, sa_type=BigIntId)  # inbound message answered
    created_by_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DeliveryAttempt(SQLModel, table=True):
    """The record of each provider call: written before the call, completed after it."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    delivery_id: int = Field(
        sa_column=Column(BigIntId, ForeignKey("delivery.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    number: int
    worker: str = Field(default="", max_length=64)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=20)  # accepted | transient | permanent | reconciled
    error_code: int | None = Field(default=None)
    detail: str | None = Field(default=None, max_length=500)


class DispatcherHeartbeat(SQLModel, table=True):
    """A dispatcher's latest sign of life, written every few seconds: /healthz/ready wants a recent one."""

    __tablename__ = "dispatcher_heartbeat"

    worker: str = Field(primary_key=True, max_length=64)
    provider: str = Field(default="", max_length=40)
    beat_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InboundMessage(SQLModel, table=True):
    """A message a resident (or a radio operator) sent to the service."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        Index("ix_inbound_contact_received", "contact_id", "received_at"),
        Index("ix_inbound_campaign", "campaign_id", "classification"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    provider: str = Field(default="twilio", max_length=40)
    provider_sid: str = Field(max_length=64, unique=True)  # duplicates by provider id are ignored
    from_phone: str | None = Field(default=None, max_length=32)
    to_phone: str | None = Field(default=None, max_length=32)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    contact_id: int | None = Field(
        default=None, sa_column=Column(BigIntId, ForeignKey("contact.id", ondelete="SET NULL"))
    )
    campaign_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("campaign.id", ondelete="SET NULL"))
    )
    conversation_id: int | None = Field(default=None, sa_type=BigIntId, index=True)
    classification: str = Field(default="question", sa_type=String(12))
    rating: int | None = Field(default=None)
