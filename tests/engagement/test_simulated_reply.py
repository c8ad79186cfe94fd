"""A resident replies through the Twilio simulator (its /_simulator/inbound control route) into the inbox."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.config import Settings
from broadcast.db import make_engine
from broadcast.engagement.models import Conversation
from broadcast.outbox.models import InboundMessage
from broadcast.simulators.twilio import TwilioSimulator
from tests.support.seed import phone, seed_contacts


def test_a_reply_through_the_simulator_lands_in_the_inbox(live_app: str, live_settings: Settings) -> None:
    engine: Engine = make_engine(live_settings.database_url, settings=live_settings)
    seed_contacts(engine, 2)
    with TwilioSimulator(live_settings.twilio_account_sid,
                         live_settings.twilio_auth_token.get_secret_value()) as sim:
        sim.state.incoming_url = f"{live_app}/webhooks/twilio/sms"
        answer = httpx.post(f"{sim.base_url}/_simulator/inbound",
                            json={"from": phone(1), "body": "Cho hỏi thủ tục cấp sổ đỏ?"}, timeout=10)
        assert answer.status_code == 200 and answer.json() == {"ok": True, "status": 200}
        missing = httpx.post(f"{sim.base_url}/_simulator/inbound", json={"body": "x"}, timeout=10)
        assert missing.status_code == 400
    with Session(engine) as session:
        message = session.exec(select(InboundMessage)).one()
        assert message.from_phone == phone(1) and message.classification == "question"
        assert session.exec(select(Conversation)).one().contact_id == message.contact_id
    engine.dispose()
