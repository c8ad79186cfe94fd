"""A campaign split across two simulated gateway phones and Twilio; a phone going down mid-campaign hands
its messages to the other, and is marked up again by the health check when it answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.channels.gateway.dispatcher import GatewayPool
from broadcast.channels.gateway.models import GatewayPhone
from broadcast.outbox.models import Delivery
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import BOTH
from tests.gateway.conftest import Phones, route_commune, statuses
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

GATEWAY_COMMUNE, TWILIO_COMMUNE = "32248", "31825"


def phone_status(engine: Engine, name: str) -> str:
    with Session(engine) as session:
        return session.exec(select(GatewayPhone.status).where(GatewayPhone.name == name)).one()


def test_split_across_two_phones_and_twilio_with_one_phone_going_down(
        live_engine: Engine, phones: Phones, twilio: TwilioSimulator,
        run_dispatchers: Callable[[], GatewayPool]) -> None:
    seed_contacts(live_engine, 40, commune=GATEWAY_COMMUNE)
    seed_contacts(live_engine, 10, start=100, commune=TWILIO_COMMUNE)
    route_commune(live_engine, GATEWAY_COMMUNE, "gateway")
    a = phones("dat-mui-1", commune=GATEWAY_COMMUNE, rate_per_minute=300)  # 5 messages a second each
    b = phones("dat-mui-2", commune=GATEWAY_COMMUNE, rate_per_minute=300)
    for sim in (a, b):
        sim.fail_numbers([phone(7)], reason="RESULT_ERROR_NO_SERVICE")
    campaign = approved_campaign(live_engine)
    start(live_engine, campaign)
    run_dispatchers()

    wait_until(lambda: len(a.messages) >= 4 and len(b.messages) >= 2, timeout=30)
    a.go_down()  # mid-campaign: connections to phone A are refused from now on
    wait_until(lambda: phone_status(live_engine, "dat-mui-1") == "down", timeout=30)
    sent_by_a = len(a.messages)
    wait_until(lambda: sum(statuses(live_engine, campaign).get(s, 0) for s in ("delivered", "failed")) >= 49,
               timeout=60)
    assert len(a.messages) == sent_by_a < 40  # nothing more reached A once it was down
    a.come_up()  # the health check marks it up again
    wait_until(lambda: phone_status(live_engine, "dat-mui-1") == "up", timeout=30)
    wait_until(lambda: sum(statuses(live_engine, campaign).values()) == 50
               and statuses(live_engine, campaign).get("delivered", 0) + statuses(live_engine, campaign).get(
                   "failed", 0) == 50, timeout=30)

    # Every resident got the campaign exactly once, through the route of their commune.
    gateway_sends = Counter(m.to for m in a.messages + b.messages)
    assert sorted(gateway_sends) == sorted(phone(i) for i in range(40)) and set(gateway_sends.values()) == {1}
    assert sorted(m.to for m in twilio.messages) == sorted(phone(i) for i in range(100, 110))
    assert len(b.messages) >= 40 - sent_by_a
    with Session(live_engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.campaign_id == campaign)).all()
    by_phone = {r.to_phone: r for r in rows}
    assert {by_phone[m.to].provider for m in a.messages} == {"gateway:dat-mui-1"}
    assert {by_phone[m.to].provider for m in b.messages} == {"gateway:dat-mui-2"}
    assert {by_phone[phone(i)].provider for i in range(100, 110)} == {"twilio"}
    assert {by_phone[m.to].provider_sid for m in a.messages + b.messages} == {m.id for m in a.messages + b.messages}
    # States came back by signed webhooks: delivered, or failed with the phone's reason.
    failed = by_phone[phone(7)]
    assert failed.status == "failed" and "RESULT_ERROR_NO_SERVICE" in (failed.error_message or "")
    assert statuses(live_engine, campaign) == {"delivered": 49, "failed": 1}
