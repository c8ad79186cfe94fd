"""One-time values `broadcast check` stores so the instance behind PUBLIC_BASE_URL can prove it is this one."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from broadcast.db import UTCDateTime


class CheckEcho(SQLModel, table=True):
    """A nonce and its answer: served once by GET /healthz/echo/{nonce} until `expires_at`, then gone."""

    __tablename__ = "check_echo"

    nonce: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)
