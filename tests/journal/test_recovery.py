"""After an outage, what the providers kept for us is fetched: the messages Twilio received for our numbers
(listed with messages.list(to=…, date_sent_after=…)) and, from each gateway phone, its inbox export. A message
whose webhook never arrived is handled; one already stored (by SID) is not handled twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.channels.gateway.channel import webhook_url
from broadcast.channels.gateway.service import register_phone
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.outbox.models import InboundMessage
from broadcast.simulators.gateway import GatewaySimulator
from broadcast.simulators.twilio import TwilioSimulator
from broadcast.simulators.twilio.process import SimulatorControl
from tests.conftest import free_port
from tests.journal.conftest import database_held
from tests.support.seed import phone, seed_contacts, wait_until

OUR_NUMBER = "+84900000000"


@pytest.fixture
def sim_port() -> int:
    return free_port()


@pytest.fixture
def live_settings(live_settings: Settings, sim_port: int) -> Settings:
    return live_settings.model_copy(update={"journal_after_seconds": 0.3, "twilio_inbound_numbers": OUR_NUMBER,
                                            "twilio_api_base_url": f"http://127.0.0.1:{sim_port}"})


@pytest.fixture
def sim(live_settings: Settings, sim_port: int, live_app: str) -> Iterator[TwilioSimulator]:
    with TwilioSimulator(live_settings.twilio_account_sid, live_settings.twilio_auth_token.get_secret_value(),
                         port=sim_port) as simulator:
        simulator.state.incoming_url, simulator.state.incoming_to = f"{live_app}/webhooks/twilio/sms", OUR_NUMBER
        yield simulator


def stored(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(InboundMessage)).one())


def test_replies_whose_webhooks_were_lost_are_listed_from_twilio(
    sim: TwilioSimulator, live_settings: Settings, live_engine: Engine
) -> None:
    seed_contacts(live_engine, 4)
    twilio = SimulatorControl(sim.base_url)
    assert twilio.inbound(phone(0), "Cho hỏi trước khi mất điện")["status"] == 200
    with database_held(live_settings):
        assert twilio.inbound(phone(1), "Cho hỏi về đất đai")["status"] == 200  # journaled
        twilio.inbound(phone(2), "TC", deliver=False)  # Twilio could not reach us: only its list has them
        twilio.inbound(phone(3), "Hỏi về hộ tịch", deliver=False)
    wait_until(lambda: stored(live_engine) == 4, timeout=20)
    with Session(live_engine) as session:
        assert session.exec(select(Contact.sms_opted_out).where(Contact.phone == phone(2))).one() is True
        sids = set(session.exec(select(InboundMessage.provider_sid)))
    assert sids == {m.sid for m in sim.received}
    twilio.close()


def test_a_gateway_phone_sends_what_it_received_during_the_outage_again(
    live_app: str, live_settings: Settings, live_engine: Engine
) -> None:
    seed_contacts(live_engine, 4)
    key = "signing-key-xa-dat-mui-1"
    handset = GatewaySimulator("sms", "pw", key, webhook_url=webhook_url(live_app, "xa-dat-mui-1"))
    url = handset.start()
    try:
        with Session(live_engine) as session:
            register_phone(session, name="xa-dat-mui-1", base_url=url, login="sms", password="pw", signing_key=key)
            session.commit()
        handset.receive(phone(0), "Hỏi trước khi mất điện")  # the app learns the phone's key with this one
        wait_until(lambda: stored(live_engine) == 1, timeout=10)
        with database_held(live_settings):
            handset.receive(phone(1), "Hỏi về đất đai")
            assert handset.wait_for_webhooks(timeout=10)
            handset.receive(phone(2), "Hỏi về thuế", deliver=False)  # its webhook was lost
        wait_until(lambda: stored(live_engine) == 3, timeout=20)
        assert handset.wait_for_webhooks(timeout=10)
        assert stored(live_engine) == 3
        assert all(a.status == 200 for a in handset.webhook_attempts)
    finally:
        handset.close()
