"""Administration: users (list, create) and the audit log."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from broadcast.accounts import service as accounts
from broadcast.accounts.models import Role, User
from broadcast.audit import service as audit_log
from broadcast.bounds import PageNumber
from broadcast.communes.service import list_communes, load_province
from broadcast.deps import SessionDep
from broadcast.web.core import ADMINS, flash, page_router, page_user, redirect, render, settings_of, t

router = page_router()
AUDIT_PAGE = 100


@router.get("/admin/users")
def users(request: Request, session: SessionDep, _user: User = Depends(page_user(ADMINS))) -> Response:
    communes = list_communes(session, settings_of(request).province_code)
    return render(request, "users.html", {"rows": accounts.list_users(session),
                                          "bound": accounts.communes_by_user(session), "roles": list(Role),
                                          "communes": communes, "names": {c.code: c.name for c in communes}})


@router.post("/admin/users")
async def create_user(request: Request, session: SessionDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    form = await request.form()
    created = accounts.create_user(
        session, username=str(form.get("username", "")), password=str(form.get("password", "")),
        role=str(form.get("role", "")), communes=[str(c) for c in form.getlist("communes")],
        full_name=str(form.get("full_name", "")).strip(), phone=str(form.get("phone", "")).strip() or None,
        actor_id=admin.id, actor=admin.username)
    flash(request, t(request, "users.created", name=created.username))
    return redirect("/admin/users")


@router.post("/admin/communes/load")
def load_communes(request: Request, session: SessionDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    """The first-run step for admins: the province's communes and wards, as `broadcast communes load` does."""
    province = settings_of(request).province_code
    result = load_province(session, province, actor_id=admin.id, actor=admin.username)
    flash(request, t(request, "firstrun.communes_loaded", total=result.total, created=result.created,
                     province=province))
    return redirect("/")


@router.get("/admin/audit")
def audit(request: Request, session: SessionDep, entity: str = "", page: PageNumber = 1,
          _user: User = Depends(page_user(ADMINS))) -> Response:
    rows, total = audit_log.entries(session, entity=entity or None, offset=(page - 1) * AUDIT_PAGE, limit=AUDIT_PAGE)
    return render(request, "audit.html", {"rows": rows, "total": total, "entity": entity, "page": page,
                                          "pages": max(1, -(-total // AUDIT_PAGE)),
                                          "entities": audit_log.entities(session)})
