"""Incoming SMS: store once per MessageSid, link to the resident and their last campaign, act on keywords.

The webhook group-commits concurrent requests, so the work is set-based over a batch: one query finds
the senders and their last campaigns, one INSERT stores the messages (its ON CONFLICT decides "new or
duplicate", also against other processes), one files the questions, one writes the events, one flush
queues the auto-replies. Opt-outs and airing confirmations are rare and handled one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from broadcast.accounts.models import Role, User
from broadcast.accounts.scope import commune_scope
from broadcast.audio.radio.airing import confirm_airing
from broadcast.campaigns.models import Campaign
from broadcast.communes.models import Commune
from broadcast.contacts.models import ConsentSource, Contact
from broadcast.contacts.service import set_opt_out
from broadcast.db import utcnow
from broadcast.engagement.inbox import Question, attach_questions
from broadcast.engagement.keywords import (
    Classification,
    Parsed,
    all_replies,
    classify,
    effective_keywords,
    fill_reply,
)
from broadcast.events.models import EventKind
from broadcast.events.service import add_events_once, event_row
from broadcast.exceptions import BroadcastError
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus, InboundMessage
from broadcast.outbox.queue import outbox_row, queue_rows
from broadcast.phones import PhoneError, mask_phone, normalize_vn_phone
from broadcast.quiz.service import InboundQuizzes

C = Classification
INBOUND: Table = InboundMessage.__table__  # type: ignore[attr-defined]
_RECLASSIFY = update(INBOUND).where(INBOUND.c.id == bindparam("b_id")).values(classification=C.quiz.value)
# Keywords that win over a hint when the message is no answer (opt-outs win over everything).
_OTHER_KEYWORDS = (C.opt_in, C.help, C.airing)
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


@dataclass(frozen=True)
class Incoming:
    """One incoming message, parsed and classified, as the actions need it."""

    sid: str
    phone: str | None  # normalised Vietnamese number, None when the sender's number is not one
    from_phone: str | None  # as stored: the normalised number, else what the provider sent
    to_phone: str | None
    body: str
    contact_id: int | None
    commune_code: str | None
    campaign_id: int | None
    at: datetime
    parsed: Parsed
    operator: User | None


def handle_inbound(session: Session, params: Mapping[str, str], *, now: datetime | None = None) -> InboundResult:
    """Record one incoming message (ignoring a repeated MessageSid) and carry out what it asks."""
    return handle_inbound_batch(session, [params], now=now)[0]


def handle_inbound_batch(session: Session, batch: Sequence[Mapping[str, str]], *,
                         now: datetime | None = None,
                         received: Sequence[datetime] | None = None) -> list[InboundResult]:
    """Record a batch of incoming messages in arrival order; one result per webhook call.

    `received` gives each message's own time (a replayed journal, messages recovered from the provider);
    otherwise they were all received `now`.
    """
    now = now or utcnow()
    first: dict[str, int] = {}  # sid -> position of its first copy in the batch; later copies are duplicates
    for position, params in enumerate(batch):
        sid = _sid(params)
        if sid and sid not in first:
            first[sid] = position
    times = [received[position] if received is not None else now for position in first.values()]
    messages = _read(session, [batch[position] for position in first.values()], times)
    stored = _store(session, messages)
    senders = {m.contact_id: (m.commune_code, m.campaign_id) for m in messages
               if m.contact_id is not None and m.sid in stored}
    actions = _Actions(session, InboundQuizzes(session, senders, now))
    for message in messages:
        if message.sid in stored:
            actions.act(message, stored[message.sid])
    replies = actions.finish()
    results = []
    for position, params in enumerate(batch):
        sid = _sid(params)
        if not sid:
            results.append(InboundResult(duplicate=False))
        elif first[sid] != position or sid not in stored:
            results.append(InboundResult(duplicate=True))
        else:
            message_id = stored[sid]
            results.append(InboundResult(duplicate=False, message_id=message_id,
                                         classification=actions.classification[message_id],
                                         reply_id=replies.get(message_id)))
    return results


def _sid(params: Mapping[str, str]) -> str | None:
    return params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid") or None


def _read(session: Session, batch: Sequence[Mapping[str, str]], times: Sequence[datetime]) -> list[Incoming]:
    """Parse and classify each message; every read happens before the INSERT that decides what is new."""
    phones = {_phone(params.get("From", "")) for params in batch} - {None}
    senders: dict[str, tuple[int, str | None, int | None]] = {}
    if phones:
        rows = session.execute(select(col(Contact.phone), col(Contact.id), col(Contact.commune_code),
                                      _last_campaign(col(Contact.id))).where(col(Contact.phone).in_(phones)))
        senders = {phone: (contact_id, commune, campaign) for phone, contact_id, commune, campaign in rows}
    keywords = effective_keywords(session)
    messages = []
    for params, at in zip(batch, times, strict=True):
        raw_from = params.get("From", "")
        phone = _phone(raw_from)
        contact_id, commune_code, campaign_id = senders.get(phone or "", (None, None, None))
        body = params.get("Body", "")[:1600]
        messages.append(Incoming(
            sid=str(_sid(params)), phone=phone, from_phone=phone or raw_from[:32] or None,
            to_phone=params.get("To", "")[:32] or None, body=body, contact_id=contact_id,
            commune_code=commune_code, campaign_id=campaign_id, at=at,
            parsed=classify(body, keywords, rating_allowed=campaign_id is not None), operator=None))
    rated = {m.campaign_id for m in messages if m.parsed.kind == C.rating}
    asking = set(session.execute(select(col(Campaign.id)).where(
        col(Campaign.id).in_(rated), col(Campaign.ask_rating))).scalars()) if rated else set()
    operators = _operators(session) if any(m.parsed.kind == C.airing for m in messages) else {}
    return [_checked(m, asking, operators) for m in messages]


def _checked(message: Incoming, asking: set[int], operators: Mapping[str, User]) -> Incoming:
    """A rating counts only after a campaign that asked for one; an airing only from an operator's phone."""
    if message.parsed.kind == C.rating and message.campaign_id not in asking:
        return replace(message, parsed=Parsed(C.question))
    if message.parsed.kind == C.airing:
        operator = operators.get(message.phone or "")
        return replace(message, operator=operator) if operator else replace(message, parsed=Parsed(C.question))
    return message


def _operators(session: Session) -> dict[str, User]:
    """Active radio operators (and admins) by their registered phone, normalised."""
    users = session.exec(select(User).where(col(User.phone).is_not(None), User.is_active == True,  # noqa: E712
                                            col(User.role).in_([Role.radio_operator, Role.admin]))).all()
    return {phone: user for user in users if (phone := _phone(user.phone or ""))}


def _store(session: Session, messages: Sequence[Incoming]) -> dict[str, int]:
    """INSERT the batch, skipping SIDs already stored (by anyone); the ids of those that are new, by SID."""
    if not messages:
        return {}
    rows = [{"provider": "twilio", "provider_sid": m.sid, "from_phone": m.from_phone, "to_phone": m.to_phone,
             "body": m.body, "received_at": m.at, "contact_id": m.contact_id, "campaign_id": m.campaign_id,
             "classification": m.parsed.kind.value,
             "rating": int(m.parsed.value or 0) if m.parsed.kind == C.rating else None} for m in messages]
    returned = session.connection().execute(_insert_messages(session.get_bind().dialect.name), rows)
    return {sid: int(message_id) for sid, message_id in returned}


@lru_cache(maxsize=2)
def _insert_messages(dialect: str) -> Any:
    # One cached statement run with many parameter sets: SQLAlchemy sends it as a multi-row INSERT
    # ("insertmanyvalues") without compiling a new statement for every batch size.
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (insert(INBOUND).on_conflict_do_nothing(index_elements=["provider_sid"])
            .returning(INBOUND.c.provider_sid, INBOUND.c.id))


@dataclass
class _Actions:
    """What a batch of new messages asks for, collected and then written together by `finish`."""

    session: Session
    quizzes: InboundQuizzes
    classification: dict[int, str] = field(default_factory=dict)
    _events: list[dict[str, Any]] = field(default_factory=list)
    _questions: list[Question] = field(default_factory=list)
    _replies: dict[int, dict[str, Any]] = field(default_factory=dict)  # outbox rows by the message answered
    _texts: dict[str, str] | None = None
    _communes: dict[str, Commune | None] = field(default_factory=dict)
    _asks: dict[int, int] = field(default_factory=dict)  # quiz session asked its next question, by message

    def act(self, message: Incoming, message_id: int) -> None:
        parsed, kind = message.parsed, message.parsed.kind
        self.classification[message_id] = kind.value
        if kind == C.opt_out:
            self.quizzes.opted_out(message.contact_id)  # opting out wins over any quiz answer
        elif self._quiz(message, message_id):
            return
        if kind in (C.opt_out, C.opt_in):
            self._consent(message, message_id, opted_out=kind == C.opt_out)
        elif kind == C.help:
            commune = self._commune(message.commune_code)
            if commune is not None and commune.legal_aid_contact.strip():
                text = self._text("help", commune=commune.name, legal_aid=commune.legal_aid_contact)
            else:
                text = self._text("help_fallback")
            self._event(EventKind.reply, message, classification="help")
            self._reply(message, message_id, text, DeliveryKind.reply)
        elif kind == C.rating:
            self._event(EventKind.rating, message, rating=int(parsed.value or 0))
        elif kind == C.airing and message.operator is not None:
            code = parsed.value or ""
            try:
                confirm_airing(self.session, code=code, aired_at=message.at, source="sms",
                               user_id=message.operator.id, scope=commune_scope(self.session, message.operator))
                text = self._text("airing_ok", code=code)
            except BroadcastError:
                text = self._text("airing_unknown", code=code)
            self._reply(message, message_id, text, DeliveryKind.reply)
        else:
            self._questions.append(Question(message_id, message.contact_id, message.from_phone,
                                            message.campaign_id, message.at))
            self._event(EventKind.reply, message, classification="question")

    def _quiz(self, message: Incoming, message_id: int) -> bool:
        """An answer (or a reply that is not one) to the resident's waiting quiz question; False: not the quiz's."""
        taken = self.quizzes.take(message.contact_id, message.body, message_id=message_id, at=message.at,
                                  keyword=message.parsed.kind in _OTHER_KEYWORDS)
        if taken is None:
            return False
        self.classification[message_id] = C.quiz.value
        if taken.reply:
            self._reply(message, message_id, taken.reply, DeliveryKind.reply)
            if taken.asks and message_id in self._replies:
                self._asks[message_id] = taken.session_id
        return True

    def finish(self) -> dict[int, int]:
        """Write the questions, events and replies; the queued replies' ids by the message they answer."""
        attach_questions(self.session, self._questions)
        add_events_once(self.session, self._events)
        quiz = [{"b_id": message_id} for message_id, kind in self.classification.items() if kind == C.quiz]
        if quiz:
            self.session.connection().execute(_RECLASSIFY, quiz)
        ids = queue_rows(self.session, list(self._replies.values()))
        queued = dict(zip(self._replies, ids, strict=True))
        self.quizzes.asked((session_id, queued[message_id]) for message_id, session_id in self._asks.items())
        return queued

    def _consent(self, message: Incoming, message_id: int, *, opted_out: bool) -> None:
        contact = self.session.get(Contact, message.contact_id) if message.contact_id is not None else None
        if contact is None:
            return
        changed = set_opt_out(self.session, contact, channel="all", opted_out=opted_out,
                              source=ConsentSource.sms_keyword, detail=f"SMS: {message.body[:60]}")
        self._event(EventKind.opt_out if opted_out else EventKind.opt_in, message)
        if changed:  # one confirmation per change, however often the keyword is repeated
            self._reply(message, message_id, self._text("opt_out" if opted_out else "opt_in"),
                        DeliveryKind.system if opted_out else DeliveryKind.reply)

    def _event(self, kind: str, message: Incoming, **data: object) -> None:
        self._events.append(event_row(kind=kind, campaign_id=message.campaign_id, contact_id=message.contact_id,
                                      commune_code=message.commune_code, occurred_at=message.at,
                                      dedupe_key=f"in:{message.sid}", data=dict(data)))

    def _text(self, key: str, **values: str) -> str:
        if self._texts is None:
            self._texts = all_replies(self.session)
        return fill_reply(self._texts[key], **values)

    def _reply(self, message: Incoming, message_id: int, text: str, kind: str) -> None:
        if message.phone is None:  # a sender we cannot text back (not a Vietnamese mobile number)
            return
        self._replies[message_id] = outbox_row(to_phone=message.phone, contact_id=message.contact_id, body=text,
                                               kind=kind, in_reply_to_id=message_id)

    def _commune(self, code: str | None) -> Commune | None:
        # Cached per batch: the session's identity map holds objects weakly and would load it again.
        if code and code not in self._communes:
            self._communes[code] = self.session.get(Commune, code)
        return self._communes.get(code) if code else None


def describe(message: InboundMessage) -> dict[str, object]:
    """A masked summary for logs and lists."""
    return {"id": message.id, "from": mask_phone(message.from_phone), "classification": message.classification}
