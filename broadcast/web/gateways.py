"""Administration of gateway phones (SMS Gateway for Android): register, health, queue, throughput, routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from broadcast.accounts import audit
from broadcast.accounts.models import User
from broadcast.channels import gateway_service as service
from broadcast.channels.gateway_api import channel_for
from broadcast.channels.gateway_models import PhoneStatus
from broadcast.channels.gateway_webhooks import webhook_url
from broadcast.db import utcnow
from broadcast.deps import SessionDep
from broadcast.exceptions import BroadcastError
from broadcast.web.core import ADMINS, csrf_protect, flash, page_user, redirect, render, settings_of, t
from broadcast.web.residents import communes_of

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
PAGE = "/admin/gateways"


@router.get(PAGE)
def gateways(request: Request, session: SessionDep, _user: User = Depends(page_user(ADMINS))) -> Response:
    settings = settings_of(request)
    phones = service.list_phones(session)
    rows = [(p, service.figures(session, p, default_route=settings.gateway_default_route, zone=settings.zone),
             webhook_url(settings.public_base_url, p.name)) for p in phones]
    communes = communes_of(session, settings.province_code)
    routes = service.commune_routes(session)
    choices = ["twilio", "gateway", *(f"gateway:{p.name}" for p in phones)]
    return render(request, "gateways.html", {
        "rows": rows, "communes": communes, "names": {c.code: c.name for c in communes}, "routes": routes,
        "choices": choices, "default_route": settings.gateway_default_route})


@router.post(PAGE)
async def register(request: Request, session: SessionDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    form = await request.form()
    try:
        phone = service.register_phone(
            session, name=str(form.get("name", "")), base_url=str(form.get("base_url", "")),
            login=str(form.get("login", "")), password=str(form.get("password", "")),
            signing_key=str(form.get("signing_key", "")), commune_code=str(form.get("commune_code", "")) or None,
            rate_per_minute=float(str(form.get("rate_per_minute") or 6)),
            daily_limit=int(str(form.get("daily_limit") or 300)))
        if phone.commune_code and form.get("route_commune"):
            service.set_commune_route(session, phone.commune_code, f"gateway:{phone.name}")
        audit.record(session, action="gateway.register", entity="gateway_phone", entity_id=phone.id,
                     actor_id=admin.id, actor=admin.username, after={"name": phone.name, "base_url": phone.base_url})
        flash(request, t(request, "gateways.created", name=phone.name))
    except (BroadcastError, ValueError) as exc:
        session.rollback()
        flash(request, exc.message if isinstance(exc, BroadcastError) else t(request, "gateways.bad_number"),
              "error")
    return redirect(PAGE)


@router.post(PAGE + "/{name}/check")
async def check(name: str, request: Request, session: SessionDep,
                _admin: User = Depends(page_user(ADMINS))) -> Response:
    phone = service.get_phone(session, name)
    try:
        await run_in_threadpool(channel_for(phone, settings_of(request)).health)
        phone.status, phone.last_seen_at, phone.last_error = PhoneStatus.up, utcnow(), None
        flash(request, t(request, "gateways.check_ok", name=name))
    except Exception as exc:
        phone.status, phone.last_error = PhoneStatus.down, f"health check: {exc.__class__.__name__}"
        flash(request, t(request, "gateways.check_failed", name=name), "error")
    session.add(phone)
    return redirect(PAGE)


@router.post(PAGE + "/{name}/webhooks")
async def register_webhooks(name: str, request: Request, session: SessionDep,
                            _admin: User = Depends(page_user(ADMINS))) -> Response:
    phone = service.get_phone(session, name)
    url = webhook_url(settings_of(request).public_base_url, name)
    try:
        await run_in_threadpool(channel_for(phone, settings_of(request)).register_webhooks, url)
        flash(request, t(request, "gateways.webhooks_ok", url=url))
    except Exception:
        flash(request, t(request, "gateways.webhooks_failed", name=name), "error")
    return redirect(PAGE)


@router.post(PAGE + "/{name}/toggle")
async def toggle(name: str, request: Request, session: SessionDep,
                 admin: User = Depends(page_user(ADMINS))) -> Response:
    phone = service.update_phone(session, name, enabled=not service.get_phone(session, name).enabled)
    audit.record(session, action="gateway.update", entity="gateway_phone", entity_id=phone.id, actor_id=admin.id,
                 actor=admin.username, after={"enabled": phone.enabled})
    return redirect(PAGE)


@router.post(PAGE + "/routes")
async def set_route(request: Request, session: SessionDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    form = await request.form()
    code, route = str(form.get("commune_code", "")), str(form.get("route", "")) or None
    try:
        service.set_commune_route(session, code, route)
        audit.record(session, action="gateway.route", entity="commune", entity_id=code, actor_id=admin.id,
                     actor=admin.username, after={"route": route})
        flash(request, t(request, "gateways.route_saved"))
    except BroadcastError as exc:
        session.rollback()
        flash(request, exc.message, "error")
    return redirect(PAGE)
