"""Metrics for officers' reports, as set-based SQL: per campaign, commune, group, channel and day.

Delivery and engagement-event counts come from the rollups (see rollup.py; refresh them first);
replies, conversations and airings are counted from their own, much smaller, tables. Every source
deduplicates at write time (MessageSid, dedupe_key, monotonic delivery states).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from broadcast.audio.models import Airing
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.contacts.models import Contact, GroupMember
from broadcast.engagement import retained
from broadcast.engagement.models import Conversation, DeliveryRollup, EventRollup
from broadcast.engagement.reasons import reason_label
from broadcast.engagement.rollup import local_day
from broadcast.events.models import EventKind
from broadcast.outbox.models import Delivery, DeliveryKind, InboundMessage

R = DeliveryRollup
Key = tuple[Any, ...]


@dataclass
class Period:
    """Local calendar dates, inclusive; None leaves that end open."""

    start: date | None = None
    end: date | None = None

    def bounds(self, settings: Settings) -> tuple[datetime | None, datetime | None]:
        zone = settings.zone
        lo = datetime.combine(self.start, time(), zone).astimezone(UTC) if self.start else None
        hi = datetime.combine(self.end + timedelta(days=1), time(), zone).astimezone(UTC) if self.end else None
        return lo, hi


@dataclass
class Counts:
    """One row of a metrics table."""

    targeted: int = 0
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    unknown: int = 0  # accepted, but the provider never reported a final state (counted in `sent` too)
    segments: int = 0
    replies: int = 0
    questions: int = 0
    answered: int = 0
    response_seconds: list[float] = field(default_factory=list)
    opt_outs: int = 0
    unique_clicks: int = 0
    downloads: int = 0
    ratings: int = 0
    rating_sum: int = 0
    airings_planned: int = 0
    airings_confirmed: int = 0

    def to_dict(self, price: float) -> dict[str, Any]:
        data = asdict(self)
        times = data.pop("response_seconds")
        rating_sum = data.pop("rating_sum")
        data["delivery_rate"] = round(self.delivered / self.sent, 4) if self.sent else None
        data["median_response_seconds"] = statistics.median(times) if times else None
        data["average_rating"] = round(rating_sum / self.ratings, 2) if self.ratings else None
        data["estimated_cost"] = round(self.segments * price, 4)
        return data


def _sum_status(*statuses: str) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((col(R.status).in_(statuses), col(R.n)), else_=0)), 0)


_SENT = ("sent", "delivered", "undelivered", "unknown")  # unknown: accepted, final state never learnt
_FAILED = ("failed", "undelivered")


def _rollup_where(campaign_id: int | None, period: Period | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if campaign_id is not None:
        where.append(col(R.campaign_id) == campaign_id)
    if period and period.start:
        where.append(col(R.day) >= period.start.isoformat())
    if period and period.end:
        where.append(col(R.day) <= period.end.isoformat())
    return where


def _scope(campaign: Any, at: Any, campaign_id: int | None, lo: datetime | None,
           hi: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [campaign == campaign_id if campaign_id is not None else campaign.is_not(None)]
    if lo is not None and at is not None:
        where.append(at >= lo)
    if hi is not None and at is not None:
        where.append(at < hi)
    return where


def _rollup_days(day: Any, period: Period | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if period and period.start:
        where.append(day >= period.start.isoformat())
    if period and period.end:
        where.append(day <= period.end.isoformat())
    return where


def _deliveries(session: Session, rows: dict[Key, Counts], keys: list[Any], where: list[ColumnElement[bool]]) -> None:
    query = select(*keys, func.coalesce(func.sum(col(R.n)), 0), _sum_status("queued", "sending"),
                   _sum_status(*_SENT), _sum_status("delivered"), _sum_status(*_FAILED), _sum_status("skipped"),
                   _sum_status("cancelled"), _sum_status("unknown"),
                   func.coalesce(func.sum(col(R.segments)), 0)).where(*where)
    if keys:
        query = query.group_by(*keys)
    for row in session.execute(query):
        k = tuple(row[:len(keys)])
        c = rows[k]
        (c.targeted, c.queued, c.sent, c.delivered, c.failed, c.skipped, c.cancelled, c.unknown,
         c.segments) = (int(v or 0) for v in row[len(keys):])


def _engagement(session: Session, settings: Settings, rows: dict[Key, Counts], by: str | None,
                campaign_id: int | None, period: Period | None) -> None:
    """Events, replies, conversations and airings, keyed by commune (by='commune'), campaign or nothing."""
    lo, hi = period.bounds(settings) if period else (None, None)

    def key_of(campaign: Any, commune: Any) -> Key:
        return {"commune": (commune or "",), "campaign": (campaign,)}.get(by or "", ())

    X = EventRollup
    where = _scope(col(X.campaign_id), None, campaign_id, None, None) + _rollup_days(col(X.day), period)
    keys: list[Any] = [col(X.commune_code)] if by == "commune" else [col(X.campaign_id)] if by == "campaign" else []
    for *key, kind, n in session.execute(
            select(*keys, col(X.kind), func.sum(col(X.n))).where(*where).group_by(*keys, col(X.kind))):
        c = rows[(key[0] or "",) if by == "commune" else tuple(key)]
        if kind == EventKind.click:
            c.unique_clicks += int(n)
        elif kind == EventKind.download:
            c.downloads += int(n)
        else:
            c.opt_outs += int(n)

    M = InboundMessage
    where = _scope(col(M.campaign_id), col(M.received_at), campaign_id, lo, hi)
    for camp, commune, cls, n, rated, rating_sum in session.execute(
            select(col(M.campaign_id), col(Contact.commune_code), col(M.classification), func.count(),
                   func.count(col(M.rating)), func.coalesce(func.sum(col(M.rating)), 0))
            .select_from(M).outerjoin(Contact, col(Contact.id) == col(M.contact_id)).where(*where)
            .group_by(col(M.campaign_id), col(Contact.commune_code), col(M.classification))):
        c = rows[key_of(camp, commune)]
        c.replies += n
        c.questions += n if cls == "question" else 0
        c.ratings += rated
        c.rating_sum += int(rating_sum)

    V = Conversation
    where = _scope(col(V.campaign_id), col(V.created_at), campaign_id, lo, hi)
    for camp, commune, created, answered in session.execute(
            select(col(V.campaign_id), col(Contact.commune_code), col(V.created_at), col(V.first_response_at))
            .select_from(V).outerjoin(Contact, col(Contact.id) == col(V.contact_id)).where(*where)):
        if answered is not None:
            c = rows[key_of(camp, commune)]
            c.answered += 1
            c.response_seconds.append(max(0.0, (answered - created).total_seconds()))

    A = Airing
    where = _scope(col(A.campaign_id), col(A.planned_at), campaign_id, lo, hi)
    for camp, commune, planned, confirmed in session.execute(
            select(col(A.campaign_id), col(A.commune_code), func.count(), func.count(col(A.confirmed_at)))
            .where(*where).group_by(col(A.campaign_id), col(A.commune_code))):
        c = rows[key_of(camp, commune)]
        c.airings_planned += planned
        c.airings_confirmed += confirmed


def campaign_funnel(session: Session, settings: Settings, campaign_id: int) -> dict[str, Any]:
    """One campaign's totals: targeted → sent → delivered, failures, replies, clicks, airings, cost."""
    rows: dict[Key, Counts] = defaultdict(Counts)
    _deliveries(session, rows, [], _rollup_where(campaign_id, None))
    _engagement(session, settings, rows, None, campaign_id, None)
    return {"campaign_id": campaign_id, **rows[()].to_dict(settings.sms_price_per_segment)}


def commune_table(session: Session, settings: Settings, campaign_id: int | None = None,
                  period: Period | None = None) -> list[dict[str, Any]]:
    """The same figures per commune, with the commune's name, sorted by commune code."""
    rows: dict[Key, Counts] = defaultdict(Counts)
    _deliveries(session, rows, [col(R.commune_code)], _rollup_where(campaign_id, period))
    _engagement(session, settings, rows, "commune", campaign_id, period)
    names = dict(session.execute(select(col(Commune.code), col(Commune.name))).all())
    return [{"commune_code": code, "commune_name": names.get(code, ""),
             **rows[(code,)].to_dict(settings.sms_price_per_segment)} for (code,) in sorted(rows)]


def channel_table(session: Session, settings: Settings, campaign_id: int) -> list[dict[str, Any]]:
    """Delivery figures per channel (sms, voice)."""
    rows: dict[Key, Counts] = defaultdict(Counts)
    _deliveries(session, rows, [col(R.channel)], _rollup_where(campaign_id, None))
    return [{"channel": ch, **rows[(ch,)].to_dict(settings.sms_price_per_segment)} for (ch,) in sorted(rows)]


def campaign_table(session: Session, settings: Settings, period: Period) -> list[dict[str, Any]]:
    """Per campaign over a period (for the period report)."""
    rows: dict[Key, Counts] = defaultdict(Counts)
    _deliveries(session, rows, [col(R.campaign_id)], _rollup_where(None, period))
    _engagement(session, settings, rows, "campaign", None, period)
    return [{"campaign_id": cid, **rows[(cid,)].to_dict(settings.sms_price_per_segment)}
            for (cid,) in sorted(rows, key=lambda k: k[0] or 0)]


def group_table(session: Session, settings: Settings, campaign_id: int) -> list[dict[str, Any]]:
    """Delivery figures per resident group, from the raw deliveries (a resident may be in several) and the
    figures kept of runs retention pruned."""
    D = Delivery
    status = col(D.status)
    query = (select(col(GroupMember.group_id), func.count(),
                    func.sum(case((status.in_(_SENT), 1), else_=0)),
                    func.sum(case((status == "delivered", 1), else_=0)),
                    func.sum(case((status.in_(_FAILED), 1), else_=0)), func.coalesce(func.sum(col(D.segments)), 0))
             .select_from(D).join(GroupMember, col(GroupMember.contact_id) == col(D.contact_id))
             .where(col(D.campaign_id) == campaign_id, col(D.kind) == DeliveryKind.campaign)
             .group_by(col(GroupMember.group_id)))
    totals = {gid: [int(v or 0) for v in values] for gid, *values in session.execute(query)}
    for gid, kept in retained.group_figures(session, campaign_id).items():  # runs whose rows retention deleted
        totals[gid] = [a + b for a, b in zip(totals.get(gid, [0] * 5), kept, strict=True)]
    out = []
    for gid in sorted(totals):
        targeted, sent, delivered, failed, segments = totals[gid]
        c = Counts(targeted=targeted, sent=sent, delivered=delivered, failed=failed, segments=segments)
        out.append({"group_id": gid, **c.to_dict(settings.sms_price_per_segment)})
    return out


def failures(session: Session, campaign_id: int | None = None, period: Period | None = None) -> list[dict[str, Any]]:
    """Unsuccessful deliveries by status and reason (provider error code or the outbox's reason)."""
    query = (select(col(R.commune_code), col(R.status), col(R.error_code), col(R.reason), func.sum(col(R.n)))
             .where(*_rollup_where(campaign_id, period),
                    col(R.status).in_(["failed", "undelivered", "skipped", "cancelled"]))
             .group_by(col(R.commune_code), col(R.status), col(R.error_code), col(R.reason))
             .order_by(col(R.commune_code), col(R.status), col(R.error_code)))
    return [{"commune_code": commune, "status": status, "error_code": code or None, "reason": reason,
             "label": reason_label(status, code or None, reason), "count": int(n)}
            for commune, status, code, reason, n in session.execute(query)]


def time_series(session: Session, settings: Settings, campaign_id: int | None = None,
                period: Period | None = None) -> list[dict[str, Any]]:
    """Per local day: sent, delivered, failed, replies and unique clicks (for charts)."""
    days: dict[str, dict[str, int]] = defaultdict(lambda: {"sent": 0, "delivered": 0, "failed": 0,
                                                           "replies": 0, "unique_clicks": 0})
    for day, sent, delivered, failed in session.execute(
            select(col(R.day), _sum_status(*_SENT), _sum_status("delivered"), _sum_status(*_FAILED))
            .where(*_rollup_where(campaign_id, period)).group_by(col(R.day))):
        days[day].update(sent=int(sent), delivered=int(delivered), failed=int(failed))
    lo, hi = period.bounds(settings) if period else (None, None)
    at = col(InboundMessage.received_at)
    day_expr = local_day(session, settings, at)
    for day, n in session.execute(select(day_expr, func.count())
                                  .where(*_scope(col(InboundMessage.campaign_id), at, campaign_id, lo, hi))
                                  .group_by(day_expr)):
        days[day]["replies"] = int(n)
    clicks = [col(EventRollup.kind) == EventKind.click, *_rollup_days(col(EventRollup.day), period),
              *_scope(col(EventRollup.campaign_id), None, campaign_id, None, None)]
    for day, n in session.execute(select(col(EventRollup.day), func.sum(col(EventRollup.n))).where(*clicks)
                                  .group_by(col(EventRollup.day))):
        days[day]["unique_clicks"] = int(n)
    return [{"day": d, **days[d]} for d in sorted(days)]
