"""Gateway phones (Android phones running "SMS Gateway for Android") and per-commune SMS routes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from broadcast.crypto import EncryptedText
from broadcast.db import UTCDateTime, utcnow


class PhoneStatus(StrEnum):
    up = "up"
    down = "down"


class GatewayPhone(SQLModel, table=True):
    """One phone with a local SIM; `name` is its route (`gateway:<name>`) and its webhook path."""

    __tablename__ = "gateway_phone"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True)
    base_url: str = Field(max_length=300)  # local server http://<ip>:8080 or cloud …/3rdparty/v1
    login: str = Field(default="", max_length=100)
    # Needed to call the phone and to check its webhooks, so encrypted rather than hashed (broadcast/crypto.py);
    # never shown on pages.
    password: str = Field(default="", sa_type=EncryptedText)
    signing_key: str = Field(default="", sa_type=EncryptedText)  # Settings → Webhooks → Signing Key in the app
    commune_code: str | None = Field(
        default=None, sa_column=Column(String(5), ForeignKey("commune.code", ondelete="SET NULL"))
    )
    rate_per_minute: float = Field(default=6.0)
    daily_limit: int = Field(default=300)
    enabled: bool = Field(default=True)
    status: str = Field(default=PhoneStatus.up, sa_type=String(8))
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=300)
    status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommuneRoute(SQLModel, table=True):
    """How a commune's SMS go out when the campaign does not say: `twilio`, `gateway` or `gateway:<name>`."""

    __tablename__ = "commune_route"

    commune_code: str = Field(
        sa_column=Column(String(5), ForeignKey("commune.code", ondelete="CASCADE"), primary_key=True)
    )
    route: str = Field(max_length=60)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
