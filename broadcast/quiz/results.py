"""Quiz results: participation and correct answers per question, per commune and per group, and the contest's
anonymised ranking (masked numbers, never names), each a grouped query over the sessions and answers."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from broadcast.communes.models import Commune
from broadcast.contacts.models import Contact, ContactGroup, GroupMember
from broadcast.phones import mask_phone
from broadcast.quiz.models import QuizAnswer, QuizSession, SessionStatus
from broadcast.quiz.service import describe, quiz_of

RANKED = 10  # participants listed per commune


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summary(session: Session, campaign_id: int) -> dict[str, Any]:
    """The contract's figures: participants (answered at least once), completed, and per question."""
    cq = quiz_of(session, campaign_id)
    count = len(cq.quiz.questions) if cq else 0
    participants, completed = session.execute(
        select(func.count(), func.coalesce(func.sum(case((col(QuizSession.status) == SessionStatus.completed, 1),
                                                         else_=0)), 0))
        .where(col(QuizSession.campaign_id) == campaign_id, col(QuizSession.answered) > 0)).one()
    per_question = {position: (int(n), int(right or 0)) for position, n, right in session.execute(
        select(col(QuizAnswer.position), func.count(), func.sum(case((col(QuizAnswer.correct).is_(True), 1), else_=0)))
        .where(col(QuizAnswer.campaign_id) == campaign_id).group_by(col(QuizAnswer.position)))}
    questions = []
    for position, question in enumerate(describe(cq.quiz) if cq else []):
        answered, correct = per_question.get(position, (0, 0))
        scored = question["answer"] is not None
        questions.append({**question, "answered": answered, "correct": correct if scored else None,
                          "correct_share": _share(correct, answered) if scored else None,
                          "values": {}})
    for position, value, n in session.execute(
            select(col(QuizAnswer.position), col(QuizAnswer.value), func.count())
            .where(col(QuizAnswer.campaign_id) == campaign_id)
            .group_by(col(QuizAnswer.position), col(QuizAnswer.value))):
        if position < count and cq is not None:
            questions[position]["values"][cq.quiz.questions[position].label(value)] = int(n)
    return {"campaign_id": campaign_id, "contest": bool(cq and cq.quiz.contest), "questions_count": count,
            "participants": int(participants), "completed": int(completed or 0), "questions": questions}


def _rows(session: Session, campaign_id: int, key: Any, join: Any = None) -> dict[Any, dict[str, int]]:
    """Participants, completions, answers and correct answers grouped by `key`."""
    S = QuizSession
    query = (sa_select(key, func.count(), func.sum(case((col(S.status) == SessionStatus.completed, 1), else_=0)),
                    func.sum(col(S.answered)), func.sum(col(S.correct)))
             .select_from(S))
    if join is not None:
        query = query.join(*join)
    query = query.where(col(S.campaign_id) == campaign_id, col(S.answered) > 0).group_by(key)
    return {k: {"participants": int(n), "completed": int(done or 0), "answers": int(answers or 0),
                "correct": int(right or 0)} for k, n, done, answers, right in session.execute(query)}


def _scored_answers(session: Session, campaign_id: int, key: Any, join: Any = None) -> dict[Any, int]:
    """Answers to questions that have a right answer, by `key` (the denominator of the correct share)."""
    query = (select(key, func.count()).select_from(QuizAnswer)
             .join(QuizSession, col(QuizSession.id) == col(QuizAnswer.session_id)))
    if join is not None:
        query = query.join(*join)
    query = query.where(col(QuizAnswer.campaign_id) == campaign_id, col(QuizAnswer.correct).is_not(None))
    return {k: int(n) for k, n in session.execute(query.group_by(key))}


def by_commune(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Per commune (where the resident lived when they started), sorted by code."""
    key = col(QuizSession.commune_code)
    rows = _rows(session, campaign_id, key)
    scored = _scored_answers(session, campaign_id, key)
    names = dict(session.execute(select(col(Commune.code), col(Commune.name))).all())
    return [{"commune_code": code, "commune_name": names.get(code, ""), **figures,
             "correct_share": _share(figures["correct"], scored.get(code, 0))}
            for code, figures in sorted(rows.items())]


def by_group(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Per resident group (a resident may be in several), sorted by group id."""
    key = col(GroupMember.group_id)
    join = (GroupMember, col(GroupMember.contact_id) == col(QuizSession.contact_id))
    rows = _rows(session, campaign_id, key, join)
    scored = _scored_answers(session, campaign_id, key, join)
    names = dict(session.execute(select(col(ContactGroup.id), col(ContactGroup.name))
                                 .where(col(ContactGroup.id).in_(list(rows)))).all()) if rows else {}
    return [{"group_id": gid, "group_name": names.get(gid, ""), **figures,
             "correct_share": _share(figures["correct"], scored.get(gid, 0))}
            for gid, figures in sorted(rows.items())]


def ranking(session: Session, campaign_id: int, *, per_commune: int = RANKED) -> list[dict[str, Any]]:
    """Communes by their participants' correct share, each with its best participants (masked number, score,
    time finished): who did well can be told, by no one's name."""
    communes = sorted(by_commune(session, campaign_id),
                      key=lambda row: (-(row["correct_share"] or 0), -row["participants"], row["commune_code"]))
    best: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows = session.execute(
        sa_select(col(QuizSession.commune_code), col(Contact.phone), col(QuizSession.correct),
                  col(QuizSession.answered), col(QuizSession.finished_at))
        .outerjoin(Contact, col(Contact.id) == col(QuizSession.contact_id))
        .where(col(QuizSession.campaign_id) == campaign_id, col(QuizSession.answered) > 0)
        .order_by(col(QuizSession.commune_code), col(QuizSession.correct).desc(),
                  col(QuizSession.finished_at).is_(None), col(QuizSession.finished_at), col(QuizSession.id)))
    for commune, phone, correct, answered, finished in rows:
        listed = best[commune]
        if len(listed) < per_commune:
            listed.append({"rank": len(listed) + 1, "resident": mask_phone(phone) if phone else "—",
                           "correct": int(correct), "answered": int(answered), "finished_at": finished})
    return [{"rank": i + 1, **row, "best": best.get(row["commune_code"], [])} for i, row in enumerate(communes)]


def full(session: Session, campaign_id: int) -> dict[str, Any]:
    """Everything the campaign page, the metrics API and the report show."""
    return {**summary(session, campaign_id), "communes": by_commune(session, campaign_id),
            "groups": by_group(session, campaign_id), "ranking": ranking(session, campaign_id)}
