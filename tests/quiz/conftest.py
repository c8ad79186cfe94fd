"""Quiz fixtures: a campaign with a quiz through the API, residents replying through the simulator, the dispatcher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.outbox.models import Delivery, DeliveryStatus, InboundMessage
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import make_user
from tests.support.http import loopback
from tests.support.seed import wait_until

QUESTIONS: list[dict[str, Any]] = [
    {"text": "Luật Đất đai 2024 có hiệu lực từ ngày nào?", "choices": ["1/1/2025", "1/8/2024", "1/7/2024"],
     "answer": 2},
    {"text": "Đất chưa có sổ đỏ có được chuyển nhượng không?", "answer": "no"},
    {"text": "Cấp sổ đỏ lần đầu mất tối đa bao nhiêu ngày?", "choices": ["30 ngày", "60 ngày"], "answer": 1},
]


def stored(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(InboundMessage)).one())


def pending(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Delivery).where(
            col(Delivery.status).in_([DeliveryStatus.queued, DeliveryStatus.sending]))).one())


class Officers:
    """An officer and an approver on the live app, through the JSON API."""

    def __init__(self, base: str, engine: Engine) -> None:
        self.base = base
        self.officer = {"Authorization": f"Bearer {make_user(engine, 'officer')}"}
        self.approver = {"Authorization": f"Bearer {make_user(engine, 'approver')}"}

    def campaign(self, quiz: dict[str, Any], *, text: str = "UBND xa: Luat Dat dai 2024 co hieu luc tu 1/8/2024.",
                 **fields: Any) -> int:
        """Create, submit, approve and start a campaign carrying `quiz`; its id."""
        body = {"title": "Tìm hiểu Luật Đất đai", "sms_text": text, "quiz": quiz, **fields}
        created = loopback.post(f"{self.base}/api/v1/campaigns", json=body, headers=self.officer, timeout=30)
        assert created.status_code == 201, created.text
        campaign_id = int(created.json()["id"])
        # Each step straight after the last: the API commits before it answers (deps.get_session).
        for path, who in (("submit", self.officer), ("approve", self.approver), ("start", self.officer)):
            answer = loopback.post(f"{self.base}/api/v1/campaigns/{campaign_id}/{path}", headers=who, timeout=30)
            assert answer.status_code == 200, answer.text
        assert sum(self.get(f"/campaigns/{campaign_id}/deliveries/counts")["by_status"].values()) > 0  # fanned out
        return campaign_id

    def get(self, path: str) -> Any:
        answer = loopback.get(f"{self.base}/api/v1{path}", headers=self.officer, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def officers(live_app: str, live_engine: Engine) -> Officers:
    return Officers(live_app, live_engine)


@pytest.fixture
def replies(live_app: str, sim: TwilioSimulator) -> Callable[[dict[str, list[str]]], None]:
    """Residents reply through the simulator: each resident's messages in order, residents in parallel."""
    sim.state.incoming_url = f"{live_app}/webhooks/twilio/sms"

    def send(by_phone: dict[str, list[str]]) -> None:
        # One client for every resident: each new httpx.Client loads the CA bundle (~30 ms of CPU), which made
        # half of this fixture's time when each resident had a client of their own.
        with httpx.Client(timeout=30, trust_env=False) as client, ThreadPoolExecutor(8) as pool:

            def one(phone: str, bodies: list[str]) -> None:
                for body in bodies:
                    answer = client.post(f"{sim.base_url}/_simulator/inbound", json={"from": phone, "body": body})
                    assert answer.status_code == 200, answer.text

            for future in [pool.submit(one, phone, bodies) for phone, bodies in by_phone.items() if bodies]:
                future.result()

    return send


@pytest.fixture
def deliver(live_engine: Engine, live_settings: Settings, sim: TwilioSimulator) -> Iterator[Callable[[], None]]:
    """Run the SMS dispatcher until the outbox is empty (the quiz's replies go between residents' rounds)."""

    def run() -> None:
        # A reply whose webhook outlasts JOURNAL_AFTER_SECONDS (a loaded machine) is answered 200 before it is
        # stored: wait until every message residents sent is in, or the outbox may look empty too early.
        sent = len(sim.state.received())
        wait_until(lambda: stored(live_engine) >= sent, timeout=120)
        channel = TwilioSmsChannel(live_settings, api_base_url=sim.base_url)
        stop = Dispatcher(live_engine, live_settings, channel).start()
        try:
            wait_until(lambda: pending(live_engine) == 0, timeout=120)
        finally:
            stop()

    yield run
