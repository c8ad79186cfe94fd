"""Officers' accounts, roles, personal API tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from broadcast.db import BigIntId, UTCDateTime, utcnow


class Role(StrEnum):
    admin = "admin"
    officer = "officer"
    approver = "approver"
    radio_operator = "radio_operator"
    viewer = "viewer"


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=60, unique=True)
    full_name: str = Field(default="", max_length=120)
    password_hash: str = Field(default="", max_length=200)
    role: str = Field(default=Role.viewer, sa_type=String(16))
    phone: str | None = Field(default=None, max_length=16)  # e.g. a radio operator's registered phone
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserCommune(SQLModel, table=True):
    """The communes a radio operator (or commune officer) is bound to."""

    __tablename__ = "user_commune"

    user_id: int = Field(sa_column=Column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True))
    commune_code: str = Field(
        sa_column=Column(String(5), ForeignKey("commune.code", ondelete="CASCADE"), primary_key=True)
    )


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(ForeignKey("user.id", ondelete="CASCADE"), nullable=False))
    token_hash: str = Field(max_length=64, unique=True)  # sha256 of the token; the token is shown once
    name: str = Field(default="", max_length=60)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, kept for the limiter's window: shared by every web process through the database."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key_at", "key", "at"),
                      Index("ix_login_failure_address_at", "address", "at"))

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    key: str = Field(max_length=64)  # sha256 of (username, address): no username is stored in clear
    address: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
