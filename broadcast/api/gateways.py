"""JSON routes (admins) for gateway phones: register, change, health, webhooks, commune routes."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from broadcast.accounts.deps import CurrentUser
from broadcast.accounts.models import User
from broadcast.bounds import CommuneCode, DbId, PhoneName, not_null
from broadcast.channels.gateway import service
from broadcast.channels.gateway.channel import webhook_url
from broadcast.channels.gateway.models import GatewayPhone
from broadcast.channels.gateway.service import Actor, GatewayFailed
from broadcast.config import Settings
from broadcast.deps import EngineDep, SessionDep, SettingsDep

router = APIRouter(prefix="/gateways", tags=["gateway phones"])


class PhoneIn(BaseModel):
    name: str = Field(max_length=40)
    base_url: str = Field(max_length=300)
    login: str = Field(default="", max_length=100)
    password: str = Field(default="", max_length=200)
    signing_key: str = Field(default="", max_length=200)
    commune_code: CommuneCode | None = None
    rate_per_minute: float = Field(default=6.0, gt=0, le=600)
    daily_limit: int = Field(default=300, ge=1, le=1_000_000)


class PhoneUpdate(BaseModel):
    base_url: str | None = Field(default=None, max_length=300)
    login: str | None = Field(default=None, max_length=100)
    password: str | None = Field(default=None, max_length=200)
    signing_key: str | None = Field(default=None, max_length=200)
    commune_code: CommuneCode | None = None  # null: no commune
    rate_per_minute: float | None = Field(default=None, gt=0, le=600)
    daily_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    enabled: bool | None = None

    _not_null = field_validator("base_url", "login", "password", "signing_key", "rate_per_minute",
                                "daily_limit", "enabled")(not_null)


class PhoneOut(BaseModel):
    name: str
    route: str
    base_url: str
    login: str
    has_password: bool
    has_signing_key: bool
    commune_code: str | None
    rate_per_minute: float
    daily_limit: int
    enabled: bool
    status: str
    last_seen_at: datetime | None
    last_error: str | None
    webhook_url: str
    queued: int
    sending: int
    sent_last_hour: int
    sent_today: int


class RouteIn(BaseModel):
    route: str | None = Field(default=None, max_length=60)


class WebhooksOut(BaseModel):
    url: str = Field(description="where the phone now posts its events")
    webhooks: list[str] = Field(description="the phone's webhook ids")


class RoutesOut(BaseModel):
    default: str = Field(description="GATEWAY_DEFAULT_ROUTE")
    communes: dict[str, str] = Field(description="commune code → route, for communes that have their own")


class CommuneRouteOut(BaseModel):
    commune_code: str
    route: str | None


class CampaignRouteOut(BaseModel):
    campaign_id: int
    route: str | None


__all__ = ["GatewayFailed", "router"]


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.username)


def phone_out(session: SessionDep, settings: Settings, phone: GatewayPhone) -> PhoneOut:
    """A phone as the API shows it: never its password or signing key."""
    f = service.figures(session, phone, default_route=settings.gateway_default_route, zone=settings.zone)
    return PhoneOut(name=phone.name, route=f"gateway:{phone.name}", base_url=phone.base_url, login=phone.login,
                    has_password=bool(phone.password), has_signing_key=bool(phone.signing_key),
                    commune_code=phone.commune_code, rate_per_minute=phone.rate_per_minute,
                    daily_limit=phone.daily_limit, enabled=phone.enabled, status=phone.status,
                    last_seen_at=phone.last_seen_at, last_error=phone.last_error,
                    webhook_url=webhook_url(settings.public_base_url, phone.name), queued=f.queued,
                    sending=f.sending, sent_last_hour=f.sent_hour, sent_today=f.sent_today)


@router.get("", response_model=list[PhoneOut])
def list_phones(session: SessionDep, settings: SettingsDep) -> list[PhoneOut]:
    return [phone_out(session, settings, p) for p in service.list_phones(session)]


@router.post("", response_model=PhoneOut, status_code=201)
def register(body: PhoneIn, session: SessionDep, settings: SettingsDep, user: CurrentUser) -> PhoneOut:
    phone = service.register_phone(session, **body.model_dump(), actor=actor_of(user))
    return phone_out(session, settings, phone)


@router.patch("/{name}", response_model=PhoneOut)
def change(name: PhoneName, body: PhoneUpdate, session: SessionDep, settings: SettingsDep,
           user: CurrentUser) -> PhoneOut:
    phone = service.update_phone(session, name, **body.model_dump(), actor=actor_of(user))
    return phone_out(session, settings, phone)


@router.post("/{name}/check", response_model=PhoneOut)
def check(name: PhoneName, engine: EngineDep, session: SessionDep, settings: SettingsDep,
          user: CurrentUser) -> PhoneOut:
    """Ask the phone for /health now and record the answer."""
    service.check_phone(engine, name, timeout=settings.gateway_timeout_seconds, actor=actor_of(user))
    return phone_out(session, settings, service.get_phone(session, name))


@router.post("/{name}/webhooks", response_model=WebhooksOut)
def register_webhooks(name: PhoneName, engine: EngineDep, settings: SettingsDep,
                      user: CurrentUser) -> WebhooksOut:
    """Register the phone's sms:received/sent/delivered/failed webhooks to PUBLIC_BASE_URL."""
    url, ids = service.register_webhooks(engine, name, public_base_url=settings.public_base_url,
                                         timeout=settings.gateway_timeout_seconds, actor=actor_of(user))
    return WebhooksOut(url=url, webhooks=ids)


@router.get("/routes", response_model=RoutesOut)
def routes(session: SessionDep, settings: SettingsDep) -> RoutesOut:
    return RoutesOut(default=settings.gateway_default_route, communes=service.commune_routes(session))


@router.put("/routes/{commune_code}", response_model=CommuneRouteOut)
def set_route(commune_code: CommuneCode, body: RouteIn, session: SessionDep,
              user: CurrentUser) -> CommuneRouteOut:
    service.set_commune_route(session, commune_code, body.route, actor=actor_of(user))
    return CommuneRouteOut(commune_code=commune_code, route=body.route)


@router.put("/campaigns/{campaign_id}/route", response_model=CampaignRouteOut)
def set_campaign_route(campaign_id: DbId, body: RouteIn, session: SessionDep, user: CurrentUser
                       ) -> CampaignRouteOut:
    """Route one campaign's SMS; a null route lets each resident's commune route decide."""
    campaign = service.set_campaign_route(session, campaign_id, body.route, actor=actor_of(user))
    return CampaignRouteOut(campaign_id=campaign_id, route=campaign.route)
