"""GATEWAY_SIMULATOR: the demo's simulated phone registers itself, takes the demo communes, and a resident's
reply to it (through its control route) reaches the inbox; Twilio gets nothing for those communes."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.channels.gateway.dispatcher import GatewayPool
from broadcast.channels.gateway.models import CommuneRoute
from broadcast.channels.gateway.service import get_phone
from broadcast.config import Settings
from broadcast.runtime import SIMULATED_PHONE, start_simulated_phone
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import make_user
from tests.gateway.conftest import statuses
from tests.support.http import loopback
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until


def test_simulated_phone_for_the_demo(live_app: str, live_engine: Engine, gw_settings: Settings,
                                      twilio: TwilioSimulator, run_dispatchers: Callable[[], GatewayPool]) -> None:
    seed_contacts(live_engine, 3, commune="32248")
    sim = start_simulated_phone(live_engine, gw_settings.model_copy(update={"gateway_simulator_port": 0}))
    try:
        with Session(live_engine) as session:
            assert get_phone(session, SIMULATED_PHONE).base_url == sim.base_url
            assert {code: session.get(CommuneRoute, code).route  # type: ignore[union-attr]
                    for code in ("32248", "31825", "32002")} == {c: f"gateway:{SIMULATED_PHONE}"
                                                                 for c in ("32248", "31825", "32002")}
        campaign = approved_campaign(live_engine)
        start(live_engine, campaign)
        run_dispatchers()
        wait_until(lambda: statuses(live_engine, campaign) == {"delivered": 3}, timeout=30)
        assert sorted(m.to for m in sim.messages) == [phone(i) for i in range(3)] and not twilio.messages
        reply = loopback.post(f"{sim.base_url}/_simulator/inbound",
                           json={"from": phone(0), "text": "Cảm ơn, cho hỏi thêm"})
        assert reply.status_code == 202 and sim.wait_for_webhooks()
        admin = {"Authorization": f"Bearer {make_user(live_engine, 'admin')}"}
        inbox = loopback.get(f"{live_app}/api/v1/inbox", headers=admin).json()
        assert inbox["total"] == 1 and inbox["items"][0]["campaign_id"] == campaign
    finally:
        sim.close()
