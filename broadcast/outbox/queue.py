"""Delivery queries and one-off sends (test messages, replies) through the normal outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel import Session, col, select

from broadcast.accounts.models import User
from broadcast.audit import service as audit
from broadcast.contacts.models import Contact
from broadcast.db import utcnow
from broadcast.exceptions import NotFoundError, ValidationFailed
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus, InboundMessage
from broadcast.phones import PhoneError, normalize_vn_phone

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


def send_test(session: Session, *, to: str, body: str, actor: User, campaign_id: int | None = None) -> Delivery:
    """One test SMS to an officer's own phone, through the normal dispatcher (ahead of campaigns, no quiet hours
    or caps), recorded in the audit log."""
    if not body.strip():
        raise ValidationFailed("Chưa có nội dung SMS để gửi thử.", field="text")
    delivery = queue_message(session, to=to, body=body, created_by_id=actor.id)
    audit.record(session, action="sms.test", entity="delivery", entity_id=delivery.id, actor_id=actor.id,
                 actor=actor.username, after={"to": delivery.to_phone, "campaign_id": campaign_id})
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




def contact_history(session: Session, contact_id: int, *, limit: int = 100) -> list[Delivery]:
    return list(
        session.exec(
            select(Delivery).where(Delivery.contact_id == contact_id)
            .order_by(col(Delivery.created_at).desc()).limit(limit)
        ).all()
    )


def failed_of(session: Session, campaign_id: int, *, limit: int = 20) -> list[Delivery]:
    """A campaign's latest failed or undelivered messages."""
    return list(session.exec(
        select(Delivery).where(Delivery.campaign_id == campaign_id,
                               col(Delivery.status).in_([DeliveryStatus.failed, DeliveryStatus.undelivered]))
        .order_by(col(Delivery.id).desc()).limit(limit)).all())


def replies_to(session: Session, campaign_id: int | None = None, *, limit: int = 10) -> list[InboundMessage]:
    """The latest incoming messages (about one campaign, or all)."""
    query = select(InboundMessage)
    if campaign_id is not None:
        query = query.where(InboundMessage.campaign_id == campaign_id)
    return list(session.exec(query.order_by(col(InboundMessage.received_at).desc()).limit(limit)).all())
