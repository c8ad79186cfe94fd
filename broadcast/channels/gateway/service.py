"""Gateway phones and SMS routes: register, change, health checks and marks, webhook registration, figures.

Calling a phone is never done inside a transaction: `check_phone` and `register_webhooks` read what they
need in a short transaction of their own, end it, call the phone, then record the outcome in another
(under SQLite a transaction holds the database's write lock, and a phone may take seconds to answer).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from broadcast.audit import service as audit
from broadcast.campaigns.models import Campaign
from broadcast.channels.gateway.channel import PROVIDER_PREFIX, GatewayChannel, PhoneConfig, webhook_url
from broadcast.channels.gateway.models import CommuneRoute, GatewayPhone, PhoneStatus
from broadcast.channels.gateway.routing import phone_may_take, valid_route
from broadcast.communes.models import Commune
from broadcast.db import session_scope, utcnow
from broadcast.exceptions import BroadcastError, ConflictError, NotFoundError, ValidationFailed
from broadcast.outbox.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
EXPORT_MARGIN = timedelta(minutes=2)
EDITABLE = ("base_url", "login", "password", "signing_key", "commune_code", "rate_per_minute", "daily_limit",
            "enabled")


class GatewayFailed(BroadcastError):
    """The phone did not do what was asked (it answered with an error, or not at all)."""

    status_code = 502


@dataclass(frozen=True)
class Actor:
    """Who asked, for the audit log."""

    id: int | None = None
    name: str = "system"


@dataclass(frozen=True)
class HealthCheck:
    """What a phone answered to a health check."""

    name: str
    up: bool
    error: str | None


@dataclass(frozen=True)
class PhoneFigures:
    """What the admin page shows for one phone."""

    queued: int  # queued SMS this phone would take now
    sending: int
    sent_hour: int
    sent_today: int


def _check(session: Session, values: dict[str, Any]) -> None:
    url = values.get("base_url")
    if url is not None and not str(url).startswith(("http://", "https://")):
        raise ValidationFailed("Địa chỉ điện thoại phải bắt đầu bằng http:// hoặc https://", field="base_url")
    if values.get("rate_per_minute") is not None and not 0 < float(values["rate_per_minute"]) <= 6000:
        raise ValidationFailed("Tốc độ phải từ 0 đến 6000 tin mỗi phút", field="rate_per_minute")
    if values.get("daily_limit") is not None and int(values["daily_limit"]) < 0:
        raise ValidationFailed("Giới hạn mỗi ngày không được âm", field="daily_limit")
    code = values.get("commune_code")
    if code and session.get(Commune, code) is None:
        raise ValidationFailed(f"Không có xã/phường mã {code}", field="commune_code")


def register_phone(session: Session, *, name: str, base_url: str, login: str = "", password: str = "",
                   signing_key: str = "", commune_code: str | None = None, rate_per_minute: float = 6.0,
                   daily_limit: int = 300, actor: Actor = Actor()) -> GatewayPhone:
    """Add a phone; its route is `gateway:<name>` and its webhooks go to /webhooks/gateway/<name>."""
    name = name.strip().lower()
    if not _NAME.match(name):
        raise ValidationFailed("Tên điện thoại: chữ thường không dấu, số, - hoặc _ (tối đa 40)", field="name")
    if session.exec(select(GatewayPhone).where(GatewayPhone.name == name)).first() is not None:
        raise ConflictError(f"Đã có điện thoại tên {name}", field="name")
    values: dict[str, Any] = {"base_url": base_url.strip().rstrip("/"), "login": login.strip(), "password": password,
              "signing_key": signing_key.strip(), "commune_code": commune_code or None,
              "rate_per_minute": rate_per_minute, "daily_limit": daily_limit}
    _check(session, values)
    phone = GatewayPhone(name=name, **values)
    session.add(phone)
    session.flush()
    audit.record(session, action="gateway.register", entity="gateway_phone", entity_id=phone.id,
                 actor_id=actor.id, actor=actor.name, after={"name": phone.name, "base_url": phone.base_url})
    return phone


def get_phone(session: Session, name: str) -> GatewayPhone:
    """The phone called `name`, or 404."""
    phone = session.exec(select(GatewayPhone).where(GatewayPhone.name == name)).first()
    if phone is None:
        raise NotFoundError(f"Không có điện thoại {name}")
    return phone


def update_phone(session: Session, name: str, *, actor: Actor = Actor(), **changes: Any) -> GatewayPhone:
    """Change a phone's address, credentials, commune, budget or enabled flag (None leaves a value)."""
    phone = get_phone(session, name)
    values = {k: v for k, v in changes.items() if k in EDITABLE and v is not None}
    _check(session, values)
    for key, value in values.items():
        setattr(phone, key, value.strip().rstrip("/") if key == "base_url" else value)
    session.add(phone)
    session.flush()
    audit.record(session, action="gateway.update", entity="gateway_phone", entity_id=phone.id, actor_id=actor.id,
                 actor=actor.name, after={k: v for k, v in values.items() if k not in ("password", "signing_key")})
    return phone


def list_phones(session: Session) -> list[GatewayPhone]:
    """Every registered phone, by name."""
    return list(session.exec(select(GatewayPhone).order_by(col(GatewayPhone.name))).all())


def set_status(engine: Engine, name: str, status: PhoneStatus, *, error: str | None = None,
               seen: bool = False, clear_error: bool = False, actor: Actor | None = None) -> bool:
    """Record a health observation in a short transaction of its own; True when the status changed.

    With an `actor` (a person asked for the check) the observation is audited in the same transaction.
    """
    now = utcnow()
    with session_scope(engine) as session:
        phone = session.exec(select(GatewayPhone).where(GatewayPhone.name == name)).first()
        if phone is None:
            return False
        changed = phone.status != status
        phone.status = status
        if changed:
            phone.status_changed_at = now
        if seen:
            phone.last_seen_at = now
        if error is not None:
            phone.last_error = error[:300]
        elif clear_error:
            phone.last_error = None
        session.add(phone)
        if actor is not None:
            audit.record(session, action="gateway.check", entity="gateway_phone", entity_id=phone.id,
                         actor_id=actor.id, actor=actor.name, after={"status": str(status), "error": error})
        return changed


def phone_config(engine: Engine, name: str, *, timeout: float) -> PhoneConfig:
    """What calling phone `name` takes, read in a transaction that is over when this returns (or 404)."""
    with Session(engine) as session:
        phone = get_phone(session, name)
        return PhoneConfig(phone.name, phone.base_url, phone.login, phone.password, timeout=timeout)


def check_phone(engine: Engine, name: str, *, timeout: float, actor: Actor) -> HealthCheck:
    """Ask the phone for /health now and record the answer; no transaction is open while it answers."""
    config = phone_config(engine, name, timeout=timeout)
    try:
        GatewayChannel(config).health()
    except Exception as exc:  # whatever the phone did (refused, timed out, garbled), it is not healthy
        error = f"health check: {exc.__class__.__name__}"
        set_status(engine, name, PhoneStatus.down, error=error, actor=actor)
        return HealthCheck(name, up=False, error=error)
    set_status(engine, name, PhoneStatus.up, seen=True, clear_error=True, actor=actor)
    return HealthCheck(name, up=True, error=None)


def register_webhooks(engine: Engine, name: str, *, public_base_url: str, timeout: float,
                      actor: Actor) -> tuple[str, list[str]]:
    """Point the phone's webhooks at this service; answers the URL and the webhook ids (no transaction open
    while the phone answers)."""
    config = phone_config(engine, name, timeout=timeout)
    url = webhook_url(public_base_url, name)
    try:
        ids = GatewayChannel(config).register_webhooks(url)
    except Exception as exc:
        raise GatewayFailed(f"Điện thoại không nhận đăng ký webhook: {exc}"[:300]) from exc
    with session_scope(engine) as session:
        audit.record(session, action="gateway.webhooks", entity="gateway_phone", entity_id=name,
                     actor_id=actor.id, actor=actor.name, after={"url": url, "webhooks": ids})
    return url, ids


def request_inbox_exports(engine: Engine, settings: Any, since: datetime, until: datetime) -> int:
    """After an outage: ask every enabled phone to send the messages it received meanwhile again (their
    webhooks may have failed); the copies are recognised as duplicates on arrival. How many phones agreed."""
    with Session(engine) as session:
        phones = [(p.name, p.base_url, p.login, p.password) for p in session.exec(
            select(GatewayPhone).where(col(GatewayPhone.enabled))).all()]
    asked = 0
    for name, base_url, login, password in phones:
        config = PhoneConfig(name, base_url, login, password, timeout=settings.gateway_timeout_seconds)
        try:
            GatewayChannel(config).export_inbox(since - EXPORT_MARGIN, until + EXPORT_MARGIN)
        except Exception as exc:  # an older app or an unreachable phone: its own webhook retries remain
            log.warning("gateway phone %s: inbox export after the outage refused (%s)", name, exc.__class__.__name__)
            continue
        asked += 1
    if asked:
        log.warning("after the outage: %d gateway phone(s) asked to send the messages they received again", asked)
    return asked


def set_commune_route(session: Session, commune_code: str, route: str | None, *, actor: Actor = Actor()) -> None:
    """Route a commune's SMS (`twilio`, `gateway`, `gateway:<name>`); None removes the commune's route."""
    if session.get(Commune, commune_code) is None:
        raise ValidationFailed(f"Không có xã/phường mã {commune_code}", field="commune_code")
    existing = session.get(CommuneRoute, commune_code)
    route = (route or "").strip() or None
    if route is None:
        if existing is not None:
            session.delete(existing)
    elif not valid_route(route):
        raise ValidationFailed("Tuyến gửi phải là twilio, gateway hoặc gateway:<tên>", field="route")
    else:
        row = existing or CommuneRoute(commune_code=commune_code, route=route)
        row.route, row.updated_at = route, utcnow()
        session.add(row)
    session.flush()
    audit.record(session, action="gateway.route", entity="commune", entity_id=commune_code, actor_id=actor.id,
                 actor=actor.name, after={"route": route})


def set_campaign_route(session: Session, campaign_id: int, route: str | None, *,
                       actor: Actor = Actor()) -> Campaign:
    """Route one campaign's SMS (`twilio`, `gateway`, `gateway:<name>`; None: the communes decide)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"Không có chiến dịch {campaign_id}")
    route = (route or "").strip() or None
    if route is not None and not valid_route(route):
        raise ValidationFailed("Tuyến gửi phải là twilio, gateway hoặc gateway:<tên>", field="route")
    campaign.route = route
    session.add(campaign)
    session.flush()
    audit.record(session, action="gateway.route", entity="campaign", entity_id=campaign_id, actor_id=actor.id,
                 actor=actor.name, after={"route": campaign.route})
    return campaign


def commune_routes(session: Session) -> dict[str, str]:
    """Commune code → route, for the communes that have one."""
    return {r.commune_code: r.route for r in session.exec(select(CommuneRoute)).all()}


def day_start(now: datetime, zone: Any) -> datetime:
    """Local midnight of `now`'s day in `zone` (the daily limit's day), as an aware datetime."""
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def sent_since(session_or_conn: Any, name: str, since: datetime) -> int:
    """Messages phone `name` had accepted since `since`."""
    return int(session_or_conn.execute(
        select(func.count()).select_from(Delivery)
        .where(col(Delivery.provider) == PROVIDER_PREFIX + name, col(Delivery.sent_at) >= since)
    ).scalar_one())


def in_use_today(conn: Connection, name: str, day: datetime) -> int:
    """What counts against phone `name`'s daily limit: accepted since `day`, and claimed for it, not yet sent."""
    in_hand = int(conn.execute(
        select(func.count()).select_from(Delivery)
        .where(col(Delivery.provider) == PROVIDER_PREFIX + name, col(Delivery.sent_at).is_(None),
               col(Delivery.status) == DeliveryStatus.sending)
    ).scalar_one())
    return sent_since(conn, name, day) + in_hand


def lock_phone(conn: Connection, name: str) -> None:
    """Hold phone `name`'s row until the transaction ends (SQLite transactions already begin IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(col(GatewayPhone.id)).where(col(GatewayPhone.name) == name).with_for_update())


def figures(session: Session, phone: GatewayPhone, *, default_route: str, zone: Any,
            now: datetime | None = None) -> PhoneFigures:
    """Queue and throughput of one phone."""
    now = now or utcnow()
    queued_cond: ColumnElement[bool] = phone_may_take(phone.name, default_route)
    queued = int(session.execute(select(func.count()).select_from(Delivery).where(
        col(Delivery.channel) == "sms", col(Delivery.status) == DeliveryStatus.queued, queued_cond)).scalar_one())
    sending = int(session.execute(select(func.count()).select_from(Delivery).where(
        col(Delivery.provider) == PROVIDER_PREFIX + phone.name,
        col(Delivery.status) == DeliveryStatus.sending)).scalar_one())
    return PhoneFigures(queued=queued, sending=sending,
                        sent_hour=sent_since(session, phone.name, now - timedelta(hours=1)),
                        sent_today=sent_since(session, phone.name, day_start(now, zone)))

