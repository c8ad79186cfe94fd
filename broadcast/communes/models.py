"""Communes and wards: the units residents live in and loudspeakers cover."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import annotated_types as at
from pydantic import field_validator
from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from broadcast.bounds import HhMm, not_null
from broadcast.db import UTCDateTime, utcnow


class DivisionType(StrEnum):
    xa = "xa"
    phuong = "phuong"
    dac_khu = "dac_khu"


class Commune(SQLModel, table=True):
    """A commune-level unit of the 2025 two-tier administration (xã, phường, đặc khu); no districts."""

    code: str = Field(primary_key=True, max_length=5)
    province_code: str = Field(max_length=2, index=True)
    name: str = Field(max_length=120)
    division_type: str = Field(default=DivisionType.xa, sa_type=String(10))
    codename: str = Field(default="", max_length=120)
    legal_aid_contact: str = Field(default="", max_length=300)  # told to residents who text HELP
    airing_slots: list[str] = Field(default_factory=lambda: ["05:30", "17:00"], sa_column=Column(JSON))
    feed_token: str = Field(default="", max_length=64, index=True)  # unguessable part of the podcast URL
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommunePublic(SQLModel):
    code: str
    province_code: str
    name: str
    division_type: str
    legal_aid_contact: str
    airing_slots: list[str]


class CommuneUpdate(SQLModel):
    legal_aid_contact: str | None = Field(default=None, max_length=300)
    airing_slots: Annotated[list[HhMm], at.MaxLen(12)] | None = None

    _not_null = field_validator("legal_aid_contact", "airing_slots")(not_null)
