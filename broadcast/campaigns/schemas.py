"""API shapes for campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from broadcast.audio.normalize import MAX_TEXT_CHARS
from broadcast.campaigns.models import BulletinLevel

ALLOWED_CHANNELS = ("sms", "voice", "loudspeaker")


def _check_channels(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    bad = [c for c in value if c not in ALLOWED_CHANNELS]
    if bad or not value:
        raise ValueError(f"channels must be a non-empty subset of {list(ALLOWED_CHANNELS)}")
    return list(dict.fromkeys(value))


class ContentIn(BaseModel):
    channel: str = Field(pattern="^(sms|voice|loudspeaker)$")
    language: str = Field(default="vi", pattern="^(vi|km)$")
    body: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)  # the script is read by the normaliser


class AudienceIn(BaseModel):
    communes: list[str] = []
    groups: list[int] = []
    tags: list[str] = []
    languages: list[str] = []


HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class SendingRules(BaseModel):
    """A campaign's own sending rules, the same when creating and editing (None: the settings' default)."""

    quiet_hours_start: str | None = Field(default=None, pattern=HHMM)
    quiet_hours_end: str | None = Field(default=None, pattern=HHMM)
    daily_cap: int | None = Field(default=None, ge=0)
    expires_at: datetime | None = None
    rate_per_second: float | None = Field(default=None, gt=0)
    voice_machine_detection: str | None = Field(default=None, pattern="^(off|leave_message|hang_up)$")
    voice_max_retries: int | None = Field(default=None, ge=0, le=5)
    voice_retry_seconds: int | None = Field(default=None, ge=1)
    voice_window_start: str | None = Field(default=None, pattern=HHMM)
    voice_window_end: str | None = Field(default=None, pattern=HHMM)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone offset, e.g. 2026-12-01T17:00:00+07:00")
        return value


class CampaignCreate(SendingRules):
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    channels: list[str] = ["sms"]
    audience: AudienceIn = AudienceIn()
    contents: list[ContentIn] = []
    sms_text: str | None = Field(default=None, description="Shortcut for the Vietnamese SMS content")
    bulletin_level: BulletinLevel = BulletinLevel.normal
    strip_diacritics: bool = False
    ask_rating: bool = False
    sms_fallback_for_voice: bool = False
    link_enabled: bool = False

    _channels = field_validator("channels")(_check_channels)


class CampaignUpdate(SendingRules):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    channels: list[str] | None = None
    audience: AudienceIn | None = None
    contents: list[ContentIn] | None = None
    sms_text: str | None = None
    bulletin_level: BulletinLevel | None = None
    strip_diacritics: bool | None = None
    ask_rating: bool | None = None
    sms_fallback_for_voice: bool | None = None
    link_enabled: bool | None = None

    _channels = field_validator("channels")(_check_channels)


class ReviewIn(BaseModel):
    comment: str = Field(default="", max_length=1000)


class CampaignPublic(BaseModel):
    id: int
    title: str
    description: str
    status: str
    channels: list[str]
    audience: dict[str, Any]
    schedule: dict[str, Any]
    contents: list[ContentIn]
    bulletin_level: str
    strip_diacritics: bool
    ask_rating: bool
    sms_fallback_for_voice: bool
    link_enabled: bool
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    daily_cap: int | None
    expires_at: datetime | None
    rate_per_second: float | None
    created_by_id: int | None
    approved_by_id: int | None
    approved_at: datetime | None
    review_comment: str
    created_at: datetime
    updated_at: datetime
    reachable: int | None = None
