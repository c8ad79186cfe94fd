"""Quiet hours hold campaign traffic, not answers: a resident who texts TROGIUP at 03:40 gets the help text at
once; an officer's answer to a message days old waits for the morning, and says so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.config import Settings
from broadcast.engagement.inbound import handle_inbound
from broadcast.engagement.inbox import answer
from broadcast.engagement.models import Conversation
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from broadcast.simulators.twilio import TwilioSimulator
from tests.channels.test_waiting import NIGHT, dispatch_once
from tests.conftest import BOTH
from tests.engagement.conftest import inbound_params
from tests.support.seed import approved_campaign, phone, seed_contacts, start

pytestmark = BOTH


def test_help_at_night_is_answered_at_once_while_the_campaign_waits(
    engine: Engine, settings: Settings, twilio_simulator: TwilioSimulator,
) -> None:
    seed_contacts(engine, 3)
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    with Session(engine) as session:
        handle_inbound(session, inbound_params(phone(1), "trogiup"), now=NIGHT)
        session.commit()
    dispatch_once(engine, settings, NIGHT + timedelta(seconds=5), twilio_simulator.base_url)
    sent = [(m.to, m.body) for m in twilio_simulator.messages]
    assert len(sent) == 1 and sent[0][0] == phone(1)  # the help text, at 03:39 local
    with Session(engine) as session:
        held = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
    assert {(d.status, d.waiting_reason) for d in held} == {(DeliveryStatus.queued, "quiet_hours")}


def test_an_answer_to_an_old_question_keeps_quiet_hours(
    engine: Engine, settings: Settings, twilio_simulator: TwilioSimulator, client: Any,
) -> None:
    seed_contacts(engine, 1)
    with Session(engine) as session:
        handle_inbound(session, inbound_params(phone(0), "Cho hỏi thủ tục cấp sổ đỏ?"),
                       now=NIGHT - timedelta(days=3))
        conversation_id = session.exec(select(Conversation.id)).one()
        assert conversation_id is not None
        answer(session, conversation_id, "Mang CCCD đến bộ phận một cửa xã.")
        session.commit()
    dispatch_once(engine, settings, NIGHT, twilio_simulator.base_url)
    assert twilio_simulator.messages == []
    with Session(engine) as session:
        reply = session.exec(select(Delivery).where(Delivery.kind == DeliveryKind.reply)).one()
    assert reply.status == DeliveryStatus.queued and reply.waiting_reason == "quiet_hours"
    record = client.get(f"/api/v1/deliveries/{reply.id}").json()
    assert record["waiting_reason"] == "quiet_hours" and record["waiting_until"] == "2030-01-15T07:00:00+07:00"


def test_an_answer_within_the_reply_window_goes_at_night(
    engine: Engine, settings: Settings, twilio_simulator: TwilioSimulator,
) -> None:
    seed_contacts(engine, 1)
    with Session(engine) as session:
        handle_inbound(session, inbound_params(phone(0), "Cho hỏi thủ tục cấp sổ đỏ?"),
                       now=NIGHT - timedelta(minutes=90))
        conversation_id = session.exec(select(Conversation.id)).one()
        assert conversation_id is not None
        answer(session, conversation_id, "Mang CCCD đến bộ phận một cửa xã.")
        session.commit()
    dispatch_once(engine, settings, NIGHT, twilio_simulator.base_url)  # 90 minutes < REPLY_WINDOW_MINUTES
    assert [m.to for m in twilio_simulator.messages] == [phone(0)]
