"""Incoming SMS: store once per MessageSid, link to the resident and their last campaign, act on keywords."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from broadcast.accounts.models import Role, User
from broadcast.audio.airing import confirm_airing
from broadcast.campaigns.models import Campaign
from broadcast.channels.models import Delivery, DeliveryKind, DeliveryStatus, InboundMessage
from broadcast.channels.service import queue_message
from broadcast.contacts.models import Commune, ConsentSource, Contact
from broadcast.contacts.phones import PhoneError, mask_phone, normalize_vn_phone
from broadcast.contacts.service import set_opt_out
from broadcast.db import utcnow
from broadcast.engagement.events import add_event_once
from broadcast.engagement.inbox import attach_question
from broadcast.engagement.keywords import Classification, Parsed, classify, effective_keywords, reply_text
from broadcast.engagement.models import EventKind
from broadcast.exceptions import BroadcastError

C = Classification
_RECEIVED = (DeliveryStatus.sent, DeliveryStatus.delivered)


@dataclass(frozen=True)
class InboundResult:
    """What happened to one webhook call."""

    duplicate: bool
    message_id: int | None = None
    classification: str | None = None
    reply_id: int | None = None


def _phone(raw: str) -> str | None:
    try:
        return normalize_vn_phone(raw)
    except PhoneError:
        return None


def last_campaign_id(session: Session, contact_id: int) -> int | None:
    """The campaign whose message the resident received most recently."""
    return session.execute(select(_last_campaign(contact_id))).scalar()


def _last_campaign(contact_id: Any) -> Any:
    return (select(col(Delivery.campaign_id))
            .where(col(Delivery.contact_id) == contact_id, col(Delivery.kind) == DeliveryKind.campaign,
                   col(Delivery.campaign_id).is_not(None), col(Delivery.status).in_(_RECEIVED))
            .order_by(col(Delivery.sent_at).desc()).limit(1).scalar_subquery())


def _operator(session: Session, phone: str | None) -> User | None:
    if phone is None:
        return None
    operators = session.exec(select(User).where(col(User.phone).is_not(None), User.is_active == True,  # noqa: E712
                                                col(User.role).in_([Role.radio_operator, Role.admin]))).all()
    return next((u for u in operators if u.phone and _phone(u.phone) == phone), None)


def handle_inbound(session: Session, params: Mapping[str, str], *, now: datetime | None = None) -> InboundResult:
    """Record an incoming message (ignoring a repeated MessageSid) and carry out what it asks."""
    sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
    if not sid:
        return InboundResult(duplicate=False)
    now = now or utcnow()
    raw_from = params.get("From", "")
    phone = _phone(raw_from)
    body = params.get("Body", "")[:1600]
    # Every read happens before the insert, which is the single point deciding "new or duplicate".
    found = session.execute(select(col(Contact.id), col(Contact.commune_code), _last_campaign(col(Contact.id)))
                            .where(col(Contact.phone) == phone)).first() if phone else None
    contact_id, commune_code, campaign_id = found if found is not None else (None, None, None)
    parsed = classify(body, effective_keywords(session), rating_allowed=campaign_id is not None)
    if parsed.kind == C.rating and not session.execute(
            select(col(Campaign.ask_rating)).where(col(Campaign.id) == campaign_id)).scalar():
        parsed = Parsed(C.question)
    operator = _operator(session, phone) if parsed.kind == C.airing else None
    if parsed.kind == C.airing and operator is None:
        parsed = Parsed(C.question)  # only a registered operator's phone may confirm an airing
    rating = int(parsed.value or 0) if parsed.kind == C.rating else None
    from_phone = phone or raw_from[:32] or None
    values = {"provider": "twilio", "provider_sid": sid, "from_phone": from_phone,
              "to_phone": params.get("To", "")[:32] or None, "body": body, "received_at": now,
              "contact_id": contact_id, "campaign_id": campaign_id, "classification": parsed.kind.value,
              "rating": rating}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    message_id = session.execute(insert(InboundMessage).values(**values).on_conflict_do_nothing(
        index_elements=["provider_sid"]).returning(col(InboundMessage.id))).scalar()
    if message_id is None:
        return InboundResult(duplicate=True)
    message = Incoming(int(message_id), sid, from_phone, body, contact_id, commune_code, campaign_id, now)
    reply = _act(session, message, parsed, operator)
    return InboundResult(duplicate=False, message_id=message.id, classification=parsed.kind.value,
                         reply_id=reply.id if reply is not None else None)


@dataclass(frozen=True)
class Incoming:
    """The stored incoming message, as the actions need it."""

    id: int
    sid: str
    from_phone: str | None
    body: str
    contact_id: int | None
    commune_code: str | None
    campaign_id: int | None
    at: datetime


def _event(session: Session, kind: str, message: Incoming, **data: object) -> None:
    add_event_once(session, kind=kind, campaign_id=message.campaign_id, contact_id=message.contact_id,
                   commune_code=message.commune_code, occurred_at=message.at,
                   dedupe_key=f"in:{message.sid}"[:120], data=dict(data))


def _act(session: Session, message: Incoming, parsed: Parsed, operator: User | None) -> Delivery | None:
    to = message.from_phone or ""
    if parsed.kind in (C.opt_out, C.opt_in):
        contact = session.get(Contact, message.contact_id) if message.contact_id is not None else None
        if contact is None:
            return None
        opted_out = parsed.kind == C.opt_out
        changed = set_opt_out(session, contact, channel="all", opted_out=opted_out,
                              source=ConsentSource.sms_keyword, detail=f"SMS: {message.body[:60]}")
        _event(session, EventKind.opt_out if opted_out else EventKind.opt_in, message)
        if not changed:  # one confirmation per change, however often the keyword is repeated
            return None
        kind = DeliveryKind.system if opted_out else DeliveryKind.reply
        return queue_message(session, to=to, body=reply_text(session, parsed.kind.value), kind=kind,
                             in_reply_to_id=message.id)
    if parsed.kind == C.help:
        commune = session.get(Commune, message.commune_code) if message.commune_code else None
        if commune is not None and commune.legal_aid_contact.strip():
            text = reply_text(session, "help", commune=commune.name, legal_aid=commune.legal_aid_contact)
        else:
            text = reply_text(session, "help_fallback")
        _event(session, EventKind.reply, message, classification="help")
        return _reply(session, to, text, message.id)
    if parsed.kind == C.rating:
        _event(session, EventKind.rating, message, rating=int(parsed.value or 0))
        return None
    if parsed.kind == C.airing and operator is not None:
        code = parsed.value or ""
        try:
            confirm_airing(session, code=code, aired_at=message.at, source="sms", user_id=operator.id)
            text = reply_text(session, "airing_ok", code=code)
        except BroadcastError:
            text = reply_text(session, "airing_unknown", code=code)
        return _reply(session, to, text, message.id)
    attach_question(session, message_id=message.id, contact_id=message.contact_id, from_phone=message.from_phone,
                    campaign_id=message.campaign_id, at=message.at)
    _event(session, EventKind.reply, message, classification="question")
    return None


def _reply(session: Session, to: str, text: str, message_id: int) -> Delivery | None:
    try:
        return queue_message(session, to=to, body=text, kind=DeliveryKind.reply, in_reply_to_id=message_id)
    except BroadcastError:  # a sender we cannot text back (not a Vietnamese mobile number)
        return None


def describe(message: InboundMessage) -> dict[str, object]:
    """A masked summary for logs and lists."""
    return {"id": message.id, "from": mask_phone(message.from_phone), "classification": message.classification}
