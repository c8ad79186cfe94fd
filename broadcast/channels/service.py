"""Delivery queries and one-off sends (test messages, replies) through the normal outbox."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, insert
from sqlmodel import Session, col, select

from broadcast.channels.models import Delivery, DeliveryKind, DeliveryStatus
from broadcast.contacts.models import Contact
from broadcast.contacts.phones import PhoneError, normalize_vn_phone
from broadcast.db import utcnow
from broadcast.engagement import retained
from broadcast.exceptions import NotFoundError, ValidationFailed

DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]


def queue_message(
    session: Session,
    *,
    to: str,
    body: str,
    kind: str = DeliveryKind.test,
    channel: str = "sms",
    created_by_id: int | None = None,
    in_reply_to_id: int | None = None,
    campaign_id: int | None = None,
) -> Delivery:
    """Put one message in the outbox; the dispatcher sends it like any other."""
    try:
        phone = normalize_vn_phone(to)
    except PhoneError as exc:
        raise ValidationFailed(str(exc), field="to") from None
    if not body.strip():
        raise ValidationFailed("Nội dung tin nhắn trống", field="text")
    contact_id = session.exec(select(Contact.id).where(Contact.phone == phone)).first()
    delivery = Delivery(**outbox_row(to_phone=phone, contact_id=contact_id, body=body, kind=kind, channel=channel,
                                     created_by_id=created_by_id, in_reply_to_id=in_reply_to_id,
                                     campaign_id=campaign_id))
    session.add(delivery)
    session.flush()
    return delivery


def outbox_row(
    *,
    to_phone: str,
    contact_id: int | None,
    body: str,
    kind: str,
    channel: str = "sms",
    created_by_id: int | None = None,
    in_reply_to_id: int | None = None,
    campaign_id: int | None = None,
) -> dict[str, Any]:
    """The column values of a queued, due-now outbox row (for many at once: `queue_rows`)."""
    return {"to_phone": to_phone, "contact_id": contact_id, "body": body, "kind": kind, "channel": channel,
            "campaign_id": campaign_id, "status": DeliveryStatus.queued, "next_attempt_at": utcnow(),
            "created_by_id": created_by_id, "in_reply_to_id": in_reply_to_id}


def queue_rows(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert many outbox rows in one statement; their ids, in order."""
    if not rows:
        return []
    stmt = insert(DELIVERIES).returning(DELIVERIES.c.id, sort_by_parameter_order=True)
    return [int(i) for i in session.connection().execute(stmt, list(rows)).scalars()]


def get_delivery(session: Session, delivery_id: int) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFoundError(f"Không tìm thấy tin #{delivery_id}")
    return delivery


FAILURE_STATUSES = (DeliveryStatus.failed, DeliveryStatus.undelivered, DeliveryStatus.skipped)


def campaign_counts(session: Session, campaign_id: int, run_id: int | None = None) -> dict[str, Any]:
    """Delivery counts of a campaign by status and, for failures, by error code."""
    where = [col(Delivery.campaign_id) == campaign_id]
    if run_id is not None:
        where.append(col(Delivery.run_id) == run_id)
    by_status: dict[str, int] = dict(
        session.execute(select(Delivery.status, func.count()).where(*where).group_by(col(Delivery.status)))
        .all()
    )
    failures: dict[tuple[str, int | None], int] = defaultdict(int)
    for s, c, n in session.execute(
        select(Delivery.status, Delivery.error_code, func.count())
        .where(*where, col(Delivery.status).in_(FAILURE_STATUSES))
        .group_by(col(Delivery.status), col(Delivery.error_code))
    ):
        failures[(s, c)] += n
    # Runs whose rows retention deleted are counted from the rollup, which holds their final figures.
    kept_status, kept_codes = retained.status_counts(session, campaign_id, run_id)
    for s, n in kept_status.items():
        by_status[s] = by_status.get(s, 0) + n
    for (s, c), n in kept_codes.items():
        if s in FAILURE_STATUSES:
            failures[(s, c)] += n
    return {
        "total": sum(by_status.values()),
        "by_status": {status.value: by_status.get(status.value, 0) for status in DeliveryStatus},
        "failures": [{"status": s, "error_code": c, "count": n}
                     for (s, c), n in sorted(failures.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))],
    }


def contact_history(session: Session, contact_id: int, *, limit: int = 100) -> list[Delivery]:
    return list(
        session.exec(
            select(Delivery).where(Delivery.contact_id == contact_id)
            .order_by(col(Delivery.created_at).desc()).limit(limit)
        ).all()
    )
