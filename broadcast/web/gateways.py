"""Administration of gateway phones (SMS Gateway for Android): register, health, queue, throughput, routes."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from broadcast.accounts.models import User
from broadcast.bounds import PhoneName
from broadcast.channels.gateway import service
from broadcast.channels.gateway.channel import webhook_url
from broadcast.channels.gateway.service import Actor
from broadcast.communes.service import list_communes
from broadcast.deps import EngineDep, SessionDep
from broadcast.exceptions import ValidationFailed
from broadcast.web.core import ADMINS, flash, page_router, page_user, redirect, render, settings_of, t

router = page_router()
PAGE = "/admin/gateways"


@router.get(PAGE)
def gateways(request: Request, session: SessionDep, _user: User = Depends(page_user(ADMINS))) -> Response:
    settings = settings_of(request)
    phones = service.list_phones(session)
    rows = [(p, service.figures(session, p, default_route=settings.gateway_default_route, zone=settings.zone),
             webhook_url(settings.public_base_url, p.name)) for p in phones]
    communes = list_communes(session, settings.province_code)
    routes = service.commune_routes(session)
    choices = ["twilio", "gateway", *(f"gateway:{p.name}" for p in phones)]
    return render(request, "gateways.html", {
        "rows": rows, "communes": communes, "names": {c.code: c.name for c in communes}, "routes": routes,
        "choices": choices, "default_route": settings.gateway_default_route})


@router.post(PAGE)
async def register(request: Request, session: SessionDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    form = await request.form()
    rate = _number(request, form.get("rate_per_minute") or "6", "rate_per_minute")
    daily = _number(request, form.get("daily_limit") or "300", "daily_limit")
    phone = service.register_phone(
        session, name=str(form.get("name", "")), base_url=str(form.get("base_url", "")),
        login=str(form.get("login", "")), password=str(form.get("password", "")),
        signing_key=str(form.get("signing_key", "")), commune_code=str(form.get("commune_code", "")) or None,
        rate_per_minute=rate, daily_limit=int(daily), actor=Actor(admin.id, admin.username))
    if phone.commune_code and form.get("route_commune"):
        service.set_commune_route(session, phone.commune_code, f"gateway:{phone.name}",
                                  actor=Actor(admin.id, admin.username))
    flash(request, t(request, "gateways.created", name=phone.name))
    return redirect(PAGE)


def _number(request: Request, value: object, field: str) -> float:
    """A positive number typed in the form, or a ValidationFailed the page error path shows."""
    try:
        number = float(str(value).replace(",", "."))
    except ValueError:
        number = float("nan")
    if not (0 < number < 1_000_000):
        raise ValidationFailed(t(request, "gateways.bad_number"), field=field)
    return number


@router.post(PAGE + "/{name}/check")
def check(name: PhoneName, request: Request, engine: EngineDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    settings = settings_of(request)
    result = service.check_phone(engine, name, timeout=settings.gateway_timeout_seconds,
                                 actor=Actor(admin.id, admin.username))
    if result.up:
        flash(request, t(request, "gateways.check_ok", name=name))
    else:
        flash(request, t(request, "gateways.check_failed", name=name), "error")
    return redirect(PAGE)


@router.post(PAGE + "/{name}/webhooks")
def register_webhooks(name: PhoneName, request: Request, engine: EngineDep,
                      admin: User = Depends(page_user(ADMINS))) -> Response:
    settings = settings_of(request)
    url, _ = service.register_webhooks(engine, name, public_base_url=settings.public_base_url,
                                       timeout=settings.gateway_timeout_seconds, actor=Actor(admin.id, admin.username))
    flash(request, t(request, "gateways.webhooks_ok", url=url))
    return redirect(PAGE)


@router.post(PAGE + "/{name}/toggle")
async def toggle(name: PhoneName, request: Request, session: SessionDep,
                 admin: User = Depends(page_user(ADMINS))) -> Response:
    service.update_phone(session, name, enabled=not service.get_phone(session, name).enabled,
                         actor=Actor(admin.id, admin.username))
    return redirect(PAGE)


@router.post(PAGE + "/routes")
async def set_route(request: Request, session: SessionDep, admin: User = Depends(page_user(ADMINS))) -> Response:
    form = await request.form()
    code, route = str(form.get("commune_code", "")), str(form.get("route", "")) or None
    service.set_commune_route(session, code, route, actor=Actor(admin.id, admin.username))
    flash(request, t(request, "gateways.route_saved"))
    return redirect(PAGE)
