"""Engagement events: what residents and operators did (clicks, downloads, airings, key presses, ratings)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String
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
    call_apology = "call_apology"  # answered during a database outage: heard an apology, not the clip


class EngagementEvent(SQLModel, table=True):
    """Something a resident or operator did; `dedupe_key` makes replays of one event count once."""

    __tablename__ = "engagement_event"
    __table_args__ = (
        Index("ix_event_campaign_kind_at", "campaign_id", "kind", "occurred_at"),
        Index("ix_event_contact", "contact_id", "occurred_at"),
        Index("ix_event_campaign_kind_commune", "campaign_id", "kind", "commune_code"),  # migration 0002
        Index("ix_event_occurred", "occurred_at"),  # migration 0004: finding campaigns to re-count
        Index("ix_event_delivery", "delivery_id"),  # migration 0010: retention deletes a run's events
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
