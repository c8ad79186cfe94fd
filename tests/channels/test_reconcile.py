"""Reconciliation of final states: messages whose final callback never came are looked up at the provider
(Twilio through the simulator's Messages API, a gateway phone through its own API) until they are final, or
recorded `unknown` after the give-up age; a late real answer still wins over `unknown`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.channels.core.contract import Channel, OutboundMessage
from broadcast.channels.core.reconcile import StatusReconciler
from broadcast.channels.gateway.channel import GatewayChannel, GatewayMessage, PhoneConfig, message_id
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.outbox.models import Delivery, DeliveryStatus
from broadcast.outbox.status import apply_status
from broadcast.simulators.gateway import GatewaySimulator
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import BOTH
from tests.support.seed import phone, wait_until

pytestmark = BOTH


def send_all(engine: Engine, channel: Channel, numbers: list[str]) -> list[int]:
    """Send one message to each number through the channel and record it `sent`, as the dispatcher does."""
    ids = []
    for number in numbers:
        with Session(engine) as session:
            row = Delivery(to_phone=number, body="Thông báo", status=DeliveryStatus.sending, provider=channel.name)
            session.add(row)
            session.commit()
            assert row.id is not None
            ids.append(row.id)
        result = channel.send(OutboundMessage(row.id, number, "Thông báo"))
        with Session(engine) as session:
            sent = session.get(Delivery, ids[-1])
            assert sent is not None
            sent.status, sent.provider_sid, sent.sent_at = DeliveryStatus.sent, result.provider_sid, utcnow()
            session.add(sent)
            session.commit()
    return ids


def statuses(engine: Engine, ids: list[int]) -> list[str]:
    with Session(engine) as session:
        found = {d.id: d.status for d in session.exec(select(Delivery))}
    return [found[i] for i in ids]


def later(seconds: float) -> Callable[[], datetime]:
    return lambda: utcnow() + timedelta(seconds=seconds)


def test_twilio_messages_without_callbacks_reach_the_final_state_twilio_has(
    engine: Engine, settings: Settings, twilio_simulator: TwilioSimulator
) -> None:
    twilio_simulator.drop_callbacks(1.0)  # no status callback at all
    numbers = [phone(i) for i in range(6)]
    twilio_simulator.set_outcome([numbers[3]], "undelivered", 30003)
    twilio_simulator.set_outcome([numbers[4]], "failed", 30005)
    twilio_simulator.set_outcome([numbers[5]], "sent")  # a phone off for days: never final
    channel = TwilioSmsChannel(settings, api_base_url=twilio_simulator.base_url)
    ids = send_all(engine, channel, numbers)
    assert twilio_simulator.wait_for_callbacks()
    assert statuses(engine, ids) == ["sent"] * 6

    quick = settings.model_copy(update={"sms_status_timeout_seconds": 60, "sms_status_give_up_seconds": 3600})
    assert StatusReconciler(engine, quick, channel).run_once().asked == 0  # not silent for long enough yet
    found = StatusReconciler(engine, quick, channel, clock=later(120)).run_once()
    assert (found.asked, found.final, found.pending, found.gave_up) == (6, 5, 1, 0)
    assert statuses(engine, ids) == ["delivered"] * 3 + ["undelivered", "failed", "sent"]
    with Session(engine) as session:
        failed = session.get(Delivery, ids[4])
        assert failed is not None and failed.error_code == 30005 and failed.finished_at is not None

    asked = StatusReconciler(engine, quick, channel, clock=later(150)).run_once()
    assert asked.asked == 0  # asked about again only after another timeout
    gave_up = StatusReconciler(engine, quick, channel, clock=later(2 * 3600)).run_once()
    assert (gave_up.asked, gave_up.gave_up) == (1, 1)
    assert statuses(engine, ids)[5] == "unknown"
    with Session(engine) as session:  # the handset comes back after all: the real answer wins
        sid = session.get(Delivery, ids[5]).provider_sid  # type: ignore[union-attr]
        assert apply_status(session, provider_sid=str(sid), provider_status="delivered", error_code=None,
                            at=utcnow()) == "updated"
        session.commit()
    assert statuses(engine, ids)[5] == "delivered"


def test_a_twilio_that_cannot_be_asked_leaves_them_for_the_next_round(
    engine: Engine, settings: Settings, twilio_simulator: TwilioSimulator
) -> None:
    twilio_simulator.drop_callbacks(1.0)
    channel = TwilioSmsChannel(settings, api_base_url=twilio_simulator.base_url)
    ids = send_all(engine, channel, [phone(1), phone(2)])
    quick = settings.model_copy(update={"sms_status_timeout_seconds": 60})
    twilio_simulator.inject_error(503, count=2)
    refused = StatusReconciler(engine, quick, channel, clock=later(120)).run_once()
    assert (refused.asked, refused.failed) == (2, 2)
    assert statuses(engine, ids) == ["sent", "sent"]
    found = StatusReconciler(engine, quick, channel, clock=later(240)).run_once()
    assert found.final == 2 and statuses(engine, ids) == ["delivered", "delivered"]


def test_a_gateway_phone_is_asked_for_its_own_state(engine: Engine, settings: Settings) -> None:
    phone_sim = GatewaySimulator("sms", "pw", "key-" + uuid.uuid4().hex)  # no webhook: every state report lost
    url = phone_sim.start()
    try:
        channel = GatewayChannel(PhoneConfig("xa-dat-mui-1", url, "sms", "pw"))
        phone_sim.fail_numbers([phone(2)])
        ids: list[int] = []
        for number in (phone(1), phone(2)):
            with Session(engine) as session:
                row = Delivery(to_phone=number, body="Thông báo", status=DeliveryStatus.sent, provider=channel.name,
                               sent_at=utcnow())
                session.add(row)
                session.commit()
                assert row.id is not None
                ids.append(row.id)
                row.provider_sid = message_id(row.id, 1)
                session.add(row)
                session.commit()
            channel.send(GatewayMessage(ids[-1], number, "Thông báo", attempt=1))
        wait_until(lambda: len(phone_sim.messages) == 2, timeout=5)
        quick = settings.model_copy(update={"sms_status_timeout_seconds": 60})
        found = StatusReconciler(engine, quick, channel, clock=later(120)).run_once()
        assert found.final == 2
        assert statuses(engine, ids) == ["delivered", "failed"]
    finally:
        phone_sim.close()
