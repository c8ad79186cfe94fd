"""JSON routes: the questions inbox and the admin's keywords and auto-replies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import annotated_types as at
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from broadcast.accounts.deps import CurrentUser, require
from broadcast.accounts.models import Role
from broadcast.bounds import DbId, Offset, Word
from broadcast.deps import SessionDep
from broadcast.engagement import inbox, keywords
from broadcast.engagement.models import Conversation, ConversationStatus
from broadcast.phones import mask_phone

router = APIRouter(tags=["engagement"])
ADMIN = [Depends(require(Role.admin))]


class ConversationOut(BaseModel):
    id: int
    contact_id: DbId | None
    campaign_id: DbId | None
    status: str
    assigned_to_id: DbId | None
    topics: list[str]
    created_at: datetime
    last_message_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    response_seconds: float | None


class InboxPage(BaseModel):
    items: list[ConversationOut]
    total: int
    offset: int
    limit: int
    counts: dict[str, int] = Field(description="conversations per status")


class ThreadMessage(BaseModel):
    direction: Literal["in", "out"]
    id: int | None
    at: datetime
    body: str
    classification: str | None = Field(default=None, description="incoming: how the message was read")
    status: str | None = Field(default=None, description="outgoing: the answer's delivery status")
    officer_id: int | None = None


class ThreadOut(ConversationOut):
    messages: list[ThreadMessage]


class AnsweredOut(BaseModel):
    delivery_id: int | None
    to: str = Field(description="the resident's number, masked")
    status: str


class KeywordOut(BaseModel):
    keyword: str
    action: str


class ReplyOut(BaseModel):
    key: str
    text: str


def _out(c: Conversation) -> ConversationOut:
    seconds = (c.first_response_at - c.created_at).total_seconds() if c.first_response_at else None
    return ConversationOut.model_validate({**c.model_dump(), "response_seconds": seconds})


class AssignIn(BaseModel):
    user_id: DbId | None = None


class AnswerIn(BaseModel):
    text: str = Field(min_length=1, max_length=1600)


class TopicsIn(BaseModel):
    topics: Annotated[list[Word], at.MaxLen(20)]


class KeywordIn(BaseModel):
    keyword: str = Field(min_length=1, max_length=60)
    action: Literal["opt_out", "opt_in", "help", "ignore"] = Field(
        description="opt_out, opt_in, help or ignore (switches a default off)")


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=640)


@router.get("/inbox", summary="Conversations, most recent first", response_model=InboxPage)
def list_inbox(session: SessionDep, status: ConversationStatus | None = None, assigned_to_id: DbId | None = None,
               topic: Word | None = None, contact_id: DbId | None = None,
               offset: Offset = 0, limit: int = Query(50, ge=1, le=500)) -> InboxPage:
    rows, total = inbox.list_conversations(
        session, inbox.ConversationFilter(status, assigned_to_id, topic, contact_id), offset=offset, limit=limit)
    return InboxPage(items=[_out(c) for c in rows], total=total, offset=offset, limit=limit,
                     counts=inbox.status_counts(session))


@router.get("/inbox/topics", summary="Suggested legal topics for tagging")
def topics() -> list[str]:
    return inbox.LEGAL_TOPICS


@router.get("/inbox/{conversation_id}", summary="A conversation with its messages and answers",
            response_model=ThreadOut)
def get_conversation(conversation_id: DbId, session: SessionDep) -> ThreadOut:
    conversation = inbox.get_conversation(session, conversation_id)
    messages = inbox.thread(session, conversation_id)
    return ThreadOut.model_validate({**_out(conversation).model_dump(), "messages": messages})


@router.post("/inbox/{conversation_id}/assign", response_model=ConversationOut)
def assign(conversation_id: DbId, data: AssignIn, session: SessionDep, user: CurrentUser) -> ConversationOut:
    return _out(inbox.assign(session, conversation_id, data.user_id, actor_id=user.id, actor=user.username))


@router.post("/inbox/{conversation_id}/answer", status_code=201, response_model=AnsweredOut,
             summary="Answer by SMS (queued in the outbox: rate limits and quiet hours apply)")
def answer(conversation_id: DbId, data: AnswerIn, session: SessionDep, user: CurrentUser) -> AnsweredOut:
    delivery = inbox.answer(session, conversation_id, data.text, officer_id=user.id, actor=user.username)
    return AnsweredOut(delivery_id=delivery.id, to=mask_phone(delivery.to_phone), status=delivery.status)


@router.post("/inbox/{conversation_id}/close", response_model=ConversationOut)
def close(conversation_id: DbId, session: SessionDep, user: CurrentUser) -> ConversationOut:
    return _out(inbox.close(session, conversation_id, actor_id=user.id, actor=user.username))


@router.put("/inbox/{conversation_id}/topics", response_model=ConversationOut)
def set_topics(conversation_id: DbId, data: TopicsIn, session: SessionDep) -> ConversationOut:
    return _out(inbox.set_topics(session, conversation_id, data.topics))


@router.get("/engagement/keywords", summary="Keywords in effect (defaults overlaid with the admin's rules)")
def list_keywords(session: SessionDep) -> dict[str, str]:
    return {k: v.value for k, v in sorted(keywords.effective_keywords(session).items())}


@router.put("/engagement/keywords", summary="Add or change a keyword (admin)", dependencies=ADMIN,
            response_model=KeywordOut)
def put_keyword(data: KeywordIn, session: SessionDep) -> KeywordOut:
    rule = keywords.set_keyword(session, data.keyword, data.action)
    return KeywordOut(keyword=rule.keyword, action=rule.action)


@router.delete("/engagement/keywords/{keyword}", status_code=204, summary="Remove an admin rule (admin)",
               dependencies=ADMIN)
def delete_keyword(keyword: Word, session: SessionDep) -> None:
    keywords.delete_keyword(session, keyword)


@router.get("/engagement/auto-replies")
def list_replies(session: SessionDep) -> dict[str, str]:
    return keywords.all_replies(session)


@router.put("/engagement/auto-replies/{key}", summary="Change an auto-reply text (admin)", dependencies=ADMIN,
            response_model=ReplyOut)
def put_reply(key: Word, data: ReplyIn, session: SessionDep) -> ReplyOut:
    row = keywords.set_reply(session, key, data.text)
    return ReplyOut(key=row.key, text=row.text)
