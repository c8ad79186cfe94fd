"""Login (rate-limited per username and address, shared by every web process), logout, the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from broadcast.accounts import limits
from broadcast.accounts.models import Role
from broadcast.accounts.service import authenticate
from broadcast.audit import service as audit
from broadcast.campaigns import service as campaigns
from broadcast.campaigns.models import CampaignStatus
from broadcast.deps import SessionDep
from broadcast.web import i18n
from broadcast.web.core import page_router, redirect, render, safe_next, t

router = page_router()

def home_for(session: Session, role: str) -> str:
    """Where signing in leads: radio operators to their clips; approvers to the queue when campaigns await them."""
    if role == Role.radio_operator:
        return "/radio"
    if role == Role.approver and campaigns.status_counts(session).get(CampaignStatus.pending_approval):
        return "/approvals"
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next), "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, session: SessionDep, username: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    username = username[:200]  # a name longer than any account's is still just a failed attempt
    attempt = limits.Attempt(username, request.client.host if request.client else "")
    wait = limits.retry_after(session, attempt)
    context = {"next": safe_next(next), "username": username}
    if wait:
        minutes = max(1, (wait + 59) // 60)
        return render(request, "login.html", {**context, "error": t(request, "login.locked", minutes=minutes)},
                      status_code=429)
    user = authenticate(session, username, password)
    if user is None:
        limits.failed(session, attempt)
        audit.record(session, action="login.failed", entity="user", actor=username.strip().lower()[:60] or "?")
        return render(request, "login.html", {**context, "error": t(request, "login.failed")}, status_code=401)
    limits.succeeded(session, attempt)
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
    request.session["uid"] = user.id
    if lang in i18n.LANGUAGES:
        request.session["lang"] = lang
    audit.record(session, action="login", entity="user", entity_id=user.id, actor_id=user.id, actor=user.username)
    target = safe_next(next)
    return redirect(home_for(session, user.role) if target == "/" else target)


@router.post("/logout")
def logout(request: Request) -> Response:
    lang = request.session.get("lang")
    request.session.clear()
    if lang in i18n.LANGUAGES:
        request.session["lang"] = lang
    return redirect("/login")


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str = "/") -> Response:
    if code in i18n.LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(safe_next(next), status_code=303)
