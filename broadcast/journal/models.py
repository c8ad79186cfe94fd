"""Which journaled events were applied: written in the same transaction as the event's own effects, so a
replay cut short (process killed) and started again never applies an event twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from broadcast.db import UTCDateTime, utcnow


class JournalApplied(SQLModel, table=True):
    __tablename__ = "journal_applied"

    event_id: str = Field(primary_key=True, sa_type=String(32))
    kind: str = Field(sa_type=String(20))
    applied_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
