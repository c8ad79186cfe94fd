"""Administration: users (list, create) and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import col, select

from broadcast.accounts import service as accounts
from broadcast.accounts.models import AuditLog, Role, User, UserCommune
from broadcast.bounds import PageNumber
from broadcast.deps import SessionDep
from broadcast.exceptions import BroadcastError
from broadcast.web.core import ADMINS, csrf_protect, flash, page_user, redirect, render, settings_of, t
from broadcast.web.residents import communes_of

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
AUDIT_PAGE = 100


@router.get("/admin/users")
def users(request: Request, session: SessionDep, _user: User = Depends(page_user(ADMINS))) -> Response:
    rows = session.exec(select(User).order_by(col(User.username))).all()
    bound: dict[int, list[str]] = {}
    for uid, code in session.exec(select(UserCommune.user_id, UserCommune.commune_code)).all():
        bound.setdefault(uid, []).append(code)
    communes = communes_of(session, settings_of(request).province_code)
    return render(request, "users.html", {"rows": rows, "bound": bound, "roles": list(Role),
                                          "communes": communes, "names": {c.code: c.name for c in communes}})


@router.post("/admin/users")
async def create_user(request: Request, session: SessionDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    form = await request.form()
    try:
        created = accounts.create_user(
            session, username=str(form.get("username", "")), password=str(form.get("password", "")),
            role=str(form.get("role", "")), communes=[str(c) for c in form.getlist("communes")],
            full_name=str(form.get("full_name", "")).strip(), phone=str(form.get("phone", "")).strip() or None,
            actor_id=admin.id, actor=admin.username)
        flash(request, t(request, "users.created", name=created.username))
    except BroadcastError as exc:
        session.rollback()
        flash(request, exc.message, "error")
    return redirect("/admin/users")


@router.get("/admin/audit")
def audit(request: Request, session: SessionDep, entity: str = "", page: PageNumber = 1,
          _user: User = Depends(page_user(ADMINS))) -> Response:
    page = max(page, 1)
    query = select(AuditLog)
    if entity:
        query = query.where(AuditLog.entity == entity)
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    rows = session.exec(query.order_by(col(AuditLog.id).desc()).offset((page - 1) * AUDIT_PAGE)
                        .limit(AUDIT_PAGE)).all()
    entities = session.exec(select(AuditLog.entity).distinct()).all()
    return render(request, "audit.html", {"rows": rows, "total": total, "entity": entity, "page": page,
                                          "pages": max(1, -(-total // AUDIT_PAGE)), "entities": sorted(entities)})
