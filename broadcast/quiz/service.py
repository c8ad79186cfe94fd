"""Running quizzes by SMS: who is waiting for which question, taking an answer, the next question, the hint.

Incoming SMS (engagement/inbound.py) ask `InboundQuizzes` about each resident's message after the opt-out
keywords had their say: a valid answer is scored once and brings the next question; an answer that cannot be
read brings the question again with a hint, once; after that the message is the inbox's. Every message the
quiz sends is a reply queued in the outbox (`DeliveryKind.reply`), not a campaign message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.campaigns.service import sms_as_sent as campaign_sms_as_sent
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from broadcast.outbox.segments import strip_diacritics
from broadcast.quiz import definition as texts
from broadcast.quiz.answers import normalise
from broadcast.quiz.definition import QuizDef, parse
from broadcast.quiz.models import QuizAnswer, QuizSession, SessionStatus

St = SessionStatus
SESSIONS: Table = QuizSession.__table__  # type: ignore[attr-defined]
_SENT = (DeliveryStatus.sent, DeliveryStatus.delivered, DeliveryStatus.undelivered)
# Campaigns whose quiz still takes answers (a cancelled campaign's quiz stops).
LIVE = (CampaignStatus.sending, CampaignStatus.paused, CampaignStatus.completed)
_SET_ASKED = update(SESSIONS).where(SESSIONS.c.id == bindparam("b_id")).values(
    asked_delivery_id=bindparam("b_delivery"))


@dataclass(frozen=True)
class CampaignQuiz:
    """A campaign's quiz and what its messages need from the campaign."""

    campaign_id: int
    quiz: QuizDef
    title: str
    strip: bool  # the campaign goes without diacritics: so do its questions

    def text(self, body: str) -> str:
        return strip_diacritics(body) if self.strip else body


def quizzes_of(session: Session, campaign_ids: Iterable[int], *, live_only: bool = True) -> dict[int, CampaignQuiz]:
    """The quizzes of these campaigns (those with one, and still taking answers unless `live_only` is off)."""
    ids = {i for i in campaign_ids if i is not None}
    if not ids:
        return {}
    query = sa_select(col(Campaign.id), col(Campaign.quiz), col(Campaign.title), col(Campaign.strip_diacritics),
                      col(Campaign.status)).where(col(Campaign.id).in_(ids), col(Campaign.quiz).is_not(None))
    found = {}
    for campaign_id, data, title, strip, status in session.execute(query):
        quiz = parse(data)
        if quiz is not None and campaign_id is not None and (status in LIVE or not live_only):
            found[campaign_id] = CampaignQuiz(campaign_id, quiz, title, bool(strip))
    return found


def quiz_of(session: Session, campaign_id: int) -> CampaignQuiz | None:
    return quizzes_of(session, [campaign_id], live_only=False).get(campaign_id)


def closed(quiz: QuizDef, now: datetime) -> bool:
    return quiz.closes_at is not None and now >= quiz.closes_at


def expired(session_row: QuizSession, quiz: QuizDef, now: datetime) -> bool:
    """The waiting question went unanswered too long, or the quiz has closed for everyone."""
    asked = session_row.asked_at or session_row.started_at
    return closed(quiz, now) or now - asked > timedelta(hours=quiz.answer_hours)


@dataclass
class Waiting:
    """A resident's quiz waiting for an answer; `row` is None until their first answer opens the session."""

    cq: CampaignQuiz
    contact_id: int
    commune_code: str
    row: QuizSession | None
    question_sent: bool  # False while the outbox row carrying the waiting question has not gone yet

    @property
    def position(self) -> int:
        return self.row.position if self.row is not None else 0


@dataclass(frozen=True)
class Taken:
    """What the quiz did with a message: `reply` to queue; `asks` when that reply carries the next question."""

    outcome: str  # answer | hint | repeat | done
    session_id: int
    reply: str | None = None
    asks: bool = False


class InboundQuizzes:
    """The quizzes of one batch of incoming messages' senders, loaded with a few queries."""

    def __init__(self, session: Session, senders: Mapping[int, tuple[str | None, int | None]], now: datetime):
        """`senders`: contact id → (commune code, the campaign they last received)."""
        self.session, self.now = session, now
        self.waiting: dict[int, Waiting] = {}
        self.finished: dict[int, CampaignQuiz] = {}  # completed lately: their repeats are not questions
        if senders:
            self._load(senders)

    def _load(self, senders: Mapping[int, tuple[str | None, int | None]]) -> None:
        asked = Delivery.__table__.alias("asked")  # type: ignore[attr-defined]
        query = (select(QuizSession, asked.c.status).outerjoin(asked, asked.c.id == col(QuizSession.asked_delivery_id))
                 .where(col(QuizSession.contact_id).in_(list(senders)),
                        col(QuizSession.status).in_([St.open, St.completed]))
                 .order_by(col(QuizSession.id)))
        if self.session.get_bind().dialect.name == "postgresql":  # a resident's answers one at a time
            query = query.with_for_update(of=QuizSession)
        rows = list(self.session.execute(query).all())
        quizzes = quizzes_of(self.session, {row.campaign_id for row, _ in rows}
                             | {campaign for _, campaign in senders.values() if campaign is not None})
        seen: set[tuple[int, int]] = set()
        for row, asked_status in rows:
            assert row.contact_id is not None
            seen.add((row.campaign_id, row.contact_id))
            cq = quizzes.get(row.campaign_id)
            if cq is None:
                continue
            if row.status == St.completed:
                if row.finished_at and self.now - row.finished_at <= timedelta(hours=cq.quiz.answer_hours):
                    self.finished[row.contact_id] = cq
            elif expired(row, cq.quiz, self.now):
                row.status, row.finished_at = St.expired, self.now
                self.session.add(row)
            else:  # later sessions (a newer campaign's quiz) overwrite earlier ones
                sent = asked_status is None or asked_status in _SENT
                self.waiting[row.contact_id] = Waiting(cq, row.contact_id, row.commune_code, row, sent)
        self._first_with_campaign(senders, quizzes, seen)

    def _first_with_campaign(self, senders: Mapping[int, tuple[str | None, int | None]],
                             quizzes: Mapping[int, CampaignQuiz], seen: set[tuple[int, int]]) -> None:
        """Residents answering a question that ended their campaign SMS: their session opens with this answer."""
        candidates = {contact: campaign for contact, (_, campaign) in senders.items()
                      if contact not in self.waiting and campaign is not None and campaign in quizzes
                      and quizzes[campaign].quiz.first == "with" and (campaign, contact) not in seen
                      and not closed(quizzes[campaign].quiz, self.now)}
        if not candidates:
            return
        started = (select(col(Delivery.contact_id), col(Delivery.campaign_id), func.max(col(Delivery.sent_at)))
                   .where(col(Delivery.contact_id).in_(list(candidates)), col(Delivery.kind) == DeliveryKind.campaign,
                          col(Delivery.channel) == "sms", col(Delivery.status).in_(_SENT))
                   .group_by(col(Delivery.contact_id), col(Delivery.campaign_id)))
        earlier = {(contact, campaign): sent for contact, campaign, sent in self.session.execute(started)}
        existing = {(c, k) for c, k in self.session.execute(
            select(col(QuizSession.campaign_id), col(QuizSession.contact_id))
            .where(col(QuizSession.contact_id).in_(list(candidates))))}
        for contact, campaign in candidates.items():
            sent_at = earlier.get((contact, campaign))
            cq = quizzes[campaign]
            if sent_at is None or (campaign, contact) in existing \
                    or self.now - sent_at > timedelta(hours=cq.quiz.answer_hours):
                continue
            self.waiting[contact] = Waiting(cq, contact, senders[contact][0] or "", None, True)

    def opted_out(self, contact_id: int | None) -> None:
        """The resident opted out: their quiz stops (what they answered still counts)."""
        waiting = self.waiting.pop(contact_id, None) if contact_id is not None else None
        if waiting is not None and waiting.row is not None:
            waiting.row.status, waiting.row.finished_at = St.opted_out, self.now
            self.session.add(waiting.row)

    def take(self, contact_id: int | None, body: str, *, message_id: int, at: datetime,
             keyword: bool) -> Taken | None:
        """Act on one message from a resident whose quiz waits; None when it is not the quiz's (handle it as usual).

        `keyword`: the message is another keyword (opt-in, help, an airing code), which wins over a hint.
        """
        waiting = self.waiting.get(contact_id) if contact_id is not None else None
        if waiting is None:
            done = self.finished.get(contact_id) if contact_id is not None else None
            if done is not None and any(normalise(q, body) is not None for q in done.quiz.questions):
                return Taken("repeat", 0)  # answered already: each resident answers once
            return None
        quiz = waiting.cq.quiz
        if not waiting.question_sent and waiting.position > 0 \
                and normalise(quiz.questions[waiting.position - 1], body) is not None:
            # the previous answer again, before the next question went out: counted once
            return Taken("repeat", waiting.row.id if waiting.row is not None and waiting.row.id else 0)
        value = normalise(quiz.questions[waiting.position], body)
        if value is None:
            if keyword or (waiting.row is not None and waiting.row.hinted) or looks_like_a_question(body):
                return None  # the inbox's (asked again once already, or a question of the resident's own)
            row = self._row(waiting, at)
            row.hinted = True
            self.session.add(row)
            assert row.id is not None
            return Taken("hint", row.id, waiting.cq.text(texts.hint_sms(quiz, row.position)))
        row = self._row(waiting, at)
        return self._record(waiting, row, value, channel="sms", message_id=message_id, at=at)

    def _row(self, waiting: Waiting, at: datetime) -> QuizSession:
        if waiting.row is None:
            waiting.row = open_session(self.session, waiting.cq.campaign_id, waiting.contact_id,
                                       waiting.commune_code, channel="sms", at=at)
        return waiting.row

    def _record(self, waiting: Waiting, row: QuizSession, value: str, *, channel: str, message_id: int | None,
                at: datetime) -> Taken:
        quiz = waiting.cq.quiz
        record_answer(self.session, row, quiz, value, channel=channel, message_id=message_id, at=at)
        assert row.id is not None
        if row.status == St.completed:
            self.waiting.pop(waiting.contact_id, None)
            self.finished[waiting.contact_id] = waiting.cq
            return Taken("done", row.id, waiting.cq.text(texts.done_sms(quiz, row.correct)))
        waiting.question_sent = False  # until the next question's outbox row is sent
        return Taken("answer", row.id, waiting.cq.text(texts.question_sms(quiz, row.position)), asks=True)

    def asked(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Remember which outbox row carries each session's next question: (session id, delivery id)."""
        mark_asked(self.session, pairs, self.now)


def looks_like_a_question(body: str) -> bool:
    """A resident's own question rather than a mistyped answer: it asks (?) or is a sentence."""
    text = body.strip()
    return "?" in text or len(text) > 60


def mark_asked(session: Session, pairs: Iterable[tuple[int, int]], at: datetime) -> None:
    rows = [{"b_id": s, "b_delivery": d} for s, d in pairs]
    if rows:
        session.connection().execute(_SET_ASKED.values(asked_at=at), rows)


def open_session(session: Session, campaign_id: int, contact_id: int, commune_code: str, *, channel: str,
                 at: datetime, asked_delivery_id: int | None = None) -> QuizSession:
    """A resident's session of a campaign's quiz, waiting for the answer to its first question."""
    row = QuizSession(campaign_id=campaign_id, contact_id=contact_id, commune_code=commune_code, channel=channel,
                      asked_at=at, started_at=at, asked_delivery_id=asked_delivery_id)
    session.add(row)
    session.flush()
    return row


def record_answer(session: Session, row: QuizSession, quiz: QuizDef, value: str, *, channel: str,
                  message_id: int | None, at: datetime) -> bool | None:
    """Score the answer to the waiting question and move on (completing the session after the last)."""
    question = quiz.questions[row.position]
    correct = question.is_correct(value)
    assert row.id is not None
    session.add(QuizAnswer(session_id=row.id, campaign_id=row.campaign_id, position=row.position, value=value,
                           correct=correct, channel=channel, message_id=message_id, answered_at=at))
    row.position += 1
    row.answered += 1
    row.correct += 1 if correct else 0
    row.hinted = False
    row.asked_at = at
    if row.position >= len(quiz.questions):
        row.status, row.finished_at = St.completed, at
    session.add(row)
    session.flush()
    return correct


def session_of(session: Session, campaign_id: int, contact_id: int) -> QuizSession | None:
    """A resident's session of a campaign's quiz, if they started it (locked on PostgreSQL for an answer)."""
    query = select(QuizSession).where(QuizSession.campaign_id == campaign_id, QuizSession.contact_id == contact_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).first()


def sms_as_sent(session: Session, campaign: Campaign) -> str:
    """The campaign's SMS as residents get it: with the quiz's first question at its end when it goes with it."""
    body = campaign_sms_as_sent(session, campaign)
    quiz = parse(campaign.quiz)
    if not body or quiz is None or quiz.first != "with":
        return body
    question = texts.question_sms(quiz, 0)
    return f"{body}\n{strip_diacritics(question) if campaign.strip_diacritics else question}"


def describe(quiz: QuizDef) -> list[dict[str, Any]]:
    """The questions for pages and reports: text, choices and the right answer as residents read it."""
    return [{"number": i + 1, "kind": q.kind, "text": q.text, "choices": list(q.choices),
             "answer": q.label(q.answer) if q.answer is not None else None}
            for i, q in enumerate(quiz.questions)]
