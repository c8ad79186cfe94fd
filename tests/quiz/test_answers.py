"""Answers as residents type them become one canonical value per question, or None."""

from __future__ import annotations

import pytest

from broadcast.campaigns.schemas import QuizIn
from broadcast.exceptions import ValidationFailed
from broadcast.quiz.answers import keypad, normalise
from broadcast.quiz.definition import parse
from broadcast.quiz.textform import parse_text, to_text

QUIZ = parse(QuizIn.model_validate({"questions": [
    {"text": "Luật Đất đai 2024 có hiệu lực từ ngày nào?", "choices": ["1/1/2025", "1/8/2024", "1/7/2024"],
     "answer": 2},
    {"text": "Đất chưa có sổ đỏ có được chuyển nhượng không?", "answer": "no"},
    {"text": "Bao nhiêu ngày để cấp sổ đỏ lần đầu?", "answer": 30},
    {"text": "Bà con có muốn nghe thêm về thừa kế không?", "kind": "yes_no"},
]}).model_dump(mode="json"))
assert QUIZ is not None
CHOICE, YES_NO, NUMBER, SURVEY = QUIZ.questions


@pytest.mark.parametrize("body", ["b", "B", "B.", " b) ", "đáp án B", "Đáp án: b", "DAP AN B", "dap an b", "2",
                                  "Trả lời B", "chọn B", "phương án 2", "1/8/2024"])
def test_choice_b_in_every_form(body: str) -> None:
    assert normalise(CHOICE, body) == "2"


@pytest.mark.parametrize("body", ["D", "4", "E", "AB", "Cho hỏi đất của tôi thì sao?", "", "b c"])
def test_not_a_choice(body: str) -> None:
    assert normalise(CHOICE, body) is None


@pytest.mark.parametrize(("body", "value"), [
    ("có", "yes"), ("Có", "yes"), ("co", "yes"), ("CO", "yes"), ("dạ có", "yes"), ("yes", "yes"), ("1", "yes"),
    ("không", "no"), ("khong", "no"), ("Không.", "no"), ("ko", "no"), ("k", "no"), ("2", "no"), ("chưa", "no")])
def test_yes_no(body: str, value: str) -> None:
    assert normalise(YES_NO, body) == value


@pytest.mark.parametrize("body", ["có lẽ vậy nhưng không chắc", "3", "A", "được"])
def test_not_yes_no(body: str) -> None:
    assert normalise(YES_NO, body) is None


@pytest.mark.parametrize(("body", "value"), [("30", "30"), ("30 ngày", "30"), ("đáp án 30", "30"), ("2,5", "2.5"),
                                              ("30.0", "30")])
def test_numbers(body: str, value: str) -> None:
    assert normalise(NUMBER, body) == value


def test_scoring_and_labels() -> None:
    assert CHOICE.is_correct("2") and not CHOICE.is_correct("1")
    assert YES_NO.is_correct("no") and NUMBER.is_correct("30") and NUMBER.is_correct("30.0")
    assert SURVEY.is_correct("yes") is None and not SURVEY.scored
    assert (CHOICE.label("2"), YES_NO.label("no"), NUMBER.label("30")) == ("B", "Không", "30")


def test_keypad() -> None:
    assert keypad(CHOICE, "3") == "3" and keypad(CHOICE, "4") is None and keypad(CHOICE, "*") is None
    assert keypad(YES_NO, "1") == "yes" and keypad(YES_NO, "2") == "no" and keypad(YES_NO, "3") is None
    assert keypad(NUMBER, "30#") == "30" and keypad(NUMBER, "") is None


@pytest.mark.parametrize(("quiz", "message"), [
    ({"questions": [{"text": "x", "choices": ["a", "b"], "answer": 3}]}, "answer must be the number of a choice"),
    ({"questions": [{"text": "x", "choices": ["a"], "answer": 1}]}, "at least 2"),
    ({"questions": [{"text": "x", "answer": "maybe"}]}, "number"),
    ({"questions": [{"text": "x"}]}, "kind"),
    ({"questions": [{"text": "x", "answer": "yes"}], "contest": True}, "closes_at"),
    ({"questions": []}, "at least 1"),
])
def test_bad_definitions_are_refused_with_the_reason(quiz: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuizIn.model_validate(quiz)


def test_the_composer_text_form_round_trips() -> None:
    text = ("Hiệu lực từ ngày nào?\nA. 1/1/2025\n*B. 1/8/2024\n\nĐược chuyển nhượng không? [không]\n\n"
            "Bao nhiêu ngày? [2,5]")
    questions = parse_text(text)
    assert questions == [{"text": "Hiệu lực từ ngày nào?", "choices": ["1/1/2025", "1/8/2024"], "answer": 2},
                         {"text": "Được chuyển nhượng không?", "answer": "no"},
                         {"text": "Bao nhiêu ngày?", "answer": "2.5", "kind": "number"}]
    stored = QuizIn.model_validate({"questions": questions}).model_dump(mode="json")
    assert parse_text(to_text(stored)) == [questions[0], questions[1], {**questions[2], "answer": "2.5"}]
    for bad in ("Câu hỏi?\nA. x\nB. y\nlinh tinh", "Câu hỏi?\n*A. x\n*B. y", "Câu hỏi trơn"):
        with pytest.raises(ValidationFailed, match="Câu 1"):
            parse_text(bad)
