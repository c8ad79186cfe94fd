"""The questions inbox: a resident's questions grouped into conversations, assigned, answered by SMS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, func, insert, update
from sqlmodel import Session, col, select

from broadcast.accounts.models import User
from broadcast.audit import service as audit
from broadcast.db import UTCDateTime, utcnow
from broadcast.engagement.models import Conversation, ConversationStatus
from broadcast.exceptions import InvalidTransition, NotFoundError, ValidationFailed
from broadcast.outbox.models import Delivery, DeliveryKind, InboundMessage
from broadcast.outbox.queue import queue_message

S = ConversationStatus

# Legal topics officers tag questions with (free tags are allowed too).
LEGAL_TOPICS = [
    "đất đai", "hôn nhân và gia đình", "lao động", "dân sự", "hình sự", "hành chính", "thừa kế",
    "bảo hiểm xã hội", "thuế", "giao thông", "môi trường", "thủy sản", "cư trú", "trợ giúp pháp lý",
]


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    assigned_to_id: int | None = None
    topic: str | None = None
    contact_id: int | None = None


_INBOUND: Table = InboundMessage.__table__  # type: ignore[attr-defined]
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[attr-defined]
_FILE_MESSAGE = update(_INBOUND).where(_INBOUND.c.id == bindparam("b_id")).values(
    conversation_id=bindparam("b_conversation"))
_REOPEN = update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == bindparam("b_id")).values(
    status=bindparam("b_status"), last_message_at=bindparam("b_at", type_=UTCDateTime()))
_OPEN = insert(_CONVERSATIONS).returning(_CONVERSATIONS.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class Question:
    """A stored incoming message to file in the inbox."""

    message_id: int
    contact_id: int | None
    from_phone: str | None
    campaign_id: int | None
    at: datetime


@dataclass
class _Filing:
    """A conversation questions are filed in: an open one found, or one this batch opens (`id` None)."""

    id: int | None
    assigned: bool
    last_message_at: datetime
    opened: dict[str, object] | None = None  # the row to insert, for a conversation opened here


def attach_question(session: Session, *, message_id: int, contact_id: int | None, from_phone: str | None,
                    campaign_id: int | None, at: datetime) -> int:
    """File one question in the sender's open conversation, or open a new one; the conversation's id."""
    return attach_questions(session, [Question(message_id, contact_id, from_phone, campaign_id, at)])[0]


def attach_questions(session: Session, questions: Sequence[Question]) -> list[int]:
    """File questions, in arrival order, in their senders' open conversations, opening one where needed.

    A resident's questions group by resident; an unknown number's by the number its earlier questions
    came from. A conversation with a new question goes back to 'new' ('assigned' if it has an officer).
    Set-based Core statements (the webhook's hot path): two queries find the open conversations, then
    one INSERT opens, one UPDATE reopens and one UPDATE files the messages.
    """
    if not questions:
        return []
    open_ones = _open_conversations(session, questions)
    filed: list[_Filing] = []
    for question in questions:
        key = _sender(question)
        filing = open_ones.get(key) if key is not None else None
        if filing is None:
            filing = _Filing(None, False, question.at, opened={
                "contact_id": question.contact_id, "campaign_id": question.campaign_id, "status": S.new, "topics": [],
                "created_at": question.at, "last_message_at": question.at})
            if key is not None:
                open_ones[key] = filing
        else:
            filing.last_message_at = max(filing.last_message_at, question.at)
            if filing.opened is not None:
                filing.opened["last_message_at"] = filing.last_message_at
        filed.append(filing)
    conn = session.connection()
    opening = list({id(f): f for f in filed if f.opened is not None}.values())
    if opening:
        ids = conn.execute(_OPEN, [f.opened for f in opening if f.opened is not None]).scalars().all()
        for filing, new_id in zip(opening, ids, strict=True):
            filing.id = int(new_id)
    reopening = {f.id: f for f in filed if f.opened is None}
    if reopening:
        conn.execute(_REOPEN, [{"b_id": f.id, "b_status": S.assigned if f.assigned else S.new,
                                "b_at": f.last_message_at} for f in reopening.values()])
    conn.execute(_FILE_MESSAGE, [{"b_id": q.message_id, "b_conversation": f.id} for q, f in zip(questions, filed,
                                                                                              strict=True)])
    return [int(f.id or 0) for f in filed]


def _sender(question: Question) -> tuple[str, int | str] | None:
    if question.contact_id is not None:
        return ("contact", question.contact_id)
    return ("phone", question.from_phone) if question.from_phone else None


def _open_conversations(session: Session, questions: Sequence[Question]) -> dict[tuple[str, int | str], _Filing]:
    """The newest open conversation of each sender (later rows overwrite earlier ones)."""
    contacts = {q.contact_id for q in questions if q.contact_id is not None}
    phones = {q.from_phone for q in questions if q.contact_id is None and q.from_phone}
    c = _CONVERSATIONS.c
    columns = (c.id, c.assigned_to_id, c.last_message_at)
    found: dict[tuple[str, int | str], _Filing] = {}
    if contacts:
        for contact_id, *row in session.execute(
                select(c.contact_id, *columns).where(c.status != S.closed, c.contact_id.in_(contacts))
                .order_by(c.id)):
            found[("contact", contact_id)] = _Filing(row[0], row[1] is not None, row[2])
    if phones:
        for phone, *row in session.execute(
                select(_INBOUND.c.from_phone, *columns).join(_CONVERSATIONS, c.id == _INBOUND.c.conversation_id)
                .where(c.status != S.closed, c.contact_id.is_(None), _INBOUND.c.from_phone.in_(phones))
                .order_by(c.id)):
            found[("phone", phone)] = _Filing(row[0], row[1] is not None, row[2])
    return found


def get_conversation(session: Session, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFoundError(f"Không tìm thấy hội thoại #{conversation_id}")
    return conversation


def list_conversations(session: Session, filters: ConversationFilter, *, offset: int = 0,
                       limit: int = 50) -> tuple[list[Conversation], int]:
    """A page of conversations, most recent activity first, and the total."""
    query = select(Conversation)
    if filters.status:
        query = query.where(Conversation.status == filters.status)
    if filters.assigned_to_id is not None:
        query = query.where(Conversation.assigned_to_id == filters.assigned_to_id)
    if filters.contact_id is not None:
        query = query.where(Conversation.contact_id == filters.contact_id)
    rows = list(session.exec(query.order_by(col(Conversation.last_message_at).desc())).all())
    if filters.topic:  # JSON containment differs per backend; the inbox is small enough to filter here
        rows = [c for c in rows if filters.topic in (c.topics or [])]
    return rows[offset:offset + limit], len(rows)


def thread(session: Session, conversation_id: int) -> list[dict[str, object]]:
    """The resident's messages and the officers' answers, in time order."""
    inbound = session.exec(select(InboundMessage).where(InboundMessage.conversation_id == conversation_id)).all()
    ids = [m.id for m in inbound]
    answers = session.exec(select(Delivery).where(col(Delivery.in_reply_to_id).in_(ids))).all() if ids else []
    items: list[dict[str, object]] = [
        {"direction": "in", "id": m.id, "at": m.received_at, "body": m.body, "classification": m.classification}
        for m in inbound
    ]
    items += [{"direction": "out", "id": d.id, "at": d.created_at, "body": d.body, "status": d.status,
               "officer_id": d.created_by_id} for d in answers]
    return sorted(items, key=lambda item: item["at"])  # type: ignore[arg-type, return-value]


def assign(session: Session, conversation_id: int, user_id: int | None, *, actor_id: int | None = None,
           actor: str = "system") -> Conversation:
    """Give the conversation to an officer (None: back to the shared queue)."""
    conversation = get_conversation(session, conversation_id)
    if user_id is not None and session.get(User, user_id) is None:
        raise ValidationFailed(f"Không có cán bộ #{user_id}", field="user_id")
    before = audit.snapshot(conversation)
    conversation.assigned_to_id = user_id
    if conversation.status in (S.new, S.assigned):
        conversation.status = S.assigned if user_id is not None else S.new
    session.add(conversation)
    audit.record(session, action="conversation.assign", entity="conversation", entity_id=conversation_id,
                 actor_id=actor_id, actor=actor, before=before, after=audit.snapshot(conversation))
    session.flush()
    return conversation


def answer(session: Session, conversation_id: int, text: str, *, officer_id: int | None = None,
           actor: str = "system") -> Delivery:
    """Queue the officer's SMS answer (the dispatcher sends it under the usual rules) and mark it answered."""
    conversation = get_conversation(session, conversation_id)
    if conversation.status == S.closed:
        raise InvalidTransition("Hội thoại đã đóng", field="status")
    last = session.exec(
        select(InboundMessage).where(InboundMessage.conversation_id == conversation_id)
        .order_by(col(InboundMessage.received_at).desc(), col(InboundMessage.id).desc()).limit(1)).first()
    if last is None or not last.from_phone:
        raise ValidationFailed("Không có số điện thoại để trả lời (có thể đã bị xoá)", field="to")
    delivery = queue_message(session, to=last.from_phone, body=text, kind=DeliveryKind.reply,
                             created_by_id=officer_id, in_reply_to_id=last.id)
    now = utcnow()
    conversation.status = S.answered
    conversation.first_response_at = conversation.first_response_at or now
    if officer_id is not None and conversation.assigned_to_id is None:
        conversation.assigned_to_id = officer_id
    session.add(conversation)
    audit.record(session, action="conversation.answer", entity="conversation", entity_id=conversation_id,
                 actor_id=officer_id, actor=actor, after={"delivery_id": delivery.id})
    session.flush()
    return delivery


def close(session: Session, conversation_id: int, *, actor_id: int | None = None, actor: str = "system"
          ) -> Conversation:
    """Close the conversation; the resident's next question opens a new one."""
    conversation = get_conversation(session, conversation_id)
    conversation.status, conversation.closed_at = S.closed, utcnow()
    session.add(conversation)
    audit.record(session, action="conversation.close", entity="conversation", entity_id=conversation_id,
                 actor_id=actor_id, actor=actor)
    session.flush()
    return conversation


def set_topics(session: Session, conversation_id: int, topics: list[str]) -> Conversation:
    """Tag the conversation with legal topics."""
    conversation = get_conversation(session, conversation_id)
    cleaned = sorted({t.strip().lower() for t in topics if t.strip()})
    if any(len(t) > 60 for t in cleaned):
        raise ValidationFailed("Chủ đề quá dài", field="topics")
    conversation.topics = cleaned
    session.add(conversation)
    session.flush()
    return conversation


def status_counts(session: Session) -> dict[str, int]:
    """Conversations per status, for the inbox header."""
    rows = session.execute(select(Conversation.status, func.count()).group_by(col(Conversation.status))).all()
    counts = {s.value: 0 for s in S}
    counts.update({status: int(n) for status, n in rows})
    return counts
