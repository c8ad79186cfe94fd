"""Campaigns: content per channel and language, audience, schedule, lifecycle, and their runs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from broadcast.db import BigIntId, UTCDateTime, utcnow


class CampaignStatus(StrEnum):
    draft = "draft"
    pending_approval = "pending_approval"
    approved = "approved"
    scheduled = "scheduled"
    sending = "sending"
    completed = "completed"
    cancelled = "cancelled"
    paused = "paused"


class ChannelKind(StrEnum):
    sms = "sms"
    voice = "voice"
    loudspeaker = "loudspeaker"  # audio clips for commune radio operators


class BulletinLevel(StrEnum):
    """Circular 39/2020 levels for loudspeaker bulletins."""

    normal = "normal"  # the commune picks the slot
    priority = "priority"  # first in the next slot
    emergency = "emergency"  # air now


class RunStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    completed = "completed"
    missed = "missed"
    cancelled = "cancelled"


class Campaign(SQLModel, table=True):
    """A law-dissemination message: who gets what, through which channels, when, approved by whom."""

    __table_args__ = (Index("ix_campaign_status_updated", "status", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    status: str = Field(default=CampaignStatus.draft, sa_type=String(20))
    channels: list[str] = Field(default_factory=lambda: ["sms"], sa_column=Column(JSON))
    # Audience filter: {"communes": [...], "groups": [ids], "tags": [ids], "languages": [...]};
    # empty lists mean "no restriction" on that axis.
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # Schedule as the officer set it (kind once|recurring|window, fields in TIMEZONE); see scheduler/.
    schedule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    bulletin_level: str = Field(default=BulletinLevel.normal, sa_type=String(10))
    strip_diacritics: bool = Field(default=False)  # send SMS as plain GSM-7 (fewer segments)
    ask_rating: bool = Field(default=False)
    sms_fallback_for_voice: bool = Field(default=False)
    link_enabled: bool = Field(default=False)  # append a short link to the full-text page
    # Questions asked after the message (schemas.QuizIn as JSON; migration 0012); NULL: no quiz.
    quiz: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Sending rules; NULL means the settings' default.
    quiet_hours_start: str | None = Field(default=None, max_length=5)
    quiet_hours_end: str | None = Field(default=None, max_length=5)
    daily_cap: int | None = Field(default=None)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # "do not send after"
    rate_per_second: float | None = Field(default=None)
    route: str | None = Field(default=None, max_length=60)  # channel route (twilio or a gateway name)
    # Voice calls (migration 0003); NULL means the settings' default.
    voice_machine_detection: str | None = Field(default=None, max_length=14)  # off | leave_message | hang_up
    voice_max_retries: int | None = Field(default=None)  # more calls after busy / no answer
    voice_retry_seconds: int | None = Field(default=None)
    voice_window_start: str | None = Field(default=None, max_length=5)  # calling window, local HH:MM
    voice_window_end: str | None = Field(default=None, max_length=5)
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_by_id: int | None = Field(default=None, foreign_key="user.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_comment: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CampaignContent(SQLModel, table=True):
    """The text of a campaign for one channel and language (SMS text, or the audio/voice script)."""

    __tablename__ = "campaign_content"
    __table_args__ = (UniqueConstraint("campaign_id", "channel", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(
        sa_column=Column(ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    channel: str = Field(sa_type=String(12))
    language: str = Field(default="vi", sa_type=String(2))
    body: str = Field(sa_column=Column(Text, nullable=False))
    # What the audio engine reads (the normalised script), frozen when the campaign is approved: a later edit of
    # the pronunciation dictionary cannot change what an approved bulletin says.
    spoken_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class CampaignRun(SQLModel, table=True):
    """One occurrence of a campaign: its own deliveries and metrics (recurring campaigns have many)."""

    __tablename__ = "campaign_run"
    __table_args__ = (
        UniqueConstraint("campaign_id", "scheduled_for"),
        Index("ix_campaign_run_status_scheduled", "status", "scheduled_for"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    campaign_id: int = Field(sa_column=Column(ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False))
    scheduled_for: datetime = Field(sa_type=UTCDateTime)
    window_end: datetime | None = Field(default=None, sa_type=UTCDateTime)  # spread sends until then
    status: str = Field(default=RunStatus.pending, sa_type=String(12))
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    targeted: int = Field(default=0)
    note: str = Field(default="", max_length=500)  # e.g. why a run was missed
