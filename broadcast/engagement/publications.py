"""Answered questions on the public accountability page: an officer drafts the question and its answer, edited and
anonymised (no names, numbers or places finer than the commune); an approver publishes it; it can be withdrawn.

The draft starts from the conversation with the asker's name and number, phone and ID numbers and hamlets,
streets and house numbers replaced; the approval refuses text that still holds a phone or ID number, or the
asker's name or number, whatever the people involved wrote over it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlmodel import Session, col, select

from broadcast.accounts.models import User
from broadcast.audit import service as audit
from broadcast.contacts.models import Contact
from broadcast.db import utcnow
from broadcast.engagement import inbox
from broadcast.engagement.models import Conversation, Publication, PublicationStatus
from broadcast.exceptions import InvalidTransition, NotFoundError, PermissionDenied, ValidationFailed

P = PublicationStatus
TEXT_LIMIT = 4000
PHONE_MARK, NUMBER_MARK, NAME_MARK, PLACE_MARK = "[số điện thoại]", "[số]", "[người hỏi]", "[địa chỉ]"
# A Vietnamese phone number however it is written: 0981234567, +84 98 123 4567, 84-98.123.4567.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){8,10}(?!\d)")
_LONG_NUMBER = re.compile(r"\d(?:[\s.\-]?\d){6,}")  # ID card, bank account, parcel register numbers
# Places finer than a commune, when a name or a number follows: "ấp Cái Cám", "khóm 3", "số nhà 12", "hẻm 45".
_PLACE = re.compile(r"\b(ấp|khóm|thôn|xóm|tổ|số nhà|nhà số|hẻm|ngõ|ngách|đường|khu phố|kp)\s+", re.IGNORECASE)
_WORD = re.compile(r"[^\s,.;:!?()]+")
_GAP = re.compile(r"[ \t]+")
_TITLES = ("anh", "chị", "ông", "bà", "cô", "chú", "bác", "em", "cháu")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _places(text: str) -> str:
    """Replace each hamlet, street or house number with a mark: the keyword and the capitalised words or numbers
    after it ("ấp Cái Cám", "số nhà 12"); a lower-case word after it ("tổ chức", "đường đi") is no place."""
    out, last = [], 0
    for match in _PLACE.finditer(text):
        if match.start() < last:
            continue
        position, end = match.end(), None
        while (word := _WORD.match(text, position)) and (word.group()[0].isupper() or word.group()[0].isdigit()):
            end = word.end()
            space = _GAP.match(text, end)
            if space is None:
                break
            position = space.end()
        if end is not None:
            out += [text[last:match.start()], PLACE_MARK]
            last = end
    return "".join(out) + text[last:]


def anonymise(text: str, *, names: Iterable[str] = (), phones: Iterable[str] = ()) -> str:
    """The text without the asker's name, phone numbers, long numbers or places finer than the commune."""
    for phone in phones:
        if phone:
            national = "0" + phone[3:] if phone.startswith("+84") else phone
            for form in {phone, national, phone.lstrip("+")}:
                text = text.replace(form, PHONE_MARK)
    text = _PHONE.sub(PHONE_MARK, text)
    text = _LONG_NUMBER.sub(NUMBER_MARK, text)
    for name in sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True):
        parts = name.split()
        text = re.sub(re.escape(name), NAME_MARK, text, flags=re.IGNORECASE)
        if len(parts) > 1 and len(parts[-1]) > 1:  # "chị Bích", "ông Tư": a title and the given name
            titles = "|".join(_TITLES)
            text = re.sub(rf"\b({titles})\s+{re.escape(parts[-1])}\b", rf"\1 {NAME_MARK}", text, flags=re.IGNORECASE)
    return _places(text)


def check_anonymous(text: str, *, names: Iterable[str] = (), phones: Iterable[str] = ()) -> None:
    """Refuse a text that still names the asker, or holds a phone or identity number."""
    folded = _fold(text)
    for name in names:
        if name and name.strip() and _fold(name.strip()) in folded:
            raise ValidationFailed("Nội dung còn tên người hỏi: hãy bỏ tên trước khi công khai", field="question")
    digits = re.sub(r"\D", "", text)
    for phone in phones:
        if phone and phone[-9:] in digits:
            raise ValidationFailed("Nội dung còn số điện thoại của người hỏi", field="question")
    if _PHONE.search(text) or _LONG_NUMBER.search(text):
        raise ValidationFailed("Nội dung còn số điện thoại hoặc số giấy tờ: hãy bỏ trước khi công khai",
                               field="question")


def _asker(session: Session, conversation: Conversation) -> tuple[Contact | None, list[str], list[str]]:
    contact = session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    names = [contact.full_name] if contact is not None and contact.full_name else []
    phones = [p for p in [contact.phone if contact else None, *inbox.phones_of(session, conversation.id)] if p]
    return contact, names, phones


def draft_texts(session: Session, conversation_id: int) -> tuple[str, str]:
    """The conversation's questions and answers, anonymised: what the officer starts editing from."""
    conversation = inbox.get_conversation(session, conversation_id)
    _, names, phones = _asker(session, conversation)
    items = inbox.thread(session, conversation_id)
    question = "\n".join(str(i["body"]) for i in items if i["direction"] == "in")
    answer = "\n".join(str(i["body"]) for i in items if i["direction"] == "out")
    return anonymise(question, names=names, phones=phones), anonymise(answer, names=names, phones=phones)


def propose(session: Session, conversation_id: int, *, actor: User, question: str | None = None,
            answer: str | None = None, topic: str | None = None) -> Publication:
    """An officer proposes an answered question for the public page (pending an approver)."""
    conversation = inbox.get_conversation(session, conversation_id)
    if conversation.first_response_at is None:
        raise InvalidTransition("Chỉ công khai câu hỏi đã được trả lời", field="status")
    contact, names, phones = _asker(session, conversation)
    start_question, start_answer = draft_texts(session, conversation_id)
    question = anonymise((question if question is not None else start_question).strip(), names=names, phones=phones)
    answer = anonymise((answer if answer is not None else start_answer).strip(), names=names, phones=phones)
    if not question or not answer:
        raise ValidationFailed("Cần cả câu hỏi và câu trả lời", field="question" if not question else "answer")
    if len(question) > TEXT_LIMIT or len(answer) > TEXT_LIMIT:
        raise ValidationFailed(f"Tối đa {TEXT_LIMIT} ký tự", field="question")
    topic = (topic if topic is not None else next(iter(conversation.topics or []), "")).strip().lower()[:60]
    row = Publication(conversation_id=conversation_id, commune_code=(contact.commune_code if contact else "") or "",
                      topic=topic, question=question, answer=answer, asked_at=conversation.created_at,
                      created_by_id=actor.id)
    session.add(row)
    session.flush()
    audit.record(session, action="publication.propose", entity="publication", entity_id=row.id, actor_id=actor.id,
                 actor=actor.username, after=audit.snapshot(row))
    return row


def get(session: Session, publication_id: int) -> Publication:
    row = session.get(Publication, publication_id)
    if row is None:
        raise NotFoundError(f"Không tìm thấy bài công khai #{publication_id}")
    return row


def review(session: Session, publication_id: int, *, approve: bool, reviewer: User, comment: str = "") -> Publication:
    """An approver publishes a pending question (never their own proposal) or returns it with a reason."""
    row = get(session, publication_id)
    if row.status != P.pending:
        raise InvalidTransition(f"Bài #{publication_id} không chờ duyệt ({row.status})", field="status")
    if reviewer.id is not None and reviewer.id == row.created_by_id:
        raise PermissionDenied("Người đề xuất không được tự duyệt bài công khai của mình")
    before = audit.snapshot(row)
    if approve:
        names, phones = _asker_of(session, row)
        for text in (row.question, row.answer):
            check_anonymous(text, names=names, phones=phones)
        row.status, row.published_at = P.published, utcnow()
    else:
        if not comment.strip():
            raise ValidationFailed("Hãy ghi lý do trả lại", field="comment")
        row.status = P.rejected
    row.reviewed_by_id, row.reviewed_at, row.review_comment = reviewer.id, utcnow(), comment.strip()[:1000]
    session.add(row)
    session.flush()
    audit.record(session, action="publication." + ("approve" if approve else "reject"), entity="publication",
                 entity_id=row.id, actor_id=reviewer.id, actor=reviewer.username, before=before,
                 after=audit.snapshot(row))
    return row


def withdraw(session: Session, publication_id: int, *, actor: User) -> Publication:
    """Take a publication off the public page (or a proposal off the approvers' queue)."""
    row = get(session, publication_id)
    if row.status not in (P.pending, P.published):
        raise InvalidTransition(f"Bài #{publication_id} không còn công khai hay chờ duyệt", field="status")
    before = audit.snapshot(row)
    row.status = P.withdrawn
    session.add(row)
    session.flush()
    audit.record(session, action="publication.withdraw", entity="publication", entity_id=row.id, actor_id=actor.id,
                 actor=actor.username, before=before, after=audit.snapshot(row))
    return row


def _asker_of(session: Session, row: Publication) -> tuple[list[str], list[str]]:
    conversation = session.get(Conversation, row.conversation_id) if row.conversation_id else None
    if conversation is None:
        return [], []
    _, names, phones = _asker(session, conversation)
    return names, phones


def listed(session: Session, *, status: str | None = None, limit: int = 100) -> list[Publication]:
    """Publications (of one status), newest first."""
    query = select(Publication)
    if status:
        query = query.where(Publication.status == status)
    return list(session.exec(query.order_by(col(Publication.id).desc()).limit(limit)).all())


def published(session: Session, *, search: str = "", commune: str = "", topic: str = "",
              limit: int = 50) -> list[Publication]:
    """What the public page shows, newest first; `search` matches words without regard to accents or case."""
    query = select(Publication).where(Publication.status == P.published)
    if commune:
        query = query.where(Publication.commune_code == commune)
    if topic:
        query = query.where(Publication.topic == topic.lower())
    rows = session.exec(query.order_by(col(Publication.published_at).desc())).all()
    words = _fold(search).split()
    if words:  # the published list is short: match in Python, accent-blind, every word
        rows = [r for r in rows if all(w in _fold(f"{r.question} {r.answer} {r.topic}") for w in words)]
    return list(rows[:limit])
