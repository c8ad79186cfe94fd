"""What stays of a campaign run once retention has deleted its per-resident rows, and how metrics read it.

Retention (broadcast/engagement/retention.py) deletes a finished run's deliveries, their attempts and the events
linked to them once the rollups hold their figures. Most figures already come from the rollups; the rest
are kept here: a run's per-group and voice-call sums (`RetainedRun`), and the counts of the events it
deleted (`EventArchive`, which the event rollup adds to what it counts from the remaining events).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, Session, SQLModel, col

from broadcast.db import BigIntId, UTCDateTime, utcnow
from broadcast.engagement.models import DeliveryRollup


class RetainedRun(SQLModel, table=True):
    """A run whose per-resident rows retention deleted (or is deleting), with the sums metrics still need."""

    __tablename__ = "retained_run"
    __table_args__ = (Index("ix_retained_run_campaign", "campaign_id"),)

    run_id: int = Field(sa_column=Column(BigIntId, ForeignKey("campaign_run.id", ondelete="CASCADE"),
                                         primary_key=True, autoincrement=False))
    campaign_id: int
    pruned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deliveries: int = Field(default=0, sa_type=BigIntId)  # rows the run had when it was pruned
    # Per group id: [targeted, sent, delivered, failed, segments] (membership as it was at pruning).
    groups: dict[str, list[int]] = Field(default_factory=dict, sa_column=Column(JSON))
    voice: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON))  # VoiceSums as a dict


class EventArchive(SQLModel, table=True):
    """Counts of engagement events retention deleted, per campaign × commune × kind × local day."""

    __tablename__ = "event_archive"
    __table_args__ = (Index("ix_event_archive_campaign", "campaign_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    campaign_id: int
    commune_code: str = Field(default="", max_length=5)
    kind: str = Field(sa_type=String(20))
    day: str = Field(max_length=10)
    n: int = Field(default=0, sa_type=BigIntId)


@dataclass
class VoiceSums:
    """The additive parts of a campaign's voice figures (see channels/voice_metrics.py)."""

    residents: int = 0
    answered: int = 0
    machines: int = 0
    not_reached: int = 0
    in_progress: int = 0
    share_sum: float = 0.0
    share_n: int = 0
    seconds: int = 0
    cost: float = 0.0
    placed: int = 0
    repeats: int = 0
    callback_presses: int = 0
    opt_outs: int = 0
    sms_deliveries: int = 0  # a voice-only campaign's SMS are its fallbacks

    def add(self, other: dict[str, Any]) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + type(getattr(self, f.name))(other.get(f.name, 0) or 0))


def retained_runs(campaign_id: int | None = None) -> Any:
    """SELECT of the pruned runs' ids (of one campaign, or all)."""
    query = select(col(RetainedRun.run_id))
    return query.where(col(RetainedRun.campaign_id) == campaign_id) if campaign_id is not None else query


def voice_sums(session: Session, campaign_id: int) -> VoiceSums:
    """The voice sums of a campaign's pruned runs."""
    total = VoiceSums()
    for (voice,) in session.execute(select(col(RetainedRun.voice)).where(col(RetainedRun.campaign_id) == campaign_id)):
        total.add(voice or {})
    return total


def group_figures(session: Session, campaign_id: int) -> dict[int, list[int]]:
    """Per group: [targeted, sent, delivered, failed, segments] summed over a campaign's pruned runs."""
    total: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for (groups,) in session.execute(select(col(RetainedRun.groups))
                                     .where(col(RetainedRun.campaign_id) == campaign_id)):
        for gid, values in (groups or {}).items():
            row = total[int(gid)]
            for i, value in enumerate(values):
                row[i] += int(value)
    return dict(total)


def status_counts(session: Session, campaign_id: int, run_id: int | None = None
                  ) -> tuple[dict[str, int], dict[tuple[str, int | None], int]]:
    """Deliveries of a campaign's pruned runs by status, and by (status, error code), from the rollup."""
    R = DeliveryRollup
    where: list[ColumnElement[bool]] = [col(R.run_id).in_(retained_runs(campaign_id))]
    if run_id is not None:
        where.append(col(R.run_id) == run_id)
    by_status: dict[str, int] = defaultdict(int)
    by_code: dict[tuple[str, int | None], int] = defaultdict(int)
    for status, code, n in session.execute(select(col(R.status), col(R.error_code), func.sum(col(R.n)))
                                           .where(*where).group_by(col(R.status), col(R.error_code))):
        by_status[status] += int(n)
        by_code[(status, int(code) or None)] += int(n)
    return dict(by_status), dict(by_code)
