"""Who is taking which quiz (one session per resident and campaign), their answers, and closed contests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from broadcast.db import BigIntId, UTCDateTime, utcnow


class SessionStatus(StrEnum):
    open = "open"  # a question is waiting for the resident's answer
    completed = "completed"  # every question answered
    expired = "expired"  # a question went unanswered past the quiz's hours, or the quiz closed
    opted_out = "opted_out"  # the resident opted out in the middle


class QuizSession(SQLModel, table=True):
    """One resident's pass through one campaign's quiz: where they are, and their score so far."""

    __tablename__ = "quiz_session"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_quiz_session_campaign_contact"),  # answer once
        Index("ix_quiz_session_contact_status", "contact_id", "status"),
        Index("ix_quiz_session_status_asked", "status", "asked_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    campaign_id: int = Field(sa_column=Column(ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False))
    contact_id: int | None = Field(
        default=None, sa_column=Column(BigIntId, ForeignKey("contact.id", ondelete="SET NULL"))
    )
    commune_code: str = Field(default="", max_length=5)  # the resident's commune when they started
    channel: str = Field(default="sms", sa_type=String(10))  # where they started: sms or voice
    position: int = Field(default=0)  # the question waiting for an answer (0-based; = count when done)
    hinted: bool = Field(default=False)  # the waiting question was asked again with a hint
    asked_delivery_id: int | None = Field(default=None, sa_type=BigIntId)  # the outbox row carrying it
    asked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default=SessionStatus.open, sa_type=String(10))
    answered: int = Field(default=0)
    correct: int = Field(default=0)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class QuizAnswer(SQLModel, table=True):
    """A resident's one answer to one question (a second answer to the same question is never stored)."""

    __tablename__ = "quiz_answer"
    __table_args__ = (
        UniqueConstraint("session_id", "position", name="uq_quiz_answer_session_position"),
        Index("ix_quiz_answer_campaign", "campaign_id", "position"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    session_id: int = Field(
        sa_column=Column(BigIntId, ForeignKey("quiz_session.id", ondelete="CASCADE"), nullable=False)
    )
    campaign_id: int
    position: int
    value: str = Field(max_length=40)  # canonical: "1".."4", "yes"/"no", or the number
    correct: bool | None = Field(default=None)  # None: a survey question
    channel: str = Field(default="sms", sa_type=String(10))
    message_id: int | None = Field(default=None, sa_type=BigIntId)  # the SMS that carried it
    answered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ContestClosing(SQLModel, table=True):
    """A contest whose closing time has passed: its sessions closed and its answer key queued, once."""

    __tablename__ = "quiz_contest_closing"

    campaign_id: int = Field(sa_column=Column(ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True))
    closed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    notified: int = Field(default=0)
