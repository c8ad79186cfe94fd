"""The questions inbox: conversations, assignment, an answer box with a segment counter."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import col, select

from broadcast.accounts.models import User
from broadcast.bounds import DbId, PageNumber
from broadcast.contacts.models import Contact
from broadcast.deps import SessionDep
from broadcast.engagement import inbox
from broadcast.engagement.models import Conversation
from broadcast.exceptions import BroadcastError
from broadcast.web.core import EDITORS, READERS, PageNotFound, csrf_protect, flash, page_user, redirect, render, t

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
PAGE_SIZE = 50
STATUSES = ("new", "assigned", "answered", "closed")


@router.get("/inbox")
def conversations(request: Request, session: SessionDep, status: str = "", mine: str = "", page: PageNumber = 1,
                  user: User = Depends(page_user(READERS))) -> Response:
    page = max(page, 1)
    filters = inbox.ConversationFilter(status=status if status in STATUSES else None,
                                       assigned_to_id=user.id if mine == "1" else None)
    rows, total = inbox.list_conversations(session, filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    contact_ids = [c.contact_id for c in rows if c.contact_id]
    names = dict(session.exec(select(Contact.id, Contact.full_name).where(col(Contact.id).in_(contact_ids))).all()) \
        if contact_ids else {}
    return render(request, "inbox.html", {
        "rows": rows, "total": total, "counts": inbox.status_counts(session), "status": status, "mine": mine,
        "names": names, "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "statuses": STATUSES,
    })


def _conversation(session: SessionDep, conversation_id: DbId) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise PageNotFound()
    return conversation


@router.get("/inbox/{conversation_id}")
def conversation(conversation_id: DbId, request: Request, session: SessionDep,
                 _user: User = Depends(page_user(READERS))) -> Response:
    found = _conversation(session, conversation_id)
    contact = session.get(Contact, found.contact_id) if found.contact_id else None
    assignee = session.get(User, found.assigned_to_id) if found.assigned_to_id else None
    officers = {u.id: u.full_name or u.username for u in session.exec(select(User)).all()}
    return render(request, "conversation.html", {
        "c": found, "contact": contact, "assignee": assignee, "officers": officers,
        "messages": inbox.thread(session, conversation_id),
    })


@router.post("/inbox/{conversation_id}/answer")
def answer(conversation_id: DbId, request: Request, session: SessionDep, text: Annotated[str, Form()] = "",
           user: User = Depends(page_user(EDITORS))) -> Response:
    _conversation(session, conversation_id)
    try:
        inbox.answer(session, conversation_id, text.strip(), officer_id=user.id)
        flash(request, t(request, "inbox.answered"))
    except BroadcastError as exc:
        flash(request, exc.message, "error")
    return redirect(f"/inbox/{conversation_id}")


@router.post("/inbox/{conversation_id}/assign")
def assign(conversation_id: DbId, request: Request, session: SessionDep, to: Annotated[str, Form()] = "me",
           user: User = Depends(page_user(EDITORS))) -> Response:
    _conversation(session, conversation_id)
    inbox.assign(session, conversation_id, user.id if to == "me" else None, actor_id=user.id)
    flash(request, t(request, "inbox.assigned" if to == "me" else "inbox.unassigned"))
    return redirect(f"/inbox/{conversation_id}")


@router.post("/inbox/{conversation_id}/close")
def close(conversation_id: DbId, request: Request, session: SessionDep,
          user: User = Depends(page_user(EDITORS))) -> Response:
    _conversation(session, conversation_id)
    inbox.close(session, conversation_id, actor_id=user.id)
    flash(request, t(request, "inbox.closed"))
    return redirect("/inbox")
