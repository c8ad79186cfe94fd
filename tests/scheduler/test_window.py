"""Window campaigns: the audience is spread so the last message leaves before the window closes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns import service as campaigns
from broadcast.campaigns.models import CampaignRun
from broadcast.campaigns.schedules.plans import set_schedule
from broadcast.campaigns.schedules.rules import ScheduleIn
from broadcast.campaigns.schedules.runs import run_due
from broadcast.campaigns.schedules.spread import spread_deliveries
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.db import make_engine, session_scope, utcnow
from broadcast.exceptions import ValidationFailed
from broadcast.outbox.models import Delivery, DeliveryStatus
from broadcast.simulators.twilio import TwilioSimulator
from tests.scheduler.conftest import scheduled_campaign
from tests.support.seed import approved_campaign, seed_contacts, wait_until

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def day(offset: int, hour: int, minute: int = 0) -> datetime:
    base = datetime.now(HCM).date() + timedelta(days=10 + offset)
    return datetime(base.year, base.month, base.day, hour, minute, tzinfo=HCM).astimezone(UTC)


def due_times(engine: Engine, run_id: int) -> list[datetime]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery.next_attempt_at).where(Delivery.run_id == run_id)
                            .order_by(col(Delivery.id))).all()
    return [r for r in rows if r is not None]


def test_two_day_window_spreads_evenly_and_never_in_the_gap(engine: Engine, settings: Settings) -> None:
    seed_contacts(engine, 600)
    body = {"at": day(0, 8).astimezone(HCM).replace(tzinfo=None).isoformat(),
            "window": {"start": "08:00", "end": "11:00", "days": 2}}
    campaign_id = scheduled_campaign(engine, settings, body, now=day(-1, 12))
    with session_scope(engine) as session:
        (run,) = run_due(session, settings, campaign_id, now=day(0, 8))
        assert run.id is not None and run.window_end == day(1, 11)
    times = due_times(engine, run.id)
    assert len(times) == 600 and times == sorted(times)
    first_day = [t for t in times if day(0, 8) <= t < day(0, 11)]
    second_day = [t for t in times if day(1, 8) <= t < day(1, 11)]
    assert len(first_day) + len(second_day) == 600  # nothing overnight, nothing after 11:00
    assert abs(len(first_day) - len(second_day)) <= 2  # even across both days
    gap = (6 * 3600 - 60) / 600
    steps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert min(s for s in steps if s < 3600) >= int(gap) - 1  # evenly paced, never bunched


def test_window_too_short_for_the_audience_names_the_minimum(engine: Engine, settings: Settings) -> None:
    seed_contacts(engine, 200)
    campaign_id = approved_campaign(engine, rate_per_second=0.05)  # 200 residents need 4000 s
    body = ScheduleIn.model_validate({"at": day(0, 8).isoformat(), "window": {"start": "08:00", "end": "09:00"}})
    with Session(engine) as session, pytest.raises(ValidationFailed) as err:
        set_schedule(session, settings, campaign_id, body, now=day(-1, 12))
    assert err.value.field == "window"
    assert "200 người nhận" in err.value.message and "1 giờ 8 phút" in err.value.message
    assert err.value.details["minimum_window_seconds"] == 4060


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sms_rate_per_second": 20.0, "quiet_hours_start": "00:00",
                                       "quiet_hours_end": "00:00", "twilio_timeout_seconds": 3.0,
                                       "dispatcher_lease_seconds": 5.0, "dispatcher_poll_seconds": 0.05})


@pytest.fixture
def simulator(fast_settings: Settings) -> Iterator[TwilioSimulator]:
    with TwilioSimulator(fast_settings.twilio_account_sid,
                         fast_settings.twilio_auth_token.get_secret_value()) as sim:
        yield sim


def test_window_campaign_finishes_inside_its_window_at_the_rate(fast_settings: Settings,
                                                                simulator: TwilioSimulator) -> None:
    """N residents, spread over a 4 s window, all leave inside it through the real dispatcher at 20/s."""
    engine = make_engine(fast_settings.database_url, settings=fast_settings)
    try:
        seed_contacts(engine, 50)  # 50 at 20/s need 2.5 s
        campaign_id = approved_campaign(engine)
        start = utcnow() + timedelta(seconds=0.5)
        end = start + timedelta(seconds=4)
        with session_scope(engine) as session:
            run = CampaignRun(campaign_id=campaign_id, scheduled_for=start, window_end=end)
            session.add(run)
            session.flush()
            campaigns.start_run(session, campaign_id, run=run)
            assert run.id is not None and spread_deliveries(session, run.id, [(start, end)]) == 50
        dispatcher = Dispatcher(engine, fast_settings,
                                TwilioSmsChannel(fast_settings, api_base_url=simulator.base_url))
        stop = dispatcher.start()
        try:
            wait_until(lambda: len(simulator.messages) == 50, timeout=30)
        finally:
            stop()
        with Session(engine) as session:
            rows = session.exec(select(Delivery).where(Delivery.run_id == run.id)).all()
        sent = sorted(r.sent_at for r in rows if r.sent_at is not None)
        assert len(sent) == 50 and all(r.status != DeliveryStatus.queued for r in rows)
        assert sent[-1] < end  # the last message left before the window closed
        assert sent[0] >= start - timedelta(milliseconds=50)  # and none before it opened
        assert (sent[-1] - sent[0]).total_seconds() > 2.5  # spread over the window, not a burst
    finally:
        engine.dispose()
