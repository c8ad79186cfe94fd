"""Administration of gateway phones (SMS Gateway for Android): register, health, queue, throughput, routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from broadcast.accounts.models import User
from broadcast.channels.gateway import service
from broadcast.channels.gateway.channel import webhook_url
from broadcast.channels.gateway.service import Actor
from broadcast.deps import EngineDep, SessionDep
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
            daily_limit=int(str(form.get("daily_limit") or 300)), actor=Actor(admin.id, admin.username))
        if phone.commune_code and form.get("route_commune"):
            service.set_commune_route(session, phone.commune_code, f"gateway:{phone.name}",
                                      actor=Actor(admin.id, admin.username))
        flash(request, t(request, "gateways.created", name=phone.name))
    except (BroadcastError, ValueError) as exc:
        session.rollback()
        flash(request, exc.message if isinstance(exc, BroadcastError) else t(request, "gateways.bad_number"),
              "error")
    return redirect(PAGE)


@router.post(PAGE + "/{name}/check")
def check(name: str, request: Request, engine: EngineDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    settings = settings_of(request)
    result = service.check_phone(engine, name, timeout=settings.gateway_timeout_seconds,
                                 actor=Actor(admin.id, admin.username))
    if result.up:
        flash(request, t(request, "gateways.check_ok", name=name))
    else:
        flash(request, t(request, "gateways.check_failed", name=name), "error")
    return redirect(PAGE)


@router.post(PAGE + "/{name}/webhooks")
def register_webhooks(name: str, request: Request, engine: EngineDep,
                      admin: User = Depends(page_user(ADMINS))) -> Response:
    settings = settings_of(request)
    try:
        url, _ = service.register_webhooks(engine, name, public_base_url=settings.public_base_url,
                                           timeout=settings.gateway_timeout_seconds,
                                           actor=Actor(admin.id, admin.username))
        flash(request, t(request, "gateways.webhooks_ok", url=url))
    except service.GatewayFailed:
        flash(request, t(request, "gateways.webhooks_failed", name=name), "error")
    return redirect(PAGE)


@router.post(PAGE + "/{name}/toggle")
async def toggle(name: str, request: Request, session: SessionDep,
                 admin: User = Depends(page_user(ADMINS))) -> Response:
    service.update_phone(session, name, enabled=not service.get_phone(session, name).enabled,
                         actor=Actor(admin.id, admin.username))
    return redirect(PAGE)


@router.post(PAGE + "/routes")
async def set_route(request: Request, session: SessionDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    form = await request.form()
    code, route = str(form.get("commune_code", "")), str(form.get("route", "")) or None
    try:
        service.set_commune_route(session, code, route, actor=Actor(admin.id, admin.username))
        flash(request, t(request, "gateways.route_saved"))
    except BroadcastError as exc:
        session.rollback()
        flash(request, exc.message, "error")
    return redirect(PAGE)
