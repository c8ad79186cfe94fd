"""Fixtures for gateway tests: the app on loopback, simulated phones registered in it, and the dispatchers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.gateway.channel import webhook_url
from broadcast.channels.gateway.dispatcher import GatewayPool
from broadcast.channels.gateway.runtime import twilio_rows
from broadcast.channels.gateway.service import register_phone, set_commune_route
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.db import make_engine
from broadcast.outbox.models import Delivery
from broadcast.simulators.gateway import GatewaySimulator
from broadcast.simulators.twilio import TwilioSimulator
from tests.support.seed import seed_communes

Phones = Callable[..., GatewaySimulator]


@pytest.fixture
def gw_settings(live_settings: Settings) -> Settings:
    """Live settings with fast gateway housekeeping (the app itself runs with `live_settings`)."""
    return live_settings.model_copy(update={"gateway_sync_seconds": 0.1, "gateway_health_seconds": 0.3,
                                            "gateway_down_after_failures": 2, "gateway_timeout_seconds": 2.0})


@pytest.fixture
def live_engine(live_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(live_settings.database_url, settings=live_settings)
    seed_communes(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def twilio(live_settings: Settings) -> Iterator[TwilioSimulator]:
    with TwilioSimulator(live_settings.twilio_account_sid,
                         live_settings.twilio_auth_token.get_secret_value()) as simulator:
        yield simulator


@pytest.fixture
def phones(live_app: str, live_settings: Settings, live_engine: Engine) -> Iterator[Phones]:
    """`phones(name, commune=None, rate_per_minute=…)`: a simulated phone, registered and serving."""
    started: list[GatewaySimulator] = []

    def make(name: str, *, commune: str | None = None, rate_per_minute: float = 600.0,
             daily_limit: int = 1000) -> GatewaySimulator:
        key = f"signing-key-{name}"
        sim = GatewaySimulator("sms", f"pw-{name}", key, webhook_url=webhook_url(live_app, name))
        started.append(sim)
        url = sim.start()
        with Session(live_engine) as session:
            register_phone(session, name=name, base_url=url, login="sms", password=f"pw-{name}", signing_key=key,
                           commune_code=commune, rate_per_minute=rate_per_minute, daily_limit=daily_limit)
            session.commit()
        return sim

    yield make
    for sim in started:
        sim.close()


def route_commune(engine: Engine, commune: str, route: str) -> None:
    with Session(engine) as session:
        set_commune_route(session, commune, route)
        session.commit()


@pytest.fixture
def run_dispatchers(live_engine: Engine, gw_settings: Settings,
                    twilio: TwilioSimulator) -> Iterator[Callable[[], GatewayPool]]:
    """Start the Twilio SMS dispatcher (routed) and the gateway pool; stopped at the end of the test."""
    stops: list[Callable[[], None]] = []

    def start() -> GatewayPool:
        dispatcher = Dispatcher(live_engine, gw_settings, TwilioSmsChannel(gw_settings, api_base_url=twilio.base_url),
                                **twilio_rows(gw_settings))
        pool = GatewayPool(live_engine, gw_settings)
        stops.extend([dispatcher.start(), pool.start()])
        return pool

    yield start
    for stop in reversed(stops):
        stop()


def statuses(engine: Engine, campaign_id: int) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
                            .group_by(Delivery.status)).all()
    return {s: int(n) for s, n in rows}
