"""Engagement events (clicks, downloads, airings, key presses, ratings) and the questions inbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from broadcast.db import BigIntId, UTCDateTime, utcnow


class EventKind(StrEnum):
    click = "click"
    download = "download"
    airing_confirmed = "airing_confirmed"
    reply = "reply"
    rating = "rating"
    opt_out = "opt_out"
    opt_in = "opt_in"
    keypress = "keypress"
    call_listened = "call_listened"


class EngagementEvent(SQLModel, table=True):
    """Something a resident or operator did; `dedupe_key` makes replays of one event count once."""

    __tablename__ = "engagement_event"
    __table_args__ = (
        Index("ix_event_campaign_kind_at", "campaign_id", "kind", "occurred_at"),
        Index("ix_event_contact", "contact_id", "occurred_at"),
        Index("ix_event_campaign_kind_commune", "campaign_id", "kind", "commune_code"),  # migration 0002
        Index("ix_event_occurred", "occurred_at"),  # migration 0004: finding campaigns to re-count
        Index("ix_event_delivery", "delivery_id"),  # migration 0009: retention deletes a run's events
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    kind: str = Field(sa_type=String(20))
    campaign_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("campaign.id", ondelete="SET NULL"))
    )
    delivery_id: int | None = Field(default=None, sa_type=BigIntId)
    contact_id: int | None = Field(
        default=None, sa_column=Column(BigIntId, ForeignKey("contact.id", ondelete="SET NULL"))
    )
    clip_id: int | None = Field(default=None)
    commune_code: str | None = Field(default=None, max_length=5)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    dedupe_key: str | None = Field(default=None, max_length=120, unique=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class ConversationStatus(StrEnum):
    new = "new"
    assigned = "assigned"
    answered = "answered"
    closed = "closed"


class Conversation(SQLModel, table=True):
    """A resident's questions and the officers' answers, handled as one inbox item."""

    __table_args__ = (
        Index("ix_conversation_status_last", "status", "last_message_at"),
        Index("ix_conversation_contact_status", "contact_id", "status"),  # migration 0002
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    contact_id: int | None = Field(
        default=None, sa_column=Column(BigIntId, ForeignKey("contact.id", ondelete="SET NULL"), index=True)
    )
    campaign_id: int | None = Field(default=None)
    status: str = Field(default=ConversationStatus.new, sa_type=String(10))
    assigned_to_id: int | None = Field(default=None, foreign_key="user.id")
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_message_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- admin-editable keywords and auto-replies (overrides of the defaults in keywords.py) ----------


class KeywordRule(SQLModel, table=True):
    """An admin's keyword: maps a whole-message keyword (accent-folded, upper case) to an action.

    The action `ignore` switches a built-in default keyword off.
    """

    __tablename__ = "keyword_rule"

    keyword: str = Field(primary_key=True, max_length=40)
    action: str = Field(sa_type=String(12))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by_id: int | None = Field(default=None)


class AutoReply(SQLModel, table=True):
    """An admin's text for one automatic reply (opt-out confirmation, help, …); overrides the default."""

    __tablename__ = "auto_reply"

    key: str = Field(primary_key=True, max_length=30)
    text: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by_id: int | None = Field(default=None)


# ---- metrics rollup: delivery counts per run × commune × channel × day × status × error ----------


class DeliveryRollup(SQLModel, table=True):
    """Pre-aggregated delivery counts; each run's rows are recomputed when its deliveries change."""

    __tablename__ = "delivery_rollup"
    __table_args__ = (
        Index("ix_delivery_rollup_campaign", "campaign_id", "commune_code"),
        Index("ix_delivery_rollup_run", "run_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    run_id: int = Field(sa_type=BigIntId)
    campaign_id: int
    commune_code: str = Field(default="", max_length=5)  # '' when the resident has no commune
    channel: str = Field(sa_type=String(10))
    day: str = Field(max_length=10)  # local date (YYYY-MM-DD) of sending, or of queueing if never sent
    status: str = Field(sa_type=String(12))
    error_code: int = Field(default=0)  # 0: none
    reason: str = Field(default="", max_length=60)  # why a delivery was skipped or cancelled
    n: int = Field(default=0, sa_type=BigIntId)
    segments: int = Field(default=0, sa_type=BigIntId)


class RollupState(SQLModel, table=True):
    """How far the rollup has been brought up to date (deliveries updated before `watermark`)."""

    __tablename__ = "rollup_state"

    name: str = Field(primary_key=True, max_length=30)
    watermark: datetime = Field(sa_type=UTCDateTime)
    refreshed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EventRollup(SQLModel, table=True):
    """Engagement events (unique clicks, downloads, opt-outs) counted per campaign × commune × kind × day."""

    __tablename__ = "event_rollup"
    __table_args__ = (Index("ix_event_rollup_campaign", "campaign_id", "commune_code"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    campaign_id: int
    commune_code: str = Field(default="", max_length=5)
    kind: str = Field(sa_type=String(20))
    day: str = Field(max_length=10)
    n: int = Field(default=0, sa_type=BigIntId)
