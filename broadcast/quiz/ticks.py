"""What the scheduler does for quizzes every QUIZ_TICK_SECONDS: the first question of "after" quizzes once the
campaign SMS has gone, unanswered sessions closed after the quiz's hours, and contests closed with their answer key.

Each step is a few set-based statements over the campaigns that have a quiz (few at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, update
from sqlmodel import Session, col, select

from broadcast.campaigns.models import Campaign
from broadcast.contacts.models import Contact
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from broadcast.outbox.queue import outbox_row, queue_rows
from broadcast.quiz import definition as texts
from broadcast.quiz.models import ContestClosing, QuizAnswer, QuizSession, SessionStatus
from broadcast.quiz.service import LIVE, CampaignQuiz, closed, mark_asked, quizzes_of

St = SessionStatus
BATCH = 5000


@dataclass(frozen=True)
class TickResult:
    first_questions: int = 0
    expired: int = 0
    contests_closed: int = 0
    keys_sent: int = 0


def tick(session: Session, *, now: datetime) -> TickResult:
    """One pass of the quiz housekeeping (the scheduler's `quiz` job)."""
    ids = session.exec(select(Campaign.id).where(col(Campaign.quiz).is_not(None),
                                                 col(Campaign.status).in_(LIVE))).all()
    quizzes = quizzes_of(session, [i for i in ids if i is not None])
    first = sum(send_first_questions(session, cq, now=now) for cq in quizzes.values()
                if cq.quiz.first == "after" and not closed(cq.quiz, now))
    gone = sum(expire_sessions(session, cq, now=now) for cq in quizzes.values())
    contests = [cq for cq in quizzes.values() if cq.quiz.contest and closed(cq.quiz, now)]
    keys = sum(close_contest(session, cq, now=now) for cq in contests)
    return TickResult(first, gone, sum(1 for _ in contests), keys)


def send_first_questions(session: Session, cq: CampaignQuiz, *, now: datetime) -> int:
    """Open a session and queue the first question for each resident whose campaign SMS has gone since."""
    started = select(col(QuizSession.contact_id)).where(QuizSession.campaign_id == cq.campaign_id,
                                                        col(QuizSession.contact_id).is_not(None))  # NOT IN and NULL
    rows = session.execute(
        select(col(Delivery.contact_id), col(Delivery.to_phone), col(Contact.commune_code))
        .join(Contact, col(Contact.id) == col(Delivery.contact_id))
        .where(col(Delivery.campaign_id) == cq.campaign_id, col(Delivery.kind) == DeliveryKind.campaign,
               col(Delivery.channel) == "sms",
               col(Delivery.status).in_([DeliveryStatus.sent, DeliveryStatus.delivered]),
               col(Delivery.to_phone).is_not(None), col(Delivery.contact_id).not_in(started))
        .limit(BATCH)).all()
    if not rows:
        return 0
    table: Any = QuizSession.__table__  # type: ignore[attr-defined]
    ids = session.connection().execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [{"campaign_id": cq.campaign_id, "contact_id": contact, "commune_code": commune or "", "channel": "sms",
          "position": 0, "hinted": False, "status": St.open, "answered": 0, "correct": 0, "started_at": now,
          "asked_at": now} for contact, _, commune in rows]).scalars().all()
    text = cq.text(texts.question_sms(cq.quiz, 0))
    deliveries = queue_rows(session, [outbox_row(to_phone=phone, contact_id=contact, body=text,
                                                 kind=DeliveryKind.reply) for contact, phone, _ in rows])
    mark_asked(session, zip(ids, deliveries, strict=True), now)
    return len(rows)


def expire_sessions(session: Session, cq: CampaignQuiz, *, now: datetime) -> int:
    """Close sessions whose waiting question went unanswered for the quiz's hours (or when the quiz closed)."""
    where = [col(QuizSession.campaign_id) == cq.campaign_id, col(QuizSession.status) == St.open]
    if not closed(cq.quiz, now):
        where.append(col(QuizSession.asked_at) < now - timedelta(hours=cq.quiz.answer_hours))
    result = session.execute(update(QuizSession).where(and_(*where)).values(status=St.expired, finished_at=now)
                             .execution_options(synchronize_session=False))
    return max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]


def close_contest(session: Session, cq: CampaignQuiz, *, now: datetime) -> int:
    """Once, after its closing time: every participant gets their score and the answer key by SMS."""
    if session.get(ContestClosing, cq.campaign_id) is not None:
        return 0
    last_message = (select(QuizAnswer.message_id).where(col(QuizAnswer.session_id) == col(QuizSession.id),
                                                        col(QuizAnswer.message_id).is_not(None))
                    .order_by(col(QuizAnswer.id).desc()).limit(1).scalar_subquery())
    participants = session.execute(
        select(col(QuizSession.contact_id), col(Contact.phone), col(QuizSession.correct), last_message)
        .join(Contact, col(Contact.id) == col(QuizSession.contact_id))
        .where(col(QuizSession.campaign_id) == cq.campaign_id, col(QuizSession.answered) > 0,
               col(Contact.phone).is_not(None))).all()
    rows = [outbox_row(to_phone=phone, contact_id=contact, kind=DeliveryKind.reply, in_reply_to_id=message,
                       body=cq.text(texts.contest_result_sms(cq.quiz, cq.title, correct)))
            for contact, phone, correct, message in participants]
    queue_rows(session, rows)
    session.add(ContestClosing(campaign_id=cq.campaign_id, closed_at=now, notified=len(rows)))
    session.flush()
    return len(rows)
