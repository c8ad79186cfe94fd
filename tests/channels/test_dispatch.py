"""The outbox end to end: real SDK → simulator over HTTP → signed callbacks → webhook → Delivery rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.outbox.models import Delivery, DeliveryAttempt, DeliveryStatus
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import BOTH
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

D = DeliveryStatus


def statuses(engine: Engine, campaign_id: int) -> Counter[str]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery.status).where(Delivery.campaign_id == campaign_id)).all()
    return Counter(rows)


def run_dispatcher(engine: Engine, settings: Settings, sim: TwilioSimulator, until: Callable[[], bool],
                   timeout: float = 60) -> Dispatcher:
    dispatcher = Dispatcher(engine, settings, TwilioSmsChannel(settings, api_base_url=sim.base_url))
    stop = dispatcher.start()
    try:
        wait_until(until, timeout=timeout)
    finally:
        stop()
    return dispatcher


def test_campaign_reaches_each_resident_once_and_callbacks_land(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator
) -> None:
    seed_contacts(live_engine, 40, opted_out=lambda i: i % 10 == 0)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    run_dispatcher(live_engine, live_settings, sim, lambda: statuses(live_engine, campaign_id)[D.delivered] == 36)
    sent_to = Counter(m.to for m in sim.messages)
    assert len(sent_to) == 36 and set(sent_to.values()) == {1}
    assert phone(0) not in sent_to and phone(10) not in sent_to  # opted out: never fanned out
    with Session(live_engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
        assert all(r.provider_sid and r.provider_sid.startswith("SM") for r in rows)
        assert all(r.delivered_at is not None and r.attempts == 1 for r in rows)
        assert {r.provider_sid for r in rows} == {m.sid for m in sim.messages}
    assert all(m.body == "Thông báo: Luật Đất đai 2024 có hiệu lực." for m in sim.messages)


def test_outage_then_recovery_delivers_everything_once(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator
) -> None:
    seed_contacts(live_engine, 30)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    sim.inject_error(503, count=25)
    run_dispatcher(live_engine, live_settings, sim, lambda: statuses(live_engine, campaign_id)[D.delivered] == 30)
    assert Counter(Counter(m.to for m in sim.messages).values()) == {1: 30}
    with Session(live_engine) as session:
        retried = session.exec(select(func.count()).where(col(Delivery.attempts) > 1)).one()
        transient = session.exec(
            select(func.count()).where(col(DeliveryAttempt.outcome) == "transient")
        ).one()
    assert retried > 0 and transient == 25


@pytest.mark.parametrize("mode", ["duplicated", "out_of_order"])
def test_duplicate_and_out_of_order_callbacks_end_in_the_right_state(
    mode: str, live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator
) -> None:
    seed_contacts(live_engine, 20)
    sim.set_outcome([phone(3), phone(4)], status="undelivered", error_code=30003)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    sim.set_callback_mode(mode)
    run_dispatcher(live_engine, live_settings, sim,
                   lambda: sum(statuses(live_engine, campaign_id)[s] for s in (D.delivered, D.undelivered)) == 20)
    assert sim.wait_for_callbacks(timeout=10)  # every late or repeated report has been applied too
    final = statuses(live_engine, campaign_id)
    assert final == Counter({D.delivered: 18, D.undelivered: 2})
    with Session(live_engine) as session:
        codes = session.exec(select(Delivery.error_code).where(Delivery.status == D.undelivered)).all()
    assert codes == [30003, 30003]


def test_permanent_errors_fail_at_once_and_21610_opts_the_resident_out(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator
) -> None:
    seed_contacts(live_engine, 10)
    sim.fail_numbers([phone(1)], code=21610)
    sim.fail_numbers([phone(2)], code=21211)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    run_dispatcher(live_engine, live_settings, sim,
                   lambda: statuses(live_engine, campaign_id)[D.delivered] == 8
                   and statuses(live_engine, campaign_id)[D.failed] == 2)
    with Session(live_engine) as session:
        failed = session.exec(select(Delivery).where(Delivery.status == D.failed)).all()
        assert sorted((d.to_phone, d.error_code, d.attempts) for d in failed) == [
            (phone(1), 21610, 1), (phone(2), 21211, 1)]
        unsubscribed = session.exec(select(Contact).where(Contact.phone == phone(1))).one()
        assert unsubscribed.sms_opted_out and unsubscribed.opt_out_source == "provider"


def test_an_answer_overtakes_a_campaign_being_sent(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator
) -> None:
    """Replies are claimed before campaign messages, and only ~2 s of sending is claimed ahead of them."""
    from broadcast.outbox.models import DeliveryKind
    from broadcast.outbox.queue import queue_message

    rate = 40
    settings = live_settings.model_copy(update={"sms_rate_per_second": rate, "dispatcher_lease_seconds": 120,
                                                "twilio_timeout_seconds": 10})
    seed_contacts(live_engine, 300)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    dispatcher = Dispatcher(live_engine, settings, TwilioSmsChannel(settings, api_base_url=sim.base_url))
    stop = dispatcher.start()
    try:
        wait_until(lambda: len(sim.messages) >= 20)
        with Session(live_engine) as session:
            queue_message(session, to=phone(299), body="Trả lời: mang CCCD đến UBND xã.", kind=DeliveryKind.reply)
            session.commit()
        sent_before = len(sim.messages)
        wait_until(lambda: any(m.body.startswith("Trả lời") for m in sim.messages))
        position = next(i for i, m in enumerate(sim.messages) if m.body.startswith("Trả lời"))
        campaign_left = 300 - position
    finally:
        stop()
    assert dispatcher.claim_cap == 2 * rate
    assert position - sent_before <= dispatcher.claim_cap + 2  # what was already claimed, then the answer
    assert campaign_left > 100  # long before the campaign's end
