"""The quiz for officers: the contract's JSON, results on the campaign page, in the XLSX and CSV reports; the SMS
approvers see ends with the first question; an answered question proposed and published from the pages."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from broadcast.db import utcnow
from broadcast.engagement.inbound import handle_inbound
from broadcast.engagement.models import Conversation
from broadcast.outbox.models import Delivery, InboundMessage
from tests.support.seed import phone
from tests.web.conftest import Seeded, csrf_of, login

CONTRACT = {"questions": [{"text": "Luật Đất đai 2024 có hiệu lực từ 1/8/2024?", "answer": "yes"},
                          {"text": "Sổ đỏ cấp ở đâu?", "choices": ["UBND xã", "Công an xã"], "answer": 1}]}


def test_quiz_contract_results_page_and_reports(anonymous_client: Any, seeded: Seeded, engine: Engine) -> None:
    assert login(anonymous_client, "officer").status_code == 303
    headers = {"X-CSRF-Token": csrf_of(anonymous_client, "/")}
    bad = anonymous_client.post("/api/v1/campaigns", headers=headers, json={
        "title": "x", "sms_text": "x", "quiz": {"questions": [{"text": "?", "choices": ["a", "b"], "answer": 3}]}})
    assert bad.status_code == 422 and bad.json()["field"].startswith("quiz.questions.0")
    created = anonymous_client.post("/api/v1/campaigns", headers=headers,
                                    json={"title": "Tìm hiểu Luật Đất đai", "sms_text": "Thong bao.", "quiz": CONTRACT})
    assert created.status_code == 201, created.text
    quiz = created.json()["quiz"]
    assert [(q["kind"], q["answer"]) for q in quiz["questions"]] == [("yes_no", "yes"), ("choice", 1)]
    campaign_id = created.json()["id"]
    assert anonymous_client.post(f"/api/v1/campaigns/{campaign_id}/submit", headers=headers).status_code == 200
    anonymous_client.post("/logout", data={"csrf_token": headers["X-CSRF-Token"]})
    assert login(anonymous_client, "approver").status_code == 303
    queue = anonymous_client.get("/approvals").text
    assert "Cau 1/2: Luật Đất đai 2024 có hiệu lực từ 1/8/2024?" in queue  # the SMS as residents will get it
    token = csrf_of(anonymous_client, "/approvals")
    assert anonymous_client.post(f"/campaigns/{campaign_id}/approve", data={"csrf_token": token},
                                 follow_redirects=False).status_code == 303
    anonymous_client.post("/logout", data={"csrf_token": token})
    assert login(anonymous_client, "officer").status_code == 303
    token = csrf_of(anonymous_client, "/")
    assert anonymous_client.post(f"/campaigns/{campaign_id}/start", data={"csrf_token": token},
                                 follow_redirects=False).status_code == 303
    _received(engine, campaign_id)
    with Session(engine) as session:
        for i, answers in enumerate((["có", "A"], ["không", "b"], ["co"])):
            for n, body in enumerate(answers):
                handle_inbound(session, {"MessageSid": f"SMq{i}{n}", "From": phone(i), "Body": body})
                session.commit()
                _sent(engine)

    results = anonymous_client.get(f"/api/v1/campaigns/{campaign_id}/quiz/results").json()
    assert (results["participants"], results["completed"]) == (3, 2)
    assert [(q["answered"], q["correct"]) for q in results["questions"]] == [(3, 2), (2, 1)]
    page = anonymous_client.get(f"/campaigns/{campaign_id}").text
    assert 'id="quiz-questions"' in page and "Sổ đỏ cấp ở đâu?" in page and "098****000" in page
    workbook = load_workbook(io.BytesIO(anonymous_client.get(f"/api/v1/reports/campaigns/{campaign_id}.xlsx").content))
    rows = [list(r) for r in workbook["Câu hỏi"].iter_rows(values_only=True)]
    assert rows[0][:5] == ["Câu", "Câu hỏi", "Đáp án đúng", "Số người trả lời", "Trả lời đúng"]
    assert [r[3:5] for r in rows[1:]] == [[3, 2], [2, 1]]
    ranking = [list(r) for r in workbook["Xếp hạng theo xã"].iter_rows(values_only=True)]
    assert ranking[1][3] == "098****000" and not any("Người dân" in str(c) for r in ranking for c in r)
    csv = anonymous_client.get(f"/api/v1/reports/campaigns/{campaign_id}.csv", params={"sheet": "quiz"})
    assert csv.status_code == 200 and "Sổ đỏ cấp ở đâu?" in csv.text


def test_an_answered_question_is_proposed_and_published_from_the_pages(anonymous_client: Any, seeded: Seeded,
                                                                     engine: Engine) -> None:
    with Session(engine) as session:
        handle_inbound(session, {"MessageSid": "SMpub", "From": phone(3), "Body": "Tôi là Người dân 3, hỏi về sổ đỏ"})
        session.commit()
        message = session.get(InboundMessage, 1)
        assert message is not None and message.conversation_id is not None
        conversation_id = message.conversation_id
    assert login(anonymous_client, "officer").status_code == 303
    token = csrf_of(anonymous_client, f"/inbox/{conversation_id}")
    anonymous_client.post(f"/inbox/{conversation_id}/answer", data={"csrf_token": token, "text": "Nộp tại xã."})
    form = anonymous_client.get(f"/inbox/{conversation_id}").text
    assert 'id="publish"' in form and "[người hỏi]" in form and "Người dân 3" not in form.split('id="publish"')[1]
    posted = anonymous_client.post(f"/inbox/{conversation_id}/publish", follow_redirects=False, data={
        "csrf_token": token, "question": "Hỏi về sổ đỏ", "answer": "Nộp tại xã.", "topic": "đất đai"})
    assert posted.status_code == 303
    anonymous_client.post("/logout", data={"csrf_token": token})
    assert login(anonymous_client, "approver").status_code == 303
    queue = anonymous_client.get("/approvals").text
    assert "Hỏi về sổ đỏ" in queue and "/publications/1/approve" in queue
    token = csrf_of(anonymous_client, "/approvals")
    assert anonymous_client.post("/publications/1/approve", data={"csrf_token": token},
                                 follow_redirects=False).status_code == 303
    public = anonymous_client.get("/public/accountability").text
    assert "Hỏi về sổ đỏ" in public and "Nộp tại xã." in public
    with Session(engine) as session:
        assert session.get(Conversation, conversation_id) is not None


def _received(engine: Engine, campaign_id: int) -> None:
    """The campaign SMS reached every resident."""
    with Session(engine) as session:
        session.execute(update(Delivery).where(col(Delivery.campaign_id) == campaign_id)
                        .values(status="delivered", sent_at=utcnow()))
        session.commit()


def _sent(engine: Engine) -> None:
    """Every queued reply went out (so a resident's next answer is to the next question)."""
    with Session(engine) as session:
        session.execute(update(Delivery).where(col(Delivery.status) == "queued")
                        .values(status="sent", sent_at=utcnow()))
        session.commit()


QUIZ_TEXT = """Luật Đất đai 2024 có hiệu lực từ ngày nào?
A. 1/1/2025
*B. 1/8/2024

Đất chưa có sổ đỏ có được chuyển nhượng không? [không]

Cấp sổ đỏ lần đầu mất tối đa bao nhiêu ngày? [30]

Bà con muốn nghe thêm về thừa kế không? [có/không]"""


def test_the_composer_writes_a_quiz_as_text(anonymous_client: Any, seeded: Seeded, engine: Engine) -> None:
    assert login(anonymous_client, "officer").status_code == 303
    token = csrf_of(anonymous_client, "/campaigns/new")
    form = {"csrf_token": token, "title": "Thi tìm hiểu", "channels": ["sms"], "sms_text": "Thong bao.",
            "schedule_kind": "none", "bulletin_level": "normal", "action": "save", "quiz_text": QUIZ_TEXT,
            "quiz_first": "after", "quiz_closes": "2030-01-31T17:00", "quiz_hours": "24"}
    created = anonymous_client.post("/campaigns/new", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    campaign_id = int(created.headers["location"].split("/")[2])
    quiz = anonymous_client.get(f"/api/v1/campaigns/{campaign_id}").json()["quiz"]
    assert [(q["kind"], q["answer"]) for q in quiz["questions"]] == [
        ("choice", 2), ("yes_no", "no"), ("number", 30), ("yes_no", None)]
    assert (quiz["first"], quiz["contest"], quiz["answer_hours"]) == ("after", False, 24)
    assert quiz["closes_at"] == "2030-01-31T17:00:00+07:00"  # read in TIMEZONE (Asia/Ho_Chi_Minh)
    edit = anonymous_client.get(f"/campaigns/{campaign_id}/edit").text
    assert "*B. 1/8/2024" in edit and "[không]" in edit and 'value="2030-01-31T17:00"' in edit
    wrong = anonymous_client.post("/campaigns/new", data={**form, "quiz_text": "Câu hỏi không có phương án"})
    assert wrong.status_code == 422 and "Câu 1: thêm các phương án" in wrong.text and "Thong bao." in wrong.text
    contest = anonymous_client.post("/campaigns/new", data={**form, "quiz_contest": "1"})
    assert contest.status_code == 422 and "every question of a contest needs its answer" in contest.text
