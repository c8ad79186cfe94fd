"""Which SMS go through gateway phones, and which phone may take which row (SQL over the outbox).

A queued SMS row's route is, first match wins: the route of the message it answers (a reply goes
back through the phone the resident wrote to), its campaign's `route`, its resident's commune route,
then GATEWAY_DEFAULT_ROUTE. Routes are `twilio`, `gateway` (any phone) or `gateway:<name>` (that
phone while it is up, any other otherwise). A row once claimed by a phone (`provider` =
`gateway:<name>`) stays with the phones, so a phone going down hands its rows to the others.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, not_, or_, select
from sqlmodel import col

from broadcast.campaigns.models import Campaign
from broadcast.channels.gateway.channel import PROVIDER_PREFIX
from broadcast.channels.gateway.models import CommuneRoute, GatewayPhone, PhoneStatus
from broadcast.contacts.models import Contact
from broadcast.outbox.models import Delivery, InboundMessage

TWILIO = "twilio"
GATEWAY = "gateway"


def valid_route(route: str) -> bool:
    """True for `twilio`, `gateway` and `gateway:<name>`."""
    if route in (TWILIO, GATEWAY):
        return True
    return route.startswith(PROVIDER_PREFIX) and 0 < len(route) - len(PROVIDER_PREFIX) <= 40


def route_of(default_route: str) -> ColumnElement[Any]:
    """The route of the Delivery row in the enclosing query (correlated subqueries, one index probe each)."""
    reply = (select(col(InboundMessage.provider))
             .where(col(InboundMessage.id) == col(Delivery.in_reply_to_id),
                    col(InboundMessage.provider).like(PROVIDER_PREFIX + "%"))
             .correlate(Delivery).scalar_subquery())
    campaign = (select(func.nullif(col(Campaign.route), ""))
                .where(col(Campaign.id) == col(Delivery.campaign_id)).correlate(Delivery).scalar_subquery())
    commune = (select(col(CommuneRoute.route))
               .join(Contact, col(Contact.commune_code) == col(CommuneRoute.commune_code))
               .where(col(Contact.id) == col(Delivery.contact_id)).correlate(Delivery).scalar_subquery())
    return func.coalesce(reply, campaign, commune, literal(default_route))


def gateway_routed(default_route: str) -> ColumnElement[bool]:
    """Rows for the gateway phones; the Twilio dispatcher claims the rest (`not_(…)`)."""
    # coalesce: NULL LIKE … is NULL, and NOT NULL would hide the row from Twilio too.
    return or_(func.coalesce(col(Delivery.provider), "").like(PROVIDER_PREFIX + "%"),
               route_of(default_route).like(GATEWAY + "%"))


def twilio_routed(default_route: str) -> ColumnElement[bool]:
    """What the Twilio SMS dispatcher may claim."""
    return not_(gateway_routed(default_route))


def twilio_stale() -> ColumnElement[bool]:
    """Stale rows the Twilio dispatcher reconciles: never one a phone claimed."""
    return or_(col(Delivery.provider).is_(None), not_(col(Delivery.provider).like(PROVIDER_PREFIX + "%")))


def phone_may_take(name: str, default_route: str) -> ColumnElement[bool]:
    """Rows phone `name` may claim: the shared pool, its own, and those of phones that are down."""
    route = route_of(default_route)
    wanted = case((route.like(PROVIDER_PREFIX + "%"), route), else_=literal(GATEWAY))
    other_up = exists(
        select(literal(1)).select_from(GatewayPhone)
        .where(literal(PROVIDER_PREFIX) + col(GatewayPhone.name) == wanted,
               col(GatewayPhone.status) == PhoneStatus.up, col(GatewayPhone.enabled))
        .correlate(Delivery)
    )
    return and_(gateway_routed(default_route),
                or_(wanted == GATEWAY, wanted == PROVIDER_PREFIX + name, not_(other_up)))


def phone_stale(name: str) -> ColumnElement[bool]:
    """Stale rows a phone's dispatcher reconciles: those it claimed."""
    return col(Delivery.provider) == PROVIDER_PREFIX + name
