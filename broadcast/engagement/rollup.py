"""The delivery rollup: counts per run × commune × channel × local day × status × reason.

Aggregating ten million Delivery rows on every dashboard view is too slow, so metrics read this table.
A refresh recomputes, in one set-based statement per batch of runs, every run with a delivery changed
since the previous refresh (the outbox stamps `updated_at` on each change). Recomputing a whole run is
idempotent, so late, duplicated or out-of-order status reports can never double-count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, case, delete, func, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.db import utcnow
from broadcast.engagement.models import DeliveryRollup, EventRollup, RollupState
from broadcast.engagement.retained import EventArchive, retained_runs
from broadcast.events.models import EngagementEvent, EventKind
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus

STATE = "delivery"
# Kinds counted from the event rollup; each is stamped with the time it was written, so a campaign
# whose events changed is found by `occurred_at` (airing confirmations are counted from Airing instead).
COUNTED_EVENTS = (EventKind.click, EventKind.download, EventKind.opt_out)
# A transaction may commit a change stamped slightly before the refresh started: look back this far.
OVERLAP = timedelta(minutes=2)
_BATCH = 500
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_REASON_STATUSES = (DeliveryStatus.failed, DeliveryStatus.undelivered, DeliveryStatus.skipped,
                    DeliveryStatus.cancelled)


def local_day(session: Session, settings: Settings, column: Any) -> ColumnElement[str]:
    """SQL for the local calendar date (YYYY-MM-DD) of a UTC timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(settings.timezone, column), "YYYY-MM-DD")
    offset = utcnow().astimezone(settings.zone).utcoffset() or timedelta()
    minutes = int(offset.total_seconds() // 60)  # SQLite has no time zones; the zone's current offset
    return func.strftime("%Y-%m-%d", column, f"{minutes:+d} minutes")


def _state(session: Session, name: str = STATE) -> RollupState:
    query = select(RollupState).where(col(RollupState.name) == name).with_for_update()
    state = session.execute(query).scalars().first()
    if state is None:
        state = RollupState(name=name, watermark=_EPOCH, refreshed_at=_EPOCH)
        session.add(state)
        session.flush()
    return state


def rebuild_runs(session: Session, settings: Settings, run_ids: list[int]) -> None:
    """Recompute the rollup rows of these runs from the raw deliveries."""
    reason = case(
        (col(Delivery.error_code).is_(None) & col(Delivery.status).in_(_REASON_STATUSES),
         func.coalesce(func.substr(col(Delivery.error_message), 1, 60), "")),
        else_=literal("", String),
    )
    day = local_day(session, settings, func.coalesce(col(Delivery.sent_at), col(Delivery.created_at)))
    commune = func.coalesce(col(Contact.commune_code), "")
    for start in range(0, len(run_ids), _BATCH):
        chunk = run_ids[start:start + _BATCH]
        session.execute(delete(DeliveryRollup).where(col(DeliveryRollup.run_id).in_(chunk)))
        # Label the expressions in a subquery and group by the labels: PostgreSQL does not see two
        # renderings of an expression with separate bind parameters as the same grouping key.
        inner = (
            select(col(Delivery.run_id).label("run_id"), col(Delivery.campaign_id).label("campaign_id"),
                   commune.label("commune_code"), col(Delivery.channel).label("channel"), day.label("day"),
                   col(Delivery.status).label("status"),
                   func.coalesce(col(Delivery.error_code), 0).label("error_code"), reason.label("reason"),
                   col(Delivery.segments).label("segments"))
            .select_from(Delivery)
            .outerjoin(Contact, col(Contact.id) == col(Delivery.contact_id))
            .where(col(Delivery.run_id).in_(chunk), col(Delivery.kind) == DeliveryKind.campaign,
                   col(Delivery.campaign_id).is_not(None))
        ).subquery()
        keys = [inner.c.run_id, inner.c.campaign_id, inner.c.commune_code, inner.c.channel, inner.c.day,
                inner.c.status, inner.c.error_code, inner.c.reason]
        source = select(*keys, func.count(), func.coalesce(func.sum(inner.c.segments), 0)).group_by(*keys)
        columns = ["run_id", "campaign_id", "commune_code", "channel", "day", "status", "error_code", "reason",
                   "n", "segments"]
        session.execute(DeliveryRollup.__table__.insert().from_select(columns, source))  # type: ignore[attr-defined]
    session.flush()


def refresh_rollup(session: Session, settings: Settings, *, max_age_seconds: float = 0.0,
                   full: bool = False) -> int:
    """Bring the rollup up to date; returns how many runs were recomputed (0 if refreshed recently)."""
    state = _state(session)
    started = utcnow()
    if not full and max_age_seconds and (started - state.refreshed_at).total_seconds() < max_age_seconds:
        return 0
    since = _EPOCH if full else state.watermark - OVERLAP
    # A run retention pruned keeps the rollup rows it had: its deliveries are gone (or going).
    dirty = [int(r) for r in session.execute(
        select(col(Delivery.run_id)).where(col(Delivery.updated_at) >= since, col(Delivery.run_id).is_not(None),
                                           col(Delivery.run_id).not_in(retained_runs()))
        .distinct()).scalars()]
    if full:
        session.execute(delete(DeliveryRollup).where(col(DeliveryRollup.run_id).not_in(retained_runs())))
    rebuild_runs(session, settings, sorted(dirty))
    state.watermark, state.refreshed_at = started, utcnow()
    session.add(state)
    _refresh_events(session, settings, full=full, started=started)
    session.flush()
    return len(dirty)


def ensure_recent(session: Session, settings: Settings) -> int:
    """Refresh the rollups if the scheduler has not lately (not running, or behind); runs recomputed.

    The scheduler refreshes every METRICS_REFRESH_SECONDS, so a page normally reads without waiting.
    A refresh already in progress elsewhere is never waited for (PostgreSQL): the page shows the
    figures "as of" the last refresh instead.
    """
    max_age = 4 * settings.metrics_refresh_seconds
    state = session.execute(select(RollupState).where(col(RollupState.name) == STATE)).scalars().first()
    if state is not None and (utcnow() - state.refreshed_at).total_seconds() < max_age:
        return 0
    if state is not None and session.get_bind().dialect.name == "postgresql":
        free = session.execute(select(col(RollupState.name)).where(col(RollupState.name) == STATE)
                               .with_for_update(skip_locked=True)).first()
        if free is None:
            return 0
    return refresh_rollup(session, settings, max_age_seconds=max_age)


def _refresh_events(session: Session, settings: Settings, *, full: bool, started: datetime) -> None:
    state = _state(session, "event")
    since = _EPOCH if full else state.watermark - OVERLAP
    E = EngagementEvent
    dirty = [int(c) for c in session.execute(
        select(col(E.campaign_id)).where(col(E.occurred_at) >= since, col(E.campaign_id).is_not(None)).distinct()
    ).scalars()]
    if full:
        session.execute(delete(EventRollup))
        dirty = sorted(set(dirty) | set(session.execute(select(col(EventArchive.campaign_id)).distinct()).scalars()))
    rebuild_event_campaigns(session, settings, dirty)
    state.watermark, state.refreshed_at = started, utcnow()
    session.add(state)


def rebuild_event_campaigns(session: Session, settings: Settings, campaign_ids: list[int]) -> None:
    """Recompute the event rollup rows of these campaigns: remaining events plus those retention archived."""
    E, A = EngagementEvent, EventArchive
    day = local_day(session, settings, col(E.occurred_at))
    for start in range(0, len(campaign_ids), _BATCH):
        chunk = campaign_ids[start:start + _BATCH]
        session.execute(delete(EventRollup).where(col(EventRollup.campaign_id).in_(chunk)))
        inner = union_all(
            select(col(E.campaign_id).label("campaign_id"),
                   func.coalesce(col(E.commune_code), "").label("commune_code"),
                   col(E.kind).label("kind"), day.label("day"), literal(1, BigInteger).label("n"))
            .where(col(E.campaign_id).in_(chunk), col(E.kind).in_(COUNTED_EVENTS)),
            select(col(A.campaign_id), col(A.commune_code), col(A.kind), col(A.day), col(A.n))
            .where(col(A.campaign_id).in_(chunk), col(A.kind).in_(COUNTED_EVENTS)),
        ).subquery()
        keys = [inner.c.campaign_id, inner.c.commune_code, inner.c.kind, inner.c.day]
        source = select(*keys, func.sum(inner.c.n)).group_by(*keys)
        session.execute(EventRollup.__table__.insert().from_select(  # type: ignore[attr-defined]
            ["campaign_id", "commune_code", "kind", "day", "n"], source))


def freshness(session: Session) -> datetime | None:
    """When the rollup was last brought up to date."""
    state = session.get(RollupState, STATE)
    return state.watermark if state is not None else None
