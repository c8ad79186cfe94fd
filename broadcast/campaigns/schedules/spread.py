"""Window spreading: place a run's queued deliveries evenly over its sending intervals in one UPDATE."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy import BigInteger, case, cast, func, literal, over, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from broadcast.campaigns.schedules.rules import usable_seconds
from broadcast.outbox.models import Delivery, DeliveryStatus, WaitingReason


def _epoch(moment: datetime, *, up: bool = False) -> int:
    """Whole epoch seconds; rounded up for an interval's start so nothing goes before it opens."""
    value = moment.astimezone(UTC).timestamp()
    return math.ceil(value) if up else math.floor(value)


def _as_timestamp(epoch: ColumnElement[int], dialect: str) -> ColumnElement[datetime]:
    """Epoch seconds as the column's stored form (SQLite keeps naive UTC text with microseconds)."""
    if dialect == "postgresql":
        return func.to_timestamp(epoch)
    text = func.strftime("%Y-%m-%d %H:%M:%S", epoch, "unixepoch") + literal(".000000")
    return text


def spread_deliveries(session: Session, run_id: int, intervals: list[tuple[datetime, datetime]]) -> int:
    """Give each queued delivery of the run a send time so each channel's rows fill the intervals evenly.

    Row k of n (per channel, in id order) goes at usable * k / n seconds into the concatenated
    intervals, so the last one leaves before the window closes. Returns the rows updated.
    """
    spans = [(lo, hi) for lo, hi in intervals if hi > lo]
    if not spans:
        return 0
    lengths = [max(_epoch(hi) - _epoch(lo, up=True), 0) for lo, hi in spans]
    total = int(usable_seconds(float(sum(lengths))))
    if total <= 0:
        return 0
    ranked = (
        select(
            col(Delivery.id).label("id"),
            (over(func.row_number(), partition_by=col(Delivery.channel), order_by=col(Delivery.id)) - 1)
            .label("k"),
            over(func.count(), partition_by=col(Delivery.channel)).label("n"),
        )
        .where(col(Delivery.run_id) == run_id, col(Delivery.status) == DeliveryStatus.queued)
        .subquery()
    )
    # Integer seconds into the spread; BIGINT so k * total cannot overflow on PostgreSQL.
    offset = (cast(ranked.c.k, BigInteger) * literal(total, BigInteger)) / ranked.c.n
    branches = []
    before = 0
    for (lo, _hi), length in zip(spans, lengths, strict=True):
        branches.append((offset < before + length, literal(_epoch(lo, up=True), BigInteger) + offset - before))
        before += length
    epoch = case(*branches[:-1], else_=branches[-1][1]) if len(branches) > 1 else branches[0][1]
    dialect = session.get_bind().dialect.name
    stmt = (
        update(Delivery)
        .where(col(Delivery.id) == ranked.c.id)
        .values(next_attempt_at=_as_timestamp(epoch, dialect), waiting_reason=WaitingReason.scheduled)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(stmt)
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
