"""A quiz written as plain text in the composer, one question per block (blank lines between):

    Luật Đất đai 2024 có hiệu lực từ ngày nào?
    A. 1/1/2025
    *B. 1/8/2024          (* marks the right choice; none: a survey question)

    Đất chưa có sổ đỏ có được chuyển nhượng không? [không]     ([có], [không], or [có/không] for a survey)

    Cấp sổ đỏ lần đầu mất tối đa bao nhiêu ngày? [30]          (a number, or [số] for a survey)
"""

from __future__ import annotations

import re
from typing import Any

from broadcast.campaigns.schemas import NO_WORDS, YES_WORDS
from broadcast.exceptions import ValidationFailed
from broadcast.quiz.definition import LETTERS

_CHOICE = re.compile(r"^(\*?)\s*([A-Da-d])[.)]\s*(.+)$")
_TAIL = re.compile(r"\s*\[([^\]]*)\]\s*$")


def parse_text(text: str) -> list[dict[str, Any]]:
    """The questions (QuestionIn's fields) a composer's text describes; a 422 names the block that is wrong."""
    questions = []
    blocks = [b for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if b.strip()]
    for number, block in enumerate(blocks, start=1):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        choices = [m for line in lines[1:] if (m := _CHOICE.match(line))]
        if len(choices) != len(lines) - 1:
            raise ValidationFailed(f"Câu {number}: mỗi dòng sau câu hỏi là một phương án, như 'A. …' (đánh dấu * "
                                   "trước phương án đúng)", field="quiz")
        question, tail = lines[0], _TAIL.search(lines[0])
        if choices:
            right = [i + 1 for i, m in enumerate(choices) if m.group(1)]
            if len(right) > 1:
                raise ValidationFailed(f"Câu {number}: chỉ một phương án đúng", field="quiz")
            questions.append({"text": question, "choices": [m.group(3) for m in choices],
                              "answer": right[0] if right else None})
            continue
        if tail is None:
            raise ValidationFailed(f"Câu {number}: thêm các phương án, hoặc [có]/[không]/[có/không], [số] hay "
                                   "đáp số trong ngoặc vuông ở cuối câu hỏi", field="quiz")
        word, question = tail.group(1).strip().lower(), question[:tail.start()].strip()
        if word in YES_WORDS or word in NO_WORDS:
            questions.append({"text": question, "answer": "yes" if word in YES_WORDS else "no"})
        elif word in ("có/không", "co/khong", "yes/no"):
            questions.append({"text": question, "kind": "yes_no"})
        elif word in ("số", "so", "number"):
            questions.append({"text": question, "kind": "number"})
        else:
            questions.append({"text": question, "answer": word.replace(",", "."), "kind": "number"})
    return questions


def to_text(quiz: dict[str, Any] | None) -> str:
    """A stored quiz written back in the composer's form."""
    blocks = []
    for q in (quiz or {}).get("questions", []):
        if q["kind"] == "choice":
            lines = [q["text"]] + [f"{'*' if q.get('answer') == i + 1 else ''}{LETTERS[i]}. {choice}"
                                   for i, choice in enumerate(q["choices"])]
            blocks.append("\n".join(lines))
        elif q["kind"] == "yes_no":
            word = {"yes": "có", "no": "không"}.get(q.get("answer") or "", "có/không")
            blocks.append(f"{q['text']} [{word}]")
        else:
            answer = q.get("answer")
            blocks.append(f"{q['text']} [{'số' if answer is None else answer}]")
    return "\n\n".join(blocks)
