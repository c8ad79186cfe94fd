"""Why messages wait and until when: recorded by the real dispatcher (with its clock set to the hour a test
needs), read by the campaign counts API, the delivery records and the campaign page."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns import service as campaigns
from broadcast.campaigns.models import Campaign
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.core.pace import Closed, finish_time
from broadcast.channels.gateway.models import GatewayPhone, PhoneStatus
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.db import utcnow
from broadcast.flows.waiting import campaign_waiting
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import BOTH
from tests.support.seed import approved_campaign, phone, seed_contacts, start
from tests.web.conftest import login

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

# A night in 2030 (so the times the dispatcher records are still ahead when the API is asked): 03:39 local.
NIGHT = datetime(2030, 1, 15, 3, 39, tzinfo=UTC) - timedelta(hours=7)
DAY = datetime(2030, 1, 15, 10, 0, tzinfo=UTC) - timedelta(hours=7)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """At 10 messages a second, the default: the estimated finishing times below are worked out at that rate."""
    return settings.model_copy(update={"sms_rate_per_second": 10.0})


def dispatch_once(engine: Engine, settings: Settings, at: datetime, sim_url: str = "http://127.0.0.1:9") -> None:
    """Claim, screen, send and record everything due, with the dispatcher's clock at `at`."""
    dispatcher = Dispatcher(engine, settings, TwilioSmsChannel(settings, api_base_url=sim_url), clock=lambda: at)
    while True:
        ready, outcomes = dispatcher.claim_batch(50)
        outcomes += [dispatcher.send_one(item, time.monotonic()) for item in ready]
        dispatcher.record(outcomes)
        if not ready and not outcomes:
            return


def counts(client: Any, campaign_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/campaigns/{campaign_id}/deliveries/counts")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_campaign_held_at_night_says_quiet_hours_until_seven(client: Any, engine: Engine,
                                                               settings: Settings) -> None:
    seed_contacts(engine, 12)
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    dispatch_once(engine, settings, NIGHT)
    body = counts(client, campaign_id)
    assert body["by_status"]["queued"] == 12
    assert body["waiting"] == [{"reason": "quiet_hours", "count": 12, "until": "2030-01-15T07:00:00+07:00"}]
    # 12 messages at 10 a second from 07:00
    assert body["estimated_finish"] == "2030-01-15T07:00:01+07:00"
    with Session(engine) as session:
        one = session.exec(select(Delivery.id).where(Delivery.campaign_id == campaign_id)).first()
    record = client.get(f"/api/v1/deliveries/{one}").json()
    assert record["waiting_reason"] == "quiet_hours" and record["waiting_until"] == "2030-01-15T07:00:00+07:00"
    assert login(client, "admin", "mat-khau-demo").status_code == 303
    line = "12 tin chờ hết giờ không gửi ban đêm (Nghị định 91/2020), gửi từ 07:00 15/01/2030"
    for path in (f"/campaigns/{campaign_id}", "/"):  # the campaign page, and its one line on the dashboard
        page = client.get(path)
        assert page.status_code == 200 and line in page.text and "Dự kiến gửi xong: 07:00 15/01/2030" in page.text
    live = client.get(f"/ui/progress?ids={campaign_id}").json()[str(campaign_id)]
    assert live["why"].startswith(line)


def test_the_daily_cap_says_until_when_each_resident_may_get_more(client: Any, engine: Engine,
                                                                  settings: Settings) -> None:
    seed_contacts(engine, 2)
    with Session(engine) as session:  # three campaign messages each since 05:00: the cap is reached
        for contact_id in session.exec(select(Contact.id)).all():
            for hours in (5, 4, 3):
                session.add(Delivery(to_phone=phone(0), contact_id=contact_id, kind=DeliveryKind.campaign,
                                     status=DeliveryStatus.delivered, sent_at=DAY - timedelta(hours=hours)))
        session.commit()
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    dispatch_once(engine, settings, DAY)
    body = counts(client, campaign_id)
    # the oldest of the three leaves the 24-hour window at 05:00 tomorrow
    assert body["waiting"] == [{"reason": "daily_cap", "count": 2, "until": "2030-01-16T05:00:01+07:00"}]


def test_paused_then_retrying_after_a_provider_error(client_with: Callable[..., Any], engine: Engine,
                                                     settings: Settings, twilio_simulator: TwilioSimulator) -> None:
    client = client_with(quiet_hours_start="00:00", quiet_hours_end="00:00")  # whatever the hour of the test
    seed_contacts(engine, 3)
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    with Session(engine) as session:
        campaigns.pause(session, campaign_id)
        session.commit()
    body = counts(client, campaign_id)
    assert body["waiting"] == [{"reason": "paused", "count": 3, "until": None}]
    assert body["estimated_finish"] is None

    with Session(engine) as session:
        campaigns.resume(session, campaign_id)
        session.commit()
    body = counts(client, campaign_id)  # due now, not yet claimed: waiting their turn in the rate budget
    assert [(w["reason"], w["count"]) for w in body["waiting"]] == [("budget", 3)]
    assert body["waiting"][0]["until"] is not None and body["estimated_finish"] is not None

    twilio_simulator.inject_error(503, count=3)
    dispatch_once(engine, settings.model_copy(update={"retry_base_seconds": 600, "retry_max_seconds": 600}),
                  DAY, twilio_simulator.base_url)
    body = counts(client, campaign_id)
    assert body["waiting"] == [{"reason": "retry_backoff", "count": 3, "until": "2030-01-15T10:10:00+07:00"}]
    with Session(engine) as session:  # which error, for the campaign page
        campaign = campaigns.get_campaign(session, campaign_id)
        report = campaign_waiting(session, settings, campaign, now=utcnow())
    assert report.retry_error is not None and "HTTP 503" in report.retry_error


def test_spread_rows_are_scheduled_and_rows_for_a_dead_phone_say_so(client: Any, engine: Engine,
                                                                     settings: Settings) -> None:
    seed_contacts(engine, 4)
    campaign_id = approved_campaign(engine)
    run_id = start(engine, campaign_id)
    with engine.begin() as conn:
        conn.execute(update(Campaign).where(col(Campaign.id) == campaign_id).values(route="gateway"))
        conn.execute(update(Delivery).where(col(Delivery.run_id) == run_id, col(Delivery.contact_id) <= 2)
                     .values(next_attempt_at=DAY))  # a sending window: these go later
    with Session(engine) as session:
        session.add(GatewayPhone(name="xa-dat-mui-1", base_url="http://127.0.0.1:9", status=PhoneStatus.down))
        session.commit()
    body = counts(client, campaign_id)
    assert sorted((w["reason"], w["count"], w["until"]) for w in body["waiting"]) == [
        ("gateway_down", 2, None), ("scheduled", 2, "2030-01-15T10:00:00+07:00")]
    assert body["estimated_finish"] is None  # no phone: no estimate


def test_estimate_goes_around_quiet_hours(settings: Settings) -> None:
    zone = settings.zone
    evening = datetime(2030, 1, 15, 21, 59, tzinfo=zone)
    # 1,200 messages at 10 a second: one minute before quiet hours, the rest from 07:00
    done = finish_time([(evening, 1200)], 10.0, [Closed(*settings.quiet_hours)], zone, now=evening)
    assert done == datetime(2030, 1, 16, 7, 1, tzinfo=zone)
    assert finish_time([(evening, 600)], 10.0, [Closed(*settings.quiet_hours)], zone, now=evening) \
        == datetime(2030, 1, 15, 22, 0, tzinfo=zone) - timedelta(seconds=0)


def test_flow_reports_nothing_for_a_campaign_with_nothing_queued(engine: Engine, settings: Settings) -> None:
    campaign_id = approved_campaign(engine)
    with Session(engine) as session:
        campaign = campaigns.get_campaign(session, campaign_id)
        report = campaign_waiting(session, settings, campaign, now=utcnow())
    assert report.waiting == [] and report.estimated_finish is None
