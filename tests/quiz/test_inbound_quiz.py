"""The quiz's rules on incoming SMS, one message at a time: answers, repeats, hints, opt-outs, closing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns.schemas import AudienceIn, CampaignCreate, QuizIn
from broadcast.campaigns.service import approve, create_campaign, start_run, submit
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.engagement.inbound import handle_inbound
from broadcast.engagement.subjects import find_subject
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from broadcast.quiz import results
from broadcast.quiz.models import QuizSession, SessionStatus
from broadcast.quiz.ticks import tick
from broadcast.simulators.twilio import TwilioSimulator
from tests.channels.test_waiting import NIGHT, dispatch_once
from tests.conftest import BOTH
from tests.quiz.conftest import QUESTIONS
from tests.support.seed import approved_campaign, phone, seed_contacts, start

pytestmark = BOTH


def quiz_campaign(engine: Engine, **quiz: Any) -> int:
    seed_contacts(engine, 3)
    with Session(engine) as session:
        campaign = create_campaign(session, CampaignCreate(
            title="Tìm hiểu pháp luật", sms_text="Thong bao.", audience=AudienceIn(),
            quiz=QuizIn.model_validate({"questions": QUESTIONS, **quiz})))
        assert campaign.id is not None
        submit(session, campaign.id)
        approve(session, campaign.id, approver_id=None)
        start_run(session, campaign.id)
        session.execute(update(Delivery).values(status=DeliveryStatus.delivered, sent_at=utcnow()))
        session.commit()
        return campaign.id


def sms(engine: Engine, sender: int, body: str, **kwargs: Any) -> str | None:
    with Session(engine) as session:
        result = handle_inbound(session, {"MessageSid": f"SM{utcnow().timestamp()}{body}{sender}",
                                          "From": phone(sender), "Body": body}, **kwargs)
        session.commit()
    return result.classification


def sent_all(engine: Engine) -> list[str]:
    """Mark every queued reply sent; their texts."""
    with Session(engine) as session:
        bodies = [d.body or "" for d in session.exec(select(Delivery).where(Delivery.kind == DeliveryKind.reply,
                                                                           Delivery.status == "queued")).all()]
        session.execute(update(Delivery).where(col(Delivery.status) == "queued").values(status="sent",
                                                                                       sent_at=utcnow()))
        session.commit()
    return bodies


def test_answers_repeats_and_the_next_question(engine: Engine) -> None:
    campaign_id = quiz_campaign(engine)
    assert sms(engine, 0, "b") == "quiz"
    assert sms(engine, 0, "b") == "quiz"  # again before question 2 went: the same answer, not counted twice
    assert [b.split("\n")[0] for b in sent_all(engine)] == ["Cau 2/3: Đất chưa có sổ đỏ có được chuyển nhượng không?"]
    assert sms(engine, 0, "Không") == "quiz"
    sent_all(engine)
    assert sms(engine, 0, "Đáp án A") == "quiz"
    assert sent_all(engine) == ["Cam on ban! Ban tra loi dung 3/3 cau. Dap an: 1-B, 2-Khong, 3-A."]
    assert sms(engine, 0, "A") == "quiz" and sent_all(engine) == []  # answered once: a later copy is ignored
    with Session(engine) as session:
        summary = results.summary(session, campaign_id)
    assert (summary["participants"], summary["completed"]) == (1, 1)
    assert [(q["answered"], q["correct"]) for q in summary["questions"]] == [(1, 1), (1, 1), (1, 1)]
    with Session(engine) as session:  # a data-subject request finds the resident's answers too
        held = find_subject(session, phone(0))
    assert len(held["quiz_sessions"]) == 1 and [a["value"] for a in held["quiz_answers"]] == ["2", "no", "1"]


def test_a_hint_once_then_the_inbox_and_opt_out_wins(engine: Engine) -> None:
    campaign_id = quiz_campaign(engine)
    assert sms(engine, 1, "Cho hỏi thủ tục thừa kế thế nào?") == "question"  # the resident's own question
    assert sent_all(engine) == []
    assert sms(engine, 1, "không biết") == "quiz"
    assert sent_all(engine)[0].startswith("Chua hieu cau tra loi. Cau 1/3")
    assert sms(engine, 1, "Cho hỏi đất của tôi chưa có sổ?") == "question"  # no second hint: an inbox question
    assert sent_all(engine) == []
    assert sms(engine, 1, "1") == "quiz"  # the question still waits
    sent_all(engine)
    assert sms(engine, 1, "Đúng") == "opt_out"  # DUNG (dừng) is an opt-out keyword, and it wins
    assert sms(engine, 2, "TC") == "opt_out"
    with Session(engine) as session:
        rows = {s.contact_id: s for s in session.exec(select(QuizSession)).all()}
        assert rows[2].status == SessionStatus.opted_out and rows[2].answered == 1
        assert len(rows) == 1  # resident 3 opted out before answering: no session
        summary = results.summary(session, campaign_id)
    assert (summary["participants"], summary["completed"]) == (1, 0)


def test_unanswered_quizzes_close_after_their_hours(engine: Engine) -> None:
    quiz_campaign(engine, answer_hours=2)
    assert sms(engine, 0, "B") == "quiz"
    later = utcnow() + timedelta(hours=3)
    with Session(engine) as session:
        assert tick(session, now=later).expired == 1
        session.commit()
        assert session.exec(select(QuizSession.status)).one() == SessionStatus.expired
    assert sms(engine, 0, "Không", now=later) == "question"  # closed: the inbox has it
    assert sms(engine, 1, "B", now=later) == "question"  # the campaign SMS came too long ago to start now


def test_after_the_campaign_then_a_contest_closes_with_its_answer_key(engine: Engine) -> None:
    closes = utcnow() + timedelta(days=2)
    campaign_id = quiz_campaign(engine, first="after", contest=True, closes_at=closes.isoformat())
    with Session(engine) as session:
        assert tick(session, now=utcnow()).first_questions == 3
        session.commit()
        assert tick(session, now=utcnow()).first_questions == 0  # once per resident
        session.commit()
    firsts = sent_all(engine)
    assert len(firsts) == 3 and all(b.startswith("Cau 1/3") for b in firsts)
    for sender, answers in ((0, ["B", "không", "A"]), (1, ["A", "có", "A"]), (2, ["B"])):
        for body in answers:
            assert sms(engine, sender, body) == "quiz"
            sent_all(engine)
    with Session(engine) as session:
        assert tick(session, now=closes + timedelta(minutes=1)).keys_sent == 3
        session.commit()
        assert tick(session, now=closes + timedelta(minutes=2)).keys_sent == 0  # the key goes once
        session.commit()
        ranking = results.ranking(session, campaign_id)
    keys = sorted(sent_all(engine))
    assert keys[0].startswith("Cuoc thi 'Tìm hiểu pháp luật' da ket thuc. Ban tra loi dung 1/3 cau.")
    assert all(k.endswith("Dap an: 1-B, 2-Khong, 3-A.") for k in keys)
    assert [(b["resident"], b["correct"]) for b in ranking[0]["best"]] == [
        ("098****000", 3), ("098****001", 1), ("098****002", 1)]
    assert "Người dân" not in str(ranking)


def test_the_next_question_answers_at_night_while_campaigns_wait(engine: Engine, settings: Settings) -> None:
    """Quiz follow-ups are replies to the resident's own message: quiet hours do not hold them."""
    quiz_campaign(engine)
    with Session(engine) as session:  # the quiz SMS went in the evening; another campaign starts at night
        session.execute(update(Delivery).values(sent_at=NIGHT - timedelta(hours=2)))
        session.commit()
    other = approved_campaign(engine)
    start(engine, other)
    assert sms(engine, 0, "B", now=NIGHT) == "quiz"
    with TwilioSimulator(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()) as sim:
        dispatch_once(engine, settings, NIGHT + timedelta(seconds=5), sim.base_url)
        sent = [(m.to, m.body.split("\n")[0]) for m in sim.messages]
    assert sent == [(phone(0), "Cau 2/3: Đất chưa có sổ đỏ có được chuyển nhượng không?")]
    with Session(engine) as session:
        held = session.exec(select(Delivery).where(Delivery.campaign_id == other)).all()
    assert held and {(d.status, d.waiting_reason) for d in held} == {(DeliveryStatus.queued, "quiet_hours")}
