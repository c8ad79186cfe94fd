"""Residents (contacts), groups, tags and the consent history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import annotated_types as at
from pydantic import field_validator
from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from broadcast.bounds import MAX_LIST, CommuneCode, GroupName, PhoneInput, TagName, not_null
from broadcast.db import BigIntId, UTCDateTime, utcnow


class Language(StrEnum):
    vi = "vi"
    km = "km"


class ConsentAction(StrEnum):
    opt_in = "opt_in"
    opt_out = "opt_out"


class ConsentSource(StrEnum):
    import_file = "import"
    officer = "officer"
    sms_keyword = "sms_keyword"
    call_keypad = "call_keypad"
    provider = "provider"  # e.g. Twilio error 21610: the handset replied STOP to the carrier
    api = "api"
    demo = "demo"


class Contact(SQLModel, table=True):
    """A resident who may receive SMS, calls and loudspeaker bulletins."""

    __table_args__ = (
        Index("ix_contact_commune_language", "commune_code", "language"),
        Index("ix_contact_sms_opt_out", "sms_opted_out"),
        # Reachable-audience counts per commune read this index alone (no table visits).
        Index("ix_contact_reach", "commune_code", "sms_opted_out", "language", "erased_at", "phone"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    phone: str | None = Field(default=None, max_length=16, unique=True)  # E.164; NULL once erased
    full_name: str = Field(default="", max_length=200)
    commune_code: str | None = Field(
        default=None, sa_column=Column(String(5), ForeignKey("commune.code", ondelete="SET NULL"))
    )
    address: str = Field(default="", max_length=300)
    language: str = Field(default=Language.vi, sa_type=String(2))
    note: str = Field(default="", max_length=500)
    # Current consent state per channel; history in ConsentEvent.
    sms_opted_out: bool = Field(default=False)
    voice_opted_out: bool = Field(default=False)
    opted_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opt_out_source: str | None = Field(default=None, sa_type=String(20))
    consent_source: str = Field(default=ConsentSource.import_file, sa_type=String(20))
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # data-subject erasure
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ContactGroup(SQLModel, table=True):
    """A named audience list: "Hộ nghèo", "Hội Phụ nữ", "Người cao tuổi"…"""

    __tablename__ = "contact_group"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    description: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_member"
    __table_args__ = (Index("ix_group_member_group", "group_id", "contact_id"),)

    contact_id: int = Field(
        sa_column=Column(BigIntId, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True)
    )
    group_id: int = Field(
        sa_column=Column(ForeignKey("contact_group.id", ondelete="CASCADE"), primary_key=True)
    )


class Tag(SQLModel, table=True):
    """A free label on residents ("ngư dân", "khmer", "vùng sâu") usable in audiences."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)


class ContactTag(SQLModel, table=True):
    __tablename__ = "contact_tag"
    __table_args__ = (Index("ix_contact_tag_tag", "tag_id", "contact_id"),)

    contact_id: int = Field(
        sa_column=Column(BigIntId, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True)
    )
    tag_id: int = Field(sa_column=Column(ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True))


class ConsentEvent(SQLModel, table=True):
    """Every opt-in and opt-out with its source and time (kept ≥ 1 year, Decree 91 art. 16)."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    contact_id: int = Field(
        sa_column=Column(BigIntId, ForeignKey("contact.id", ondelete="CASCADE"), index=True, nullable=False)
    )
    channel: str = Field(default="sms", sa_type=String(10))  # sms | voice | all
    action: str = Field(sa_type=String(10))
    source: str = Field(sa_type=String(20))
    detail: str = Field(default="", max_length=300)
    actor_id: int | None = Field(default=None)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# ---- API schemas -------------------------------------------------------------------------------


# Input lengths follow the columns above: a longer value would fail in PostgreSQL, so it is refused first.
GroupNames = Annotated[list[GroupName], at.MaxLen(MAX_LIST)]
TagNames = Annotated[list[TagName], at.MaxLen(MAX_LIST)]


class ContactCreate(SQLModel):
    phone: PhoneInput
    full_name: str = Field(default="", max_length=200)
    commune_code: CommuneCode | None = None
    address: str = Field(default="", max_length=300)
    language: Language = Language.vi
    note: str = Field(default="", max_length=500)
    groups: GroupNames = []
    tags: TagNames = []


class ContactUpdate(SQLModel):
    phone: PhoneInput | None = None
    full_name: str | None = Field(default=None, max_length=200)
    commune_code: CommuneCode | None = None  # null: no commune
    address: str | None = Field(default=None, max_length=300)
    language: Language | None = None
    note: str | None = Field(default=None, max_length=500)
    groups: GroupNames | None = None
    tags: TagNames | None = None
    sms_opted_out: bool | None = None
    voice_opted_out: bool | None = None

    _not_null = field_validator("phone", "full_name", "address", "language", "note", "groups", "tags",
                                "sms_opted_out", "voice_opted_out")(not_null)


class ContactPublic(SQLModel):
    id: int
    phone: str | None
    full_name: str
    commune_code: str | None
    address: str
    language: str
    note: str
    sms_opted_out: bool
    voice_opted_out: bool
    opted_out_at: datetime | None
    opt_out_source: str | None
    groups: list[str] = []
    tags: list[str] = []
    created_at: datetime


class GroupCreate(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)


class GroupUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=500)

    _not_null = field_validator("name", "description")(not_null)


class GroupPublic(SQLModel):
    id: int
    name: str
    description: str
    member_count: int = 0
