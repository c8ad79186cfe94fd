"""The questions inbox, keyword rules, auto-replies and the metrics rollups."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from broadcast.db import BigIntId, UTCDateTime, utcnow


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


# ---- accountability: answered questions officers publish, anonymised, once an approver agrees ---------------


class PublicationStatus(StrEnum):
    pending = "pending"  # waiting for an approver
    published = "published"  # on the public accountability page
    rejected = "rejected"  # sent back by an approver (with a comment)
    withdrawn = "withdrawn"  # taken off the public page


class Publication(SQLModel, table=True):
    """A resident's question and the answer, edited and anonymised for the public accountability page."""

    __tablename__ = "publication"
    __table_args__ = (Index("ix_publication_status_published", "status", "published_at"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(
        default=None, sa_column=Column(BigIntId, ForeignKey("conversation.id", ondelete="SET NULL"), index=True)
    )
    commune_code: str = Field(default="", max_length=5)  # the finest place a publication names
    topic: str = Field(default="", max_length=60)
    question: str = Field(sa_column=Column(Text, nullable=False))
    answer: str = Field(sa_column=Column(Text, nullable=False))
    asked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)  # when the resident asked
    status: str = Field(default=PublicationStatus.pending, sa_type=String(10))
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reviewed_by_id: int | None = Field(default=None, foreign_key="user.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_comment: str = Field(default="", max_length=1000)
