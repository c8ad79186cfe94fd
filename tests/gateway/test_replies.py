"""Two-way SMS through a gateway phone: replies land in the inbox, answers go back through the phone the
resident wrote to (even where Twilio sends the campaigns), and an opt-out stops further sends."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.channels.gateway.dispatcher import GatewayPool
from broadcast.outbox.models import Delivery, InboundMessage
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import make_user
from tests.gateway.conftest import Phones, route_commune, statuses
from tests.support.http import loopback
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until


def test_replies_inbox_answers_and_opt_out_through_the_phone(
        live_app: str, live_engine: Engine, phones: Phones, twilio: TwilioSimulator,
        run_dispatchers: Callable[[], GatewayPool]) -> None:
    seed_contacts(live_engine, 4, commune="32248")
    seed_contacts(live_engine, 1, start=100, commune="31825")  # Twilio sends this commune's campaigns
    route_commune(live_engine, "32248", "gateway:xa-dat-mui")
    sim = phones("xa-dat-mui", commune="32248")
    admin = {"Authorization": f"Bearer {make_user(live_engine, 'admin')}"}
    first = approved_campaign(live_engine)
    start(live_engine, first)
    run_dispatchers()
    wait_until(lambda: statuses(live_engine, first).get("delivered") == 5, timeout=30)
    assert sorted(m.to for m in sim.messages) == [phone(i) for i in range(4)]
    assert [m.to for m in twilio.messages] == [phone(100)]

    # A question texted to the phone reaches the inbox, linked to the campaign the resident received.
    sim.receive(phone(1), "Cho hỏi đất chưa có sổ đỏ có được chuyển nhượng?")
    sim.receive("0980000100", "Xin hỏi thủ tục trợ giúp pháp lý?")  # local number format, Twilio commune
    assert sim.wait_for_webhooks()
    inbox = loopback.get(f"{live_app}/api/v1/inbox", headers=admin).json()
    assert inbox["total"] == 2 and {i["campaign_id"] for i in inbox["items"]} == {first}
    with Session(live_engine) as session:
        providers = set(session.exec(select(InboundMessage.provider)).all())
    assert providers == {"gateway:xa-dat-mui"}

    # The officer's answers go back through the phone, the Twilio commune's resident included.
    for item in inbox["items"]:
        answered = loopback.post(f"{live_app}/api/v1/inbox/{item['id']}/answer",
                              json={"text": f"Trả lời câu hỏi {item['id']}: mời ra UBND xã."}, headers=admin)
        assert answered.status_code == 201
    wait_until(lambda: sum("mời ra UBND xã" in m.text for m in sim.messages) == 2, timeout=30)
    assert sorted(m.to for m in sim.messages if "mời ra UBND xã" in m.text) == [phone(1), phone(100)]
    assert not any("mời ra UBND xã" in m.body for m in twilio.messages)

    # An opt-out by SMS to the phone: one confirmation back through it, and no more campaign messages.
    sim.receive(phone(2), "TC")
    assert sim.wait_for_webhooks()
    second = approved_campaign(live_engine, text="Thông báo thứ hai.")
    start(live_engine, second)
    wait_until(lambda: statuses(live_engine, second) == {"delivered": 4}, timeout=30)  # phone(2) left out
    wait_until(lambda: any(m.to == phone(2) and "BATDAU" in m.text for m in sim.messages), timeout=30)
    assert not any(m.to == phone(2) and m.text == "Thông báo thứ hai." for m in sim.messages)
    with Session(live_engine) as session:
        reached = session.exec(select(Delivery.to_phone).where(Delivery.campaign_id == second)).all()
        assert phone(2) not in reached
        answers = session.exec(select(Delivery).where(Delivery.campaign_id.is_(None))).all()  # type: ignore[union-attr]
    assert {d.provider for d in answers} == {"gateway:xa-dat-mui"} and {d.status for d in answers} == {"delivered"}
