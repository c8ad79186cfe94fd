"""Shares of the provider budgets, held by every sending process through the database (core/shares.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from broadcast.db import UTCDateTime


class BudgetShare(SQLModel, table=True):
    """One process's lease on part of one budget (a Twilio sender, a gateway phone, a campaign's own rate).

    `share` is how many units per window it may send now; `previous` what it held before its last change at
    `changed_at`, which the others still count for one window (its recent sends are still inside it). A member
    whose `expires_at` passed stopped sending by then; the others take its share over one window later.
    """

    __tablename__ = "budget_share"

    key: str = Field(primary_key=True, max_length=120)
    member: str = Field(primary_key=True, max_length=120)
    rate: float  # units per second this member was configured with (the smallest live one wins)
    period: float  # seconds the rate is counted over (1 for per-second budgets, 60 for per-minute)
    share: int = Field(default=0)
    previous: int = Field(default=0)
    changed_at: datetime = Field(sa_type=UTCDateTime)
    joined_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
