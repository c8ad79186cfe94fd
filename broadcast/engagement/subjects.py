"""Data-subject requests (Personal Data Protection Law 2025): find, export and erase one phone number.

Erasure anonymises rather than deletes: the resident's row stays (phone NULL, names blanked, erased_at
set, commune kept) so every delivery, reply and event still counts in aggregate metrics, but nothing in
the database can be tied back to the number any more.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, func, or_, true, update
from sqlmodel import Session, SQLModel, col, select

from broadcast.audit import service as audit
from broadcast.audit.models import AuditLog
from broadcast.contacts.models import ConsentEvent, Contact, ContactGroup, ContactTag, GroupMember, Tag
from broadcast.db import utcnow
from broadcast.engagement.models import Conversation, Publication
from broadcast.events.models import EngagementEvent
from broadcast.exceptions import NotFoundError, ValidationFailed
from broadcast.outbox.models import Delivery, DeliveryAttempt, InboundMessage
from broadcast.phones import PhoneError, mask_phone, normalize_vn_phone
from broadcast.quiz.models import QuizAnswer, QuizSession

ERASED = "[đã xoá]"


def _normalize(raw: str) -> str:
    try:
        return normalize_vn_phone(raw)
    except PhoneError as exc:
        raise ValidationFailed(str(exc), field="phone") from None


def variants(phone: str) -> list[str]:
    """Spellings of an E.164 number that may sit in free text, longest first."""
    nsn = phone.removeprefix("+84")
    return [phone, "84" + nsn, "0" + nsn, nsn]


def _rows(session: Session, model: type[SQLModel], *where: Any) -> list[dict[str, Any]]:
    return [audit.snapshot(row) or {} for row in session.exec(select(model).where(*where)).all()]


def find_subject(session: Session, raw_phone: str) -> dict[str, Any]:
    """Everything held about a phone number, table by table (for access and portability requests)."""
    phone = _normalize(raw_phone)
    contacts = session.exec(select(Contact).where(Contact.phone == phone)).all()
    ids = [c.id for c in contacts if c.id is not None]
    delivery = or_(col(Delivery.to_phone) == phone, col(Delivery.contact_id).in_(ids))
    inbound = or_(col(InboundMessage.from_phone) == phone, col(InboundMessage.contact_id).in_(ids))
    delivery_ids = select(Delivery.id).where(delivery)
    conversation_ids = select(InboundMessage.conversation_id).where(inbound)
    groups = session.exec(select(ContactGroup.name).join(GroupMember, col(GroupMember.group_id) == ContactGroup.id)
                          .where(col(GroupMember.contact_id).in_(ids))).all()
    tags = session.exec(select(Tag.name).join(ContactTag, col(ContactTag.tag_id) == Tag.id)
                        .where(col(ContactTag.contact_id).in_(ids))).all()
    return {
        "phone": phone,
        "generated_at": utcnow().isoformat(),
        "contacts": [audit.snapshot(c) for c in contacts],
        "groups": sorted(groups),
        "tags": sorted(tags),
        "consent_events": _rows(session, ConsentEvent, col(ConsentEvent.contact_id).in_(ids)),
        "deliveries": _rows(session, Delivery, delivery),
        "delivery_attempts": _rows(session, DeliveryAttempt, col(DeliveryAttempt.delivery_id).in_(delivery_ids)),
        "inbound_messages": _rows(session, InboundMessage, inbound),
        "conversations": _rows(session, Conversation, or_(col(Conversation.contact_id).in_(ids),
                                                          col(Conversation.id).in_(conversation_ids))),
        "engagement_events": _rows(session, EngagementEvent, col(EngagementEvent.contact_id).in_(ids)),
        "quiz_sessions": _rows(session, QuizSession, col(QuizSession.contact_id).in_(ids)),
        "quiz_answers": _rows(session, QuizAnswer, col(QuizAnswer.session_id).in_(
            select(QuizSession.id).where(col(QuizSession.contact_id).in_(ids)))),
    }


def _scrub(value: Any, needles: list[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            value = value.replace(needle, ERASED)
        return value
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, needles) for k, v in value.items()}
    return value


def erase_subject(session: Session, raw_phone: str, *, actor_id: int | None = None,
                  actor: str = "system") -> dict[str, int]:
    """Anonymise every trace of a phone number; returns how many rows of each kind were changed."""
    phone = _normalize(raw_phone)
    needles = variants(phone)
    contacts = session.exec(select(Contact).where(Contact.phone == phone)).all()
    ids = [c.id for c in contacts if c.id is not None]
    in_filter = or_(col(InboundMessage.from_phone) == phone, col(InboundMessage.contact_id).in_(ids))
    if not ids and session.exec(select(func.count()).select_from(InboundMessage).where(in_filter)).one() == 0 \
            and session.exec(select(func.count()).select_from(Delivery).where(Delivery.to_phone == phone)).one() == 0:
        raise NotFoundError(f"Không có dữ liệu nào về số {mask_phone(phone)}")
    now = utcnow()
    counts: dict[str, int] = {"contacts": len(contacts)}
    personal = {v.strip() for c in contacts for v in (c.full_name, c.address) if len(v.strip()) >= 4}
    for contact in contacts:
        contact.phone, contact.full_name, contact.address, contact.note = None, "", "", ""
        contact.erased_at = contact.updated_at = now
        contact.sms_opted_out = contact.voice_opted_out = True  # never contacted again, even if re-linked
        session.add(contact)
    session.flush()
    d_filter = or_(col(Delivery.to_phone) == phone, col(Delivery.contact_id).in_(ids))
    delivery_ids = [int(i) for i in session.exec(select(Delivery.id).where(d_filter)).all() if i is not None]
    # Answers and auto-replies are personal text; campaign messages keep body NULL (the campaign's text).
    counts["deliveries"] = _update(session, update(Delivery).where(d_filter).values(to_phone=None))
    session.execute(update(Delivery).where(d_filter, col(Delivery.body).is_not(None)).values(body=ERASED))
    counts["inbound_messages"] = _update(session, update(InboundMessage).where(in_filter).values(
        from_phone=None, body=ERASED))
    counts["text_scrubbed"] = 0
    for model, name, where in (
        (Delivery, "error_message", col(Delivery.id).in_(delivery_ids)),
        (DeliveryAttempt, "detail", col(DeliveryAttempt.delivery_id).in_(delivery_ids)),
        (ConsentEvent, "detail", col(ConsentEvent.contact_id).in_(ids)),
        (Publication, "question", true()),  # published texts are anonymised; anything left over goes too
        (Publication, "answer", true()),
    ):
        column = getattr(model, name)
        for needle in needles + (sorted(personal, key=len, reverse=True) if model is Publication else []):
            counts["text_scrubbed"] += _update(session, update(model).where(
                where, column.contains(needle)).values({name: func.replace(column, needle, ERASED)}))
    counts["audit_entries"] = _scrub_audit(session, needles, sorted(personal, key=len, reverse=True), ids)
    audit.record(session, action="data_subject.erase", entity="contact", entity_id=",".join(map(str, ids)) or None,
                 actor_id=actor_id, actor=actor, after={"phone": mask_phone(phone), **counts})
    session.flush()
    return counts


def _update(session: Session, statement: Any) -> int:
    return int(getattr(session.execute(statement.execution_options(synchronize_session=False)), "rowcount", 0))


def _scrub_audit(session: Session, needles: list[str], personal: list[str], contact_ids: list[int]) -> int:
    """Audit snapshots (e.g. a contact's before/after) are JSON: rewrite the ones mentioning the person."""
    nsn = needles[-1]
    mentions = [cast(col(AuditLog.before), Text).contains(nsn), cast(col(AuditLog.after), Text).contains(nsn),
                col(AuditLog.entity_id).contains(nsn)]
    if contact_ids:
        mentions.append((col(AuditLog.entity) == "contact") & col(AuditLog.entity_id).in_(map(str, contact_ids)))
    rows = session.exec(select(AuditLog).where(or_(*mentions))).all()
    for row in rows:
        row.before, row.after = _scrub(row.before, needles + personal), _scrub(row.after, needles + personal)
        row.entity_id = _scrub(row.entity_id, needles)
        session.add(row)
    return len(rows)
