"""Keyword classification of residents' replies: accent- and case-insensitive, Vietnamese and English."""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, select

from broadcast.db import utcnow
from broadcast.engagement.models import AutoReply, KeywordRule
from broadcast.exceptions import ValidationFailed


class Action(StrEnum):
    opt_out = "opt_out"
    opt_in = "opt_in"
    help = "help"
    ignore = "ignore"  # an admin switched a default keyword off


class Classification(StrEnum):
    opt_out = "opt_out"
    opt_in = "opt_in"
    help = "help"
    rating = "rating"
    airing = "airing"
    question = "question"
    quiz = "quiz"  # an answer to a quiz question (or a reply the quiz handled: a hint, a repeat)


# Twilio's default opt-out/opt-in/help words (long codes) plus the Vietnamese ones residents know.
DEFAULT_KEYWORDS: dict[str, Action] = {
    **{w: Action.opt_out for w in ("TC", "HUY", "DUNG", "TU CHOI", "HUY DANG KY", "STOP", "STOPALL",
                                   "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT")},
    **{w: Action.opt_in for w in ("BATDAU", "BAT DAU", "DK", "DANGKY", "DANG KY", "START", "YES", "UNSTOP")},
    **{w: Action.help for w in ("TROGIUP", "TRO GIUP", "HOTRO", "HO TRO", "HELP", "INFO")},
}

DEFAULT_REPLIES: dict[str, str] = {
    "opt_out": "Ban da ngung nhan tin nhan pho bien phap luat. Soan BATDAU de nhan lai.",
    "opt_in": "Ban da dang ky nhan lai tin nhan pho bien phap luat. Soan TC de ngung nhan.",
    "help": "Tro giup phap ly {commune}: {legal_aid}. Soan TC de ngung nhan tin.",
    "help_fallback": "Lien he UBND xa/phuong noi cu tru de duoc tro giup phap ly. Soan TC de ngung nhan tin.",
    "airing_ok": "Da ghi nhan phat song ma {code}. Cam on!",
    "airing_unknown": "Khong tim thay lich phat voi ma {code}.",
    "rating_thanks": "Cam on ban da danh gia.",
}

_AIRING = re.compile(r"^DA ?PHAT\s+([A-Z0-9]{3,12})$")
_RATING = re.compile(r"^([1-5])(?:\s*(?:SAO|DIEM|/\s*5))?$")
_PUNCT = re.compile(r"[^\w\s/]+")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Upper-case, accents removed (đ → D), punctuation dropped, spaces collapsed: 'Hủy!' → 'HUY'."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", _PUNCT.sub(" ", bare)).strip().upper()


@dataclass(frozen=True)
class Parsed:
    """What an incoming message asks for; `value` is the rating or the airing code."""

    kind: Classification
    value: str | None = None


_CACHE: dict[str, tuple[float, dict[str, Action]]] = {}
CACHE_SECONDS = 5.0  # an admin's edit reaches every web process within this time


def effective_keywords(session: Session) -> dict[str, Action]:
    """Defaults overlaid with the admin's rules (an `ignore` rule removes a default); cached briefly."""
    key = str(session.get_bind().engine.url)
    cached = _CACHE.get(key)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    rules = _load_keywords(session)
    _CACHE[key] = (time.monotonic(), rules)
    return rules


def _load_keywords(session: Session) -> dict[str, Action]:
    rules = dict(DEFAULT_KEYWORDS)
    for rule in session.exec(select(KeywordRule)).all():
        if rule.action == Action.ignore:
            rules.pop(rule.keyword, None)
        else:
            rules[rule.keyword] = Action(rule.action)
    return rules


def classify(body: str, keywords: dict[str, Action], *, rating_allowed: bool) -> Parsed:
    """Classify a whole message: keyword, airing confirmation, rating, or a question for the inbox."""
    folded = fold(body)
    action = keywords.get(folded)
    if action is not None and action != Action.ignore:
        return Parsed(Classification(action.value))
    airing = _AIRING.match(folded)
    if airing:
        return Parsed(Classification.airing, airing.group(1))
    rating = _RATING.match(folded)
    if rating and rating_allowed:
        return Parsed(Classification.rating, rating.group(1))
    return Parsed(Classification.question)


def reply_text(session: Session, key: str, **values: str) -> str:
    """The auto-reply `key`, the admin's text if set, with {placeholders} filled in."""
    row = session.get(AutoReply, key)
    return fill_reply(row.text if row is not None else DEFAULT_REPLIES[key], **values)


def fill_reply(template: str, **values: str) -> str:
    """An auto-reply's {placeholders} filled in; an admin's text with a broken placeholder is sent as written."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def set_keyword(session: Session, keyword: str, action: str, *, actor_id: int | None = None) -> KeywordRule:
    """Add or change a keyword (stored folded); action is opt_out, opt_in, help or ignore."""
    folded = fold(keyword)
    if not folded or len(folded) > 40:
        raise ValidationFailed("Từ khoá không hợp lệ", field="keyword")
    try:
        parsed = Action(action)
    except ValueError:
        raise ValidationFailed("Hành động phải là opt_out, opt_in, help hoặc ignore", field="action") from None
    rule = session.get(KeywordRule, folded) or KeywordRule(keyword=folded, action=parsed)
    rule.action, rule.updated_at, rule.updated_by_id = parsed, utcnow(), actor_id
    session.add(rule)
    session.flush()
    _CACHE.clear()
    return rule


def delete_keyword(session: Session, keyword: str) -> None:
    """Drop an admin rule (a default keyword comes back)."""
    rule = session.get(KeywordRule, fold(keyword))
    if rule is not None:
        session.delete(rule)
        session.flush()
    _CACHE.clear()


def set_reply(session: Session, key: str, text: str, *, actor_id: int | None = None) -> AutoReply:
    """Change the text of one auto-reply."""
    if key not in DEFAULT_REPLIES:
        raise ValidationFailed(f"Không có câu trả lời tự động '{key}'", field="key")
    if not text.strip():
        raise ValidationFailed("Nội dung trống", field="text")
    row = session.get(AutoReply, key) or AutoReply(key=key, text=text)
    row.text, row.updated_at, row.updated_by_id = text, utcnow(), actor_id
    session.add(row)
    session.flush()
    return row


def all_replies(session: Session) -> dict[str, str]:
    """Every auto-reply text in effect."""
    texts = dict(DEFAULT_REPLIES)
    texts.update({row.key: row.text for row in session.exec(select(AutoReply)).all()})
    return texts
