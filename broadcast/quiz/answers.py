"""Answers as residents type them (or press them): "a", "A", "đáp án A", "1", "có"/"co", "không"/"khong", "30 ngày"
become one canonical value per question, or None when the message is not an answer to it."""

from __future__ import annotations

import re
import unicodedata

from broadcast.quiz.definition import LETTERS, NO, YES, Question, number_text

_PUNCT = re.compile(r"[^\w\s.,]+")
_SPACES = re.compile(r"\s+")
# Words residents put before the answer: "đáp án A", "Trả lời: có", "chọn câu B", "phương án 2", "ý C".
_PREFIX = re.compile(r"^(?:(?:DAP AN|CAU TRA LOI|TRA LOI|TL|DA|CHON|PHUONG AN|Y|CAU|LA|DAP SO)\b[\s:.]*)+")
_CHOICE = re.compile(r"^(?:([A-D])|([1-4]))[.)]?$")
_NUMBER = re.compile(r"^(-?\d{1,12}(?:[.,]\d{1,6})?)(?:\s+[A-Z][A-Z ]*)?$")  # "30", "2,5", "30 NGAY"
YES_WORDS = frozenset({"CO", "C", "YES", "Y", "CO A", "DA CO", "CO CO"})
NO_WORDS = frozenset({"KHONG", "K", "KO", "KG", "KHG", "NO", "N", "KHONG A", "CHUA"})


def fold(text: str) -> str:
    """Upper case without accents (đ → D) or punctuation but . and ,; spaces collapsed: 'Đáp án: a' → 'DAP AN A'."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", _PUNCT.sub(" ", bare)).strip().upper()


def normalise(question: Question, body: str) -> str | None:
    """The canonical answer to `question` that `body` gives ("1".."4", "yes"/"no", a number), else None."""
    folded = fold(body).rstrip(".").strip()
    if len(folded) > 60:  # a sentence is a question for the inbox, not an answer
        return None
    bare = _PREFIX.sub("", folded).strip() or folded
    if question.kind == "choice":
        match = _CHOICE.match(bare)
        if match:
            index = LETTERS.index(match.group(1)) + 1 if match.group(1) else int(match.group(2))
            return str(index) if index <= len(question.choices) else None
        for i, choice in enumerate(question.choices):  # the choice's own words: "Đúng", "30 ngày"
            if bare == fold(choice).rstrip(".").strip():
                return str(i + 1)
        return None
    if question.kind == "yes_no":
        if bare in YES_WORDS or bare == "1":
            return YES
        if bare in NO_WORDS or bare == "2":
            return NO
        return None
    match = _NUMBER.match(bare)
    if match is None:
        return None
    return number_text(float(match.group(1).replace(",", ".")))


def keypad(question: Question, digits: str) -> str | None:
    """The canonical answer keys pressed in a call give: 1–4 for choices, 1 yes / 2 no, digits for a number."""
    digits = digits.strip().rstrip("#")
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    if question.kind == "number":
        return number_text(float(digits[:12]))
    if len(digits) != 1:
        return None
    return normalise(question, digits)
