"""A resident replies through the Twilio simulator (its /_simulator/inbound control route) into the inbox."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.config import Settings
from broadcast.db import make_engine
from broadcast.engagement.models import Conversation
from broadcast.outbox.models import InboundMessage
from broadcast.simulators.twilio import TwilioSimulator
from tests.engagement.conftest import inbound_params, signature
from tests.support.http import loopback
from tests.support.seed import phone, seed_contacts


def test_a_reply_through_the_simulator_lands_in_the_inbox(live_app: str, live_settings: Settings) -> None:
    engine: Engine = make_engine(live_settings.database_url, settings=live_settings)
    seed_contacts(engine, 2)
    with TwilioSimulator(live_settings.twilio_account_sid,
                         live_settings.twilio_auth_token.get_secret_value()) as sim:
        sim.state.incoming_url = f"{live_app}/webhooks/twilio/sms"
        answer = loopback.post(f"{sim.base_url}/_simulator/inbound",
                            json={"from": phone(1), "body": "Cho hỏi thủ tục cấp sổ đỏ?"}, timeout=10)
        assert answer.status_code == 200 and answer.json() == {"ok": True, "status": 200,
                                                               "sid": answer.json()["sid"]}
        assert answer.json()["sid"].startswith("SM")  # listed by Twilio's Messages API too
        missing = loopback.post(f"{sim.base_url}/_simulator/inbound", json={"body": "x"}, timeout=10)
        assert missing.status_code == 400
    with Session(engine) as session:
        message = session.exec(select(InboundMessage)).one()
        assert message.from_phone == phone(1) and message.classification == "question"
        assert session.exec(select(Conversation)).one().contact_id == message.contact_id
    engine.dispose()


def test_the_simulator_refuses_a_reply_without_a_valid_sender_and_the_webhook_ignores_one(
    live_app: str, live_settings: Settings, caplog: pytest.LogCaptureFixture,
) -> None:
    engine: Engine = make_engine(live_settings.database_url, settings=live_settings)
    with TwilioSimulator(live_settings.twilio_account_sid,
                         live_settings.twilio_auth_token.get_secret_value()) as sim:
        sim.state.incoming_url = f"{live_app}/webhooks/twilio/sms"
        for sender in ("", "   ", "abc", "+84", "12345678901234567890"):
            refused = loopback.post(f"{sim.base_url}/_simulator/inbound", json={"from": sender, "body": "TC"},
                                 timeout=10)
            assert refused.status_code == 400, sender
            assert "from" in refused.json()["error"] and "E.164" in refused.json()["error"]
    # Twilio itself never posts without From, but a signed request that does is acknowledged and dropped.
    params = inbound_params("", "TROGIUP")
    del params["From"]
    path = "/webhooks/twilio/sms"
    with caplog.at_level(logging.WARNING, logger="broadcast.channels.twilio.incoming"):
        answer = loopback.post(live_app + path, data=params,
                            headers={"X-Twilio-Signature": signature(live_settings, path, params)}, timeout=10)
    assert answer.status_code == 200 and "<Response/>" in answer.text
    assert any("without a sender" in r.getMessage() and params["MessageSid"] in r.getMessage()
               for r in caplog.records)
    with Session(engine) as session:
        assert session.exec(select(InboundMessage)).all() == []
    engine.dispose()
