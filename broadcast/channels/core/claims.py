"""The outbox's database side: claim due deliveries, record attempts and outcomes, reclaim stale ones.

Every statement here is set-based (one statement per batch), so a dispatcher costs a handful of
round trips per batch, not per message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import col

from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.channels.core.contract import Result
from broadcast.db import UTCDateTime
from broadcast.outbox.models import Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus, DispatcherHeartbeat

D = DeliveryStatus


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker now owns until it records an outcome."""

    id: int
    campaign_id: int | None
    run_id: int | None
    contact_id: int | None
    to_phone: str | None
    channel: str
    kind: str
    body: str | None
    attempts: int
    claimed_at: datetime


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed delivery; `status` is the new outbox status."""

    delivery_id: int
    attempt: int
    status: str  # sent | queued (retry/release) | failed | skipped | cancelled | sending (unknown)
    result: Result
    provider: str | None = None
    provider_sid: str | None = None
    provider_status: str | None = None
    segments: int | None = None
    price: float | None = None
    error_code: int | None = None
    error_message: str | None = None
    next_attempt_at: datetime | None = None
    at: datetime | None = None
    waiting_reason: str | None = None  # why a row handed back waits (an outbox WaitingReason)


def _claim_columns() -> tuple[Any, ...]:
    return (
        col(Delivery.id), col(Delivery.campaign_id), col(Delivery.run_id), col(Delivery.contact_id),
        col(Delivery.to_phone), col(Delivery.channel), col(Delivery.kind), col(Delivery.body),
        col(Delivery.attempts),
    )


# One-off messages (an officer's test, an answer to a resident) go before campaign traffic.
PRIORITY_KINDS = (DeliveryKind.test, DeliveryKind.reply, DeliveryKind.system)


def claim_due(conn: Connection, *, worker: str, channel: str, limit: int, now: datetime,
              where: ColumnElement[bool] | None = None) -> list[Claimed]:
    """Atomically take up to `limit` due deliveries (SKIP LOCKED on PostgreSQL) and record the attempts.

    `where` narrows the rows further (routing: which SMS go to Twilio, which to a gateway phone).
    """
    first = _claim(conn, worker=worker, channel=channel, limit=limit, now=now, kinds=PRIORITY_KINDS, where=where)
    rest = []
    if len(first) < limit:
        rest = _claim(conn, worker=worker, channel=channel, limit=limit - len(first), now=now,
                      kinds=(DeliveryKind.campaign,), where=where)
    rows = sorted(first, key=lambda r: r.id) + sorted(rest, key=lambda r: r.id)
    _start_attempts(conn, rows, worker=worker, now=now)
    return rows  # replies and test messages first: they are sent in this order


def _claim(conn: Connection, *, worker: str, channel: str, limit: int, now: datetime,
           kinds: tuple[str, ...], where: ColumnElement[bool] | None = None) -> list[Claimed]:
    due = (
        select(col(Delivery.id))
        .outerjoin(Campaign, col(Campaign.id) == col(Delivery.campaign_id))
        .where(
            col(Delivery.status) == D.queued,
            col(Delivery.kind).in_(kinds),
            col(Delivery.next_attempt_at) <= now,
            col(Delivery.channel) == channel,
            or_(col(Delivery.campaign_id).is_(None), col(Campaign.status) == CampaignStatus.sending),
        )
        .limit(limit)
    )
    if where is not None:
        due = due.where(where)
    if conn.dialect.name == "postgresql":
        # Due order straight off ix_delivery_due: adding `id` would make PostgreSQL sort every queued
        # row of a campaign (they share one next_attempt_at) on each claim; ties come in index order.
        due = due.order_by(col(Delivery.next_attempt_at)).with_for_update(skip_locked=True, of=Delivery)
    else:  # SQLite's index ends with the rowid, so `id` costs nothing there
        due = due.order_by(col(Delivery.next_attempt_at), col(Delivery.id))
    stmt = (
        update(Delivery)
        .where(col(Delivery.id).in_(due.scalar_subquery()))
        .values(status=D.sending, claimed_by=worker, claimed_at=now, attempts=col(Delivery.attempts) + 1,
                updated_at=now)
        .returning(*_claim_columns())
    )
    return [Claimed(**row._asdict(), claimed_at=now) for row in conn.execute(stmt)]


def _start_attempts(conn: Connection, rows: Sequence[Claimed], *, worker: str, now: datetime) -> None:
    if rows:
        conn.execute(
            insert(DeliveryAttempt),
            [{"delivery_id": r.id, "number": r.attempts, "worker": worker, "started_at": now} for r in rows],
        )


def reclaim_stale(conn: Connection, *, worker: str, channel: str, lease_seconds: float, now: datetime,
                  limit: int = 200, where: ColumnElement[bool] | None = None) -> list[Claimed]:
    """Take over deliveries left `sending` longer than the lease (a crash or a timed-out call).

    Their outcome is unknown, so the caller must reconcile each with the provider before any resend.
    """
    cutoff = now - timedelta(seconds=lease_seconds)
    stale = (
        select(col(Delivery.id), col(Delivery.claimed_at))
        .where(col(Delivery.status) == D.sending, col(Delivery.channel) == channel,
               col(Delivery.claimed_at) < cutoff)
        .order_by(col(Delivery.claimed_at))
        .limit(limit)
    )
    if where is not None:
        stale = stale.where(where)
    if conn.dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    previous: dict[int, datetime] = {
        row[0]: row[1] for row in conn.execute(stale) if row[0] is not None and row[1] is not None
    }
    if not previous:
        return []
    stmt = (
        update(Delivery)
        .where(col(Delivery.id).in_(list(previous)), col(Delivery.status) == D.sending)
        .values(claimed_by=worker, claimed_at=now, updated_at=now)
        .returning(*_claim_columns())
    )
    # claimed_at carries the *previous* claim time: the provider search starts there.
    return [Claimed(**row._asdict(), claimed_at=previous[row.id]) for row in conn.execute(stmt)]


def record_outcomes(conn: Connection, outcomes: Iterable[Outcome], *, now: datetime) -> None:
    """Write outcomes in one statement per kind; a provider state never moves backwards."""
    outcomes = sorted(outcomes, key=lambda o: o.delivery_id)  # lock rows in id order, as status reports do
    accepted = [o for o in outcomes if o.result == Result.accepted]
    if accepted:
        # A status callback may already have advanced the row (delivered before we wrote `sent`).
        # (`or_` rather than `in_`: expanding IN parameters cannot be used with executemany.)
        not_reported = or_(col(Delivery.status) == D.queued, col(Delivery.status) == D.sending)
        advance = case((not_reported, D.sent), else_=col(Delivery.status))
        conn.execute(
            update(Delivery)
            .where(col(Delivery.id) == bindparam("b_id"))
            .values(
                status=advance,
                provider=bindparam("b_provider"),
                provider_sid=bindparam("b_sid"),
                provider_status=case(
                    (col(Delivery.provider_status).is_(None), bindparam("b_pstatus")),
                    else_=col(Delivery.provider_status),
                ),
                segments=bindparam("b_segments"),
                price=bindparam("b_price"),
                sent_at=bindparam("b_at", type_=UTCDateTime()),
                # clear a previous attempt's error, but not one the provider already reported
                error_code=case((not_reported, None), else_=col(Delivery.error_code)),
                error_message=case((not_reported, None), else_=col(Delivery.error_message)),
                waiting_reason=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False),
            [
                {"b_id": o.delivery_id, "b_provider": o.provider, "b_sid": o.provider_sid,
                 "b_pstatus": o.provider_status, "b_segments": o.segments, "b_price": o.price,
                 "b_at": o.at or now}
                for o in accepted
            ],
        )
    others = [o for o in outcomes if o.result != Result.accepted and o.result != Result.unknown]
    if others:
        conn.execute(
            update(Delivery)
            .where(col(Delivery.id) == bindparam("b_id"), col(Delivery.status) == D.sending)
            .values(
                status=bindparam("b_status"),
                attempts=col(Delivery.attempts) - bindparam("b_undo"),
                error_code=bindparam("b_code"),
                error_message=bindparam("b_message"),
                next_attempt_at=case(
                    (bindparam("b_next", type_=UTCDateTime()).is_(None), col(Delivery.next_attempt_at)),
                    else_=bindparam("b_next", type_=UTCDateTime()),
                ),
                finished_at=bindparam("b_finished", type_=UTCDateTime()),
                waiting_reason=bindparam("b_reason"),
                claimed_by=None,
                updated_at=now,
            ),
            [
                {"b_id": o.delivery_id, "b_status": o.status, "b_undo": 1 if o.result == Result.released else 0,
                 "b_code": o.error_code, "b_message": (o.error_message or None) and o.error_message[:500],
                 "b_next": o.next_attempt_at, "b_reason": o.waiting_reason if o.status == D.queued else None,
                 "b_finished": now if o.status in (D.failed, D.skipped, D.cancelled) else None}
                for o in outcomes if o in others
            ],
        )
    _finish_attempts(conn, outcomes, now=now)


def _finish_attempts(conn: Connection, outcomes: Sequence[Outcome], *, now: datetime) -> None:
    rows = [o for o in outcomes if o.result != Result.released]
    if rows:
        conn.execute(
            update(DeliveryAttempt)
            .where(
                and_(col(DeliveryAttempt.delivery_id) == bindparam("b_id"),
                     col(DeliveryAttempt.number) == bindparam("b_n"))
            )
            .values(finished_at=now, outcome=bindparam("b_outcome"), error_code=bindparam("b_code"),
                    detail=bindparam("b_detail")),
            [
                {"b_id": o.delivery_id, "b_n": o.attempt, "b_outcome": o.result, "b_code": o.error_code,
                 "b_detail": (o.provider_sid or o.error_message or "")[:500] or None}
                for o in rows
            ],
        )
    released = [o for o in outcomes if o.result == Result.released]
    if released:
        conn.execute(
            delete(DeliveryAttempt).where(
                and_(col(DeliveryAttempt.delivery_id) == bindparam("b_id"),
                     col(DeliveryAttempt.number) == bindparam("b_n"))
            ),
            [{"b_id": o.delivery_id, "b_n": o.attempt} for o in released],
        )


@dataclass(frozen=True)
class Unsettled:
    """An accepted message whose final status has not come: to look up at the provider."""

    id: int
    provider_sid: str
    sent_at: datetime | None


def claim_unsettled(conn: Connection, *, channel: str, provider: str, older_than: datetime, now: datetime,
                    limit: int) -> list[Unsettled]:
    """Take up to `limit` messages `sent` through `provider` and silent since `older_than`, oldest first.

    Taking one moves its updated_at to now, so no other dispatcher asks about it meanwhile and it is asked
    about again only after another timeout if the provider has no final state for it yet.
    """
    silent = (
        select(col(Delivery.id))
        .where(col(Delivery.status) == D.sent, col(Delivery.channel) == channel,
               col(Delivery.provider) == provider, col(Delivery.provider_sid).is_not(None),
               col(Delivery.updated_at) < older_than)
        .order_by(col(Delivery.updated_at))
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        silent = silent.with_for_update(skip_locked=True)
    stmt = (
        update(Delivery)
        .where(col(Delivery.id).in_(silent.scalar_subquery()), col(Delivery.status) == D.sent)
        .values(updated_at=now)
        .returning(col(Delivery.id), col(Delivery.provider_sid), col(Delivery.sent_at))
    )
    return [Unsettled(row.id, str(row.provider_sid), row.sent_at) for row in conn.execute(stmt) if row.id is not None]


def give_up(conn: Connection, ids: Sequence[int], *, now: datetime, reason: str) -> int:
    """Record as `unknown` the messages still `sent` among `ids` (the provider never gave a final state)."""
    if not ids:
        return 0
    result = conn.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(list(ids)), col(Delivery.status) == D.sent)
        .values(status=D.unknown, finished_at=now, updated_at=now, error_message=reason[:500])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def beat(conn: Connection, *, worker: str, provider: str, now: datetime) -> None:
    """Record that this dispatcher is alive (and forget dispatchers silent for a day)."""
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert_(DispatcherHeartbeat).values(worker=worker, provider=provider, beat_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=["worker"], set_={"beat_at": now}))
    conn.execute(delete(DispatcherHeartbeat).where(col(DispatcherHeartbeat.beat_at) < now - timedelta(days=1)))
