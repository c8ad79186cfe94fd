"""Audio clips for loudspeakers and calls, and their planned and confirmed airings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from broadcast.db import BigIntId, UTCDateTime, utcnow


class ClipStatus(StrEnum):
    pending = "pending"
    rendering = "rendering"
    ready = "ready"
    failed = "failed"


class AudioClip(SQLModel, table=True):
    """A rendered MP3, content-addressed: the same text, engine, voice and processing render once."""

    __tablename__ = "audio_clip"
    __table_args__ = (Index("ix_audio_clip_campaign", "campaign_id", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    content_hash: str = Field(max_length=64, unique=True)
    campaign_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("campaign.id", ondelete="SET NULL"))
    )
    title: str = Field(default="", max_length=200)
    language: str = Field(default="vi", sa_type=String(2))
    source: str = Field(default="tts", max_length=10)  # tts | upload
    engine: str = Field(default="", max_length=20)  # which engine really made it (gtts, espeak, upload)
    voice: str = Field(default="", max_length=40)
    normalized_text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    file_path: str = Field(default="", max_length=300)  # relative to MEDIA_DIR
    status: str = Field(default=ClipStatus.pending, sa_type=String(10))
    error: str | None = Field(default=None, max_length=500)
    duration_seconds: float | None = Field(default=None)
    loudness_lufs: float | None = Field(default=None)
    true_peak_dbtp: float | None = Field(default=None)
    size_bytes: int | None = Field(default=None)
    download_token: str = Field(default="", max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    rendered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Airing(SQLModel, table=True):
    """A clip planned for a commune's loudspeaker slot, and the operator's confirmation it was aired."""

    __table_args__ = (Index("ix_airing_commune_planned", "commune_code", "planned_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    clip_id: int = Field(sa_column=Column(ForeignKey("audio_clip.id", ondelete="CASCADE"), nullable=False))
    campaign_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("campaign.id", ondelete="CASCADE"))
    )
    commune_code: str = Field(sa_column=Column(String(5), ForeignKey("commune.code"), nullable=False))
    planned_at: datetime = Field(sa_type=UTCDateTime)
    level: str = Field(default="normal", sa_type=String(10))
    confirmation_code: str = Field(default="", max_length=12, index=True)  # for "DAPHAT <code>" by SMS
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_by_id: int | None = Field(default=None)
    confirmation_source: str | None = Field(default=None, max_length=12)  # web | api | sms
