"""A campaign's quiz as the runtime reads it (from the campaign's `quiz` JSON), and what it says to residents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LETTERS = "ABCD"
YES, NO = "yes", "no"


@dataclass(frozen=True)
class Question:
    kind: str  # choice | yes_no | number
    text: str
    choices: tuple[str, ...] = ()
    answer: str | None = None  # canonical: the choice's number "1".."4", "yes"/"no", or the number as text

    @property
    def scored(self) -> bool:
        return self.answer is not None

    def is_correct(self, value: str) -> bool | None:
        """Whether a canonical answer is right; None for a survey question."""
        if self.answer is None:
            return None
        if self.kind == "number":
            return float(value) == float(self.answer)
        return value == self.answer

    def label(self, value: str | None) -> str:
        """A canonical answer as residents read it: "B", "Có", "30"."""
        if value is None:
            return ""
        if self.kind == "choice":
            return LETTERS[int(value) - 1]
        if self.kind == "yes_no":
            return "Có" if value == YES else "Không"
        return value


@dataclass(frozen=True)
class QuizDef:
    questions: tuple[Question, ...]
    first: str  # "with": the first question ends the campaign SMS; "after": it follows it alone
    contest: bool
    answer_hours: int
    closes_at: datetime | None

    @property
    def scored(self) -> bool:
        return any(q.scored for q in self.questions)


def number_text(value: float) -> str:
    """A number as canonical text: 3 → "3", 2.5 → "2.5"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parse(data: Mapping[str, Any] | None) -> QuizDef | None:
    """The quiz stored on a campaign (campaigns.schemas.QuizIn as JSON), or None."""
    if not data or not data.get("questions"):
        return None
    questions = []
    for q in data["questions"]:
        answer = q.get("answer")
        if answer is not None:
            answer = number_text(float(answer)) if q["kind"] == "number" else str(answer)
        questions.append(Question(q["kind"], q["text"], tuple(q.get("choices") or ()), answer))
    closes = data.get("closes_at")
    return QuizDef(tuple(questions), data.get("first", "with"), bool(data.get("contest")),
                   int(data.get("answer_hours") or 48), datetime.fromisoformat(closes) if closes else None)


# ---- what the quiz says by SMS (plain ASCII where a diacritic-free campaign would strip it anyway) ----------


def question_sms(quiz: QuizDef, index: int) -> str:
    """Question `index` (0-based) as an SMS, with how to answer it."""
    q = quiz.questions[index]
    lines = [f"Cau {index + 1}/{len(quiz.questions)}: {q.text}" if len(quiz.questions) > 1 else q.text]
    if q.kind == "choice":
        lines += [f"{LETTERS[i]}. {choice}" for i, choice in enumerate(q.choices)]
    lines.append(how_to_answer(q))
    return "\n".join(lines)


def how_to_answer(q: Question) -> str:
    if q.kind == "choice":
        letters = ", ".join(LETTERS[: len(q.choices)])
        return f"Tra loi {letters} (hoac so 1-{len(q.choices)})."
    if q.kind == "yes_no":
        return "Tra loi CO hoac KHONG."
    return "Tra loi bang mot so."


def hint_sms(quiz: QuizDef, index: int) -> str:
    """The question again, once, after an answer that could not be read."""
    return f"Chua hieu cau tra loi. {question_sms(quiz, index)}"


def done_sms(quiz: QuizDef, correct: int) -> str:
    """The last answer's reply: the score and the key, or (a contest) when the key will come."""
    if quiz.contest:
        return "Cam on ban da tham gia cuoc thi. Dap an va ket qua se duoc gui khi cuoc thi ket thuc."
    if not quiz.scored:
        return "Cam on ban da tra loi."
    scored = sum(1 for q in quiz.questions if q.scored)
    return f"Cam on ban! Ban tra loi dung {correct}/{scored} cau. {answer_key(quiz)}"


def answer_key(quiz: QuizDef) -> str:
    """ "Dap an: 1-B, 2-Co, 3-30." """
    parts = [f"{i + 1}-{_ascii(q.label(q.answer))}" for i, q in enumerate(quiz.questions) if q.scored]
    return f"Dap an: {', '.join(parts)}."


def contest_result_sms(quiz: QuizDef, title: str, correct: int) -> str:
    """What each participant gets when a contest closes."""
    scored = sum(1 for q in quiz.questions if q.scored)
    return f"Cuoc thi '{title[:60]}' da ket thuc. Ban tra loi dung {correct}/{scored} cau. {answer_key(quiz)}"


def _ascii(text: str) -> str:
    return text.replace("ó", "o").replace("ô", "o")


# ---- what a call says (rendered as clips; keys 1–4, * repeats) -------------------------------------------


def question_speech(quiz: QuizDef, index: int) -> str:
    """Question `index` read aloud in a call, with the keys to press."""
    q = quiz.questions[index]
    parts = [f"Câu hỏi {index + 1}. {q.text}"]
    if q.kind == "choice":
        parts += [f"Bấm phím {i + 1}: {choice}." for i, choice in enumerate(q.choices)]
    elif q.kind == "yes_no":
        parts.append("Nếu có, bấm phím 1. Nếu không, bấm phím 2.")
    else:
        parts.append("Bấm số trả lời rồi bấm phím thăng.")
    parts.append("Bấm phím sao để nghe lại câu hỏi.")
    return " ".join(parts)
