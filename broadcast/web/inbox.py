"""The questions inbox: conversations, assignment, an answer box with a segment counter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import Response

from broadcast.accounts import service as accounts
from broadcast.accounts.models import User
from broadcast.bounds import DbId, PageNumber
from broadcast.contacts import service as contacts
from broadcast.deps import SessionDep
from broadcast.engagement import inbox
from broadcast.web.core import EDITORS, READERS, flash, page_router, page_user, redirect, render, t

router = page_router()
PAGE_SIZE = 50
STATUSES = ("new", "assigned", "answered", "closed")


@router.get("/inbox")
def conversations(request: Request, session: SessionDep, status: str = "", mine: str = "", page: PageNumber = 1,
                  user: User = Depends(page_user(READERS))) -> Response:
    page = max(page, 1)
    filters = inbox.ConversationFilter(status=status if status in STATUSES else None,
                                       assigned_to_id=user.id if mine == "1" else None)
    rows, total = inbox.list_conversations(session, filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    names = contacts.names_of(session, [c.contact_id for c in rows if c.contact_id])
    return render(request, "inbox.html", {
        "rows": rows, "total": total, "counts": inbox.status_counts(session), "status": status, "mine": mine,
        "names": names, "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "statuses": STATUSES,
    })


@router.get("/inbox/{conversation_id}")
def conversation(conversation_id: DbId, request: Request, session: SessionDep,
                 _user: User = Depends(page_user(READERS))) -> Response:
    found = inbox.get_conversation(session, conversation_id)
    officers = accounts.display_names(session)
    return render(request, "conversation.html", {
        "c": found, "contact": contacts.find_contact(session, found.contact_id),
        "assignee": accounts.users_by_id(session, [found.assigned_to_id]).get(found.assigned_to_id or 0),
        "officers": officers,
        "messages": inbox.thread(session, conversation_id),
    })


@router.post("/inbox/{conversation_id}/answer")
def answer(conversation_id: DbId, request: Request, session: SessionDep, text: Annotated[str, Form()] = "",
           user: User = Depends(page_user(EDITORS))) -> Response:
    inbox.answer(session, conversation_id, text.strip(), officer_id=user.id, actor=user.username)
    flash(request, t(request, "inbox.answered"))
    return redirect(f"/inbox/{conversation_id}")


@router.post("/inbox/{conversation_id}/assign")
def assign(conversation_id: DbId, request: Request, session: SessionDep, to: Annotated[str, Form()] = "me",
           user: User = Depends(page_user(EDITORS))) -> Response:
    inbox.assign(session, conversation_id, user.id if to == "me" else None, actor_id=user.id,
                 actor=user.username)
    flash(request, t(request, "inbox.assigned" if to == "me" else "inbox.unassigned"))
    return redirect(f"/inbox/{conversation_id}")


@router.post("/inbox/{conversation_id}/close")
def close(conversation_id: DbId, request: Request, session: SessionDep,
          user: User = Depends(page_user(EDITORS))) -> Response:
    inbox.close(session, conversation_id, actor_id=user.id, actor=user.username)
    flash(request, t(request, "inbox.closed"))
    return redirect("/inbox")
