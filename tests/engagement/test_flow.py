"""End to end on loopback: a campaign SMS with a short link, a reply landing in the inbox, the officer's
answer reaching the resident through the dispatcher and simulator, and an opt-out stopping the next send."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.events.models import EngagementEvent
from broadcast.outbox.models import Delivery, DeliveryKind
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import BOTH, make_user
from tests.engagement.conftest import inbound_params, signature
from tests.support.http import loopback
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

PHONE_UA = {"User-Agent": "Mozilla/5.0 (Linux; Android 9; Redmi 7A) AppleWebKit/537.36 Mobile Safari/537.36"}


def dispatch(engine: Engine, settings: Settings, sim: TwilioSimulator, until: Callable[[], bool]) -> None:
    stop = Dispatcher(engine, settings, TwilioSmsChannel(settings, api_base_url=sim.base_url)).start()
    try:
        wait_until(until, timeout=60)
    finally:
        stop()


def statuses(engine: Engine, campaign_id: int) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
                            .group_by(Delivery.status)).all()
    return {s: int(n) for s, n in rows}


def reply(base: str, settings: Settings, from_: str, body: str) -> httpx.Response:
    params = inbound_params(from_, body)
    return loopback.post(f"{base}/webhooks/twilio/sms", data=params,
                      headers={"X-Twilio-Signature": signature(settings, "/webhooks/twilio/sms", params)})


def test_reply_answer_links_and_opt_out(live_app: str, live_settings: Settings, live_engine: Engine,
                                        sim: TwilioSimulator) -> None:
    seed_contacts(live_engine, 5)
    admin = {"Authorization": f"Bearer {make_user(live_engine, 'admin')}"}
    first = approved_campaign(live_engine, link_enabled=True)
    start(live_engine, first)
    dispatch(live_engine, live_settings, sim, lambda: statuses(live_engine, first).get("delivered") == 5)

    # The SMS carries a per-delivery short link; a person's clicks count once, HEAD and previews never.
    message = next(m for m in sim.messages if m.to == phone(1))
    link = message.body.rsplit("\n", 1)[1]
    assert link.startswith(f"{live_app}/l/") and len(link) - len(live_app) <= 13
    assert httpx.head(link, headers=PHONE_UA).status_code == 302
    assert loopback.get(link, headers={"User-Agent": "facebookexternalhit/1.1"}).status_code == 302
    assert loopback.get(link, headers={"User-Agent": "ZaloPC"}).status_code == 302
    for _ in range(2):
        page = loopback.get(link, headers=PHONE_UA, follow_redirects=True)
        assert page.status_code == 200 and "Luật Đất đai 2024" in page.text
    assert len(page.content) < 4000  # light enough for a cheap phone on a slow network
    assert loopback.get(f"{live_app}/l/AAAAAAAAA", headers=PHONE_UA).status_code == 404
    with Session(live_engine) as session:
        clicks = session.exec(select(EngagementEvent).where(EngagementEvent.kind == "click")).all()
    assert len(clicks) == 1 and clicks[0].campaign_id == first

    # A reply lands in the inbox; the officer's answer goes out through the dispatcher.
    question = "Cho hỏi đất chưa có sổ đỏ có được chuyển nhượng?"
    assert reply(live_app, live_settings, phone(1), question).status_code == 200
    inbox = loopback.get(f"{live_app}/api/v1/inbox", headers=admin).json()
    assert inbox["total"] == 1 and inbox["items"][0]["campaign_id"] == first
    conversation = inbox["items"][0]["id"]
    answered = loopback.post(f"{live_app}/api/v1/inbox/{conversation}/answer",
                          json={"text": "Chưa có sổ đỏ thì chưa được chuyển nhượng (Điều 45 Luật Đất đai)."},
                          headers=admin)
    assert answered.status_code == 201
    # Meanwhile a second campaign is fanned out, then resident 2 opts out before it is sent.
    second = approved_campaign(live_engine, text="Thông báo thứ hai.")
    start(live_engine, second)
    assert reply(live_app, live_settings, phone(2), "Huỷ").status_code == 200
    dispatch(live_engine, live_settings, sim,
             lambda: statuses(live_engine, second).get("delivered") == 4
             and any("Điều 45" in m.body for m in sim.messages)
             and any(m.to == phone(2) and "BATDAU" in m.body for m in sim.messages))
    answer = [m for m in sim.messages if "Điều 45" in m.body]
    assert [m.to for m in answer] == [phone(1)]
    assert statuses(live_engine, second) == {"delivered": 4, "skipped": 1}
    assert not any(m.to == phone(2) and m.body == "Thông báo thứ hai." for m in sim.messages)
    assert sum(1 for m in sim.messages if m.to == phone(2) and "BATDAU" in m.body) == 1
    with Session(live_engine) as session:
        skipped = session.exec(select(Delivery).where(Delivery.campaign_id == second,
                                                      Delivery.status == "skipped")).one()
        assert skipped.to_phone == phone(2) and skipped.error_message == "opted out"
        kinds = session.exec(select(Delivery.kind).where(Delivery.campaign_id.is_(None))).all()  # type: ignore[union-attr]
        assert sorted(kinds) == [DeliveryKind.reply, DeliveryKind.system]
    funnel = loopback.get(f"{live_app}/api/v1/metrics/campaigns/{first}", headers=admin).json()
    assert funnel["delivered"] == 5 and funnel["unique_clicks"] == 1 and funnel["replies"] == 2
    assert funnel["answered"] == 1 and funnel["opt_outs"] == 1
