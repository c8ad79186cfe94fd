"""Process wiring for gateway phones: Twilio claims only what is not routed to a phone, the pool runs
the phones' dispatchers, and GATEWAY_SIMULATOR starts a simulated phone for the demo."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.gateway.channel import GatewayChannel, PhoneConfig, webhook_url
from broadcast.channels.gateway.dispatcher import GatewayPool
from broadcast.channels.gateway.models import GatewayPhone, PhoneStatus
from broadcast.channels.gateway.routing import twilio_routed, twilio_stale
from broadcast.channels.gateway.service import register_phone, set_commune_route
from broadcast.config import Settings
from broadcast.contacts.models import Commune
from broadcast.simulators.gateway import GatewaySimulator

log = logging.getLogger(__name__)
SIMULATED_PHONE = "mo-phong"


def route_twilio(dispatcher: Dispatcher, settings: Settings) -> None:
    """Keep the Twilio SMS dispatcher off the rows routed to gateway phones."""
    dispatcher.claim_where = twilio_routed(settings.gateway_default_route)
    dispatcher.stale_where = twilio_stale()


def start_gateways(engine: Engine, settings: Settings, twilio: Dispatcher) -> Callable[[], None]:
    """Route the Twilio dispatcher, start the simulated phone if asked, run the pool; returns stop()."""
    route_twilio(twilio, settings)
    stop_simulator: Callable[[], None] = lambda: None  # noqa: E731
    if settings.gateway_simulator:
        stop_simulator = start_simulated_phone(engine, settings).close
    stop_pool = GatewayPool(engine, settings).start()

    def stop() -> None:
        stop_pool()
        stop_simulator()

    return stop


def start_simulated_phone(engine: Engine, settings: Settings,
                          communes: list[str] | None = None) -> GatewaySimulator:
    """Serve a simulated phone, (re)register it as `mo-phong` and route the demo communes through it."""
    from broadcast.demo import DEMO_COMMUNES

    password, key = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
    simulator = GatewaySimulator("sms", password, key, port=settings.gateway_simulator_port)
    url = simulator.start()
    with Session(engine) as session:
        phone = session.exec(select(GatewayPhone).where(GatewayPhone.name == SIMULATED_PHONE)).first()
        if phone is None:
            phone = register_phone(session, name=SIMULATED_PHONE, base_url=url, rate_per_minute=60,
                                   daily_limit=5000)
        phone.base_url, phone.login, phone.password, phone.signing_key = url, "sms", password, key
        phone.status, phone.enabled = PhoneStatus.up, True
        session.add(phone)
        for code in communes if communes is not None else list(DEMO_COMMUNES):
            if session.get(Commune, code) is not None:
                set_commune_route(session, code, f"gateway:{SIMULATED_PHONE}")
        session.commit()
    channel = GatewayChannel(PhoneConfig(SIMULATED_PHONE, url, "sms", password))
    channel.register_webhooks(webhook_url(settings.public_base_url, SIMULATED_PHONE))
    log.warning("simulated gateway phone %s at %s: no real SMS will be sent; a resident's reply: "
                "POST %s/_simulator/inbound {\"from\": \"+8498…\", \"text\": \"…\"}", SIMULATED_PHONE, url, url)
    return simulator
