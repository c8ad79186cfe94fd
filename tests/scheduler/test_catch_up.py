"""Downtime across occurrences: one catch-up inside the window, none outside it, none after expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns.models import CampaignStatus, RunStatus
from broadcast.campaigns.schedules.runs import run_due
from broadcast.config import Settings
from broadcast.db import session_scope
from broadcast.outbox.models import Delivery
from scheduler.service import SchedulerService
from tests.conftest import BOTH
from tests.scheduler.conftest import campaign_row, runs_of, scheduled_campaign
from tests.support.seed import seed_contacts

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """A local Cà Mau time some days from now (in the future, so real expiry checks never interfere)."""
    base = datetime.now(HCM).date() + timedelta(days=10 + day_offset)
    return datetime(base.year, base.month, base.day, hour, minute, tzinfo=HCM).astimezone(UTC)


def daily_window_campaign(engine: Engine, settings: Settings, **fields: object) -> int:
    """Daily at 08:00, sending window 08:00–11:00; the schedule was set the day before the first run."""
    start = local(0, 0).astimezone(HCM).date().isoformat()
    body = {"every": "daily", "time": "08:00", "start": start, "window": {"start": "08:00", "end": "11:00"}}
    return scheduled_campaign(engine, settings, body, now=local(-1, 12), **fields)


def catch_up(engine: Engine, settings: Settings, campaign_id: int, now: datetime) -> None:
    with session_scope(engine) as session:
        run_due(session, settings, campaign_id, now=now)


def test_down_across_two_occurrences_then_back_inside_the_window(engine: Engine, settings: Settings) -> None:
    seed_contacts(engine, 30)
    campaign_id = daily_window_campaign(engine, settings)
    catch_up(engine, settings, campaign_id, local(1, 9))  # down from day 0 07:00 until day 1 09:00
    runs = runs_of(engine, campaign_id)
    assert [(r.scheduled_for, r.status) for r in runs] == [(local(0, 8), RunStatus.missed),
                                                           (local(1, 8), RunStatus.sending)]
    assert "một lần" in runs[0].note or "quá hạn" in runs[0].note
    assert "Gửi bù" in runs[1].note and runs[1].window_end == local(1, 11) and runs[1].targeted == 30
    # The catch-up is spread over what is left of today's window, not the part already gone.
    with Session(engine) as session:
        lo, hi = session.exec(select(func.min(Delivery.next_attempt_at), func.max(Delivery.next_attempt_at))
                              .where(Delivery.run_id == runs[1].id)).one()
    assert lo is not None and hi is not None
    assert local(1, 9) <= lo and hi < local(1, 11)
    assert campaign_row(engine, campaign_id).status == CampaignStatus.sending
    catch_up(engine, settings, campaign_id, local(1, 9, 30))  # again: nothing new, never a burst
    assert len(runs_of(engine, campaign_id)) == 2
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Delivery)
                            .where(col(Delivery.campaign_id) == campaign_id)).one() == 30


def test_back_after_the_window_closed_records_both_as_missed(engine: Engine, settings: Settings) -> None:
    seed_contacts(engine, 5)
    campaign_id = daily_window_campaign(engine, settings)
    catch_up(engine, settings, campaign_id, local(1, 12))
    runs = runs_of(engine, campaign_id)
    assert [r.status for r in runs] == [RunStatus.missed, RunStatus.missed]
    assert all("quá hạn gửi" in r.note for r in runs)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Delivery)).one() == 0
    row = campaign_row(engine, campaign_id)
    assert row.status == CampaignStatus.scheduled and row.schedule["next_run_at"] == local(2, 8).isoformat()


def test_no_catch_up_after_expiry(engine: Engine, settings: Settings) -> None:
    seed_contacts(engine, 5)
    campaign_id = daily_window_campaign(engine, settings, expires_at=local(1, 8, 30))
    catch_up(engine, settings, campaign_id, local(1, 9))  # inside the window, but past the expiry
    runs = runs_of(engine, campaign_id)
    assert [r.status for r in runs] == [RunStatus.missed, RunStatus.missed]
    assert "hết hạn" in runs[1].note
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Delivery)).one() == 0
    row = campaign_row(engine, campaign_id)
    assert row.schedule["next_run_at"] is None and row.status == CampaignStatus.approved


def test_scheduler_start_catches_up_once(engine: Engine, settings: Settings) -> None:
    """The same through the service: restarting with a clock past two occurrences runs one catch-up."""
    seed_contacts(engine, 10)
    campaign_id = daily_window_campaign(engine, settings)
    first = SchedulerService(engine, settings, clock=lambda: local(-1, 13))
    first.start()
    try:
        assert first.scheduler is not None and first.scheduler.get_job(f"campaign:{campaign_id}") is not None
    finally:
        first.stop()
    again = SchedulerService(engine, settings, clock=lambda: local(1, 10))
    again.start()
    again.stop()
    assert [r.status for r in runs_of(engine, campaign_id)] == [RunStatus.missed, RunStatus.sending]
