"""Schedules as data: validation messages, crontab weekdays, local time whatever the server's zone."""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from broadcast.campaigns.schedules.rules import (
    ScheduleIn,
    WindowIn,
    cron_fields,
    normalize,
    occurrences,
    window_intervals,
)
from broadcast.exceptions import ValidationFailed
from scheduler.service import campaign_trigger

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)  # Wednesday 09:00 in Cà Mau


@pytest.fixture
def utc_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test as a server whose own zone is UTC."""
    monkeypatch.setenv("TZ", "UTC")
    clock.tzset()
    assert datetime.now().astimezone().utcoffset() == timedelta(0)
    yield
    monkeypatch.undo()
    clock.tzset()


def test_weekly_schedule_on_a_utc_server_fires_at_local_time(utc_process: None) -> None:
    body = ScheduleIn(every="weekly", days=["mon", "thu"], time="07:30", start="2025-03-01", end="2025-06-01")
    stored = normalize(body, zone=HCM, now=NOW)
    trigger = campaign_trigger(stored, None)
    first = trigger.get_next_fire_time(None, NOW)
    assert first is not None
    assert first.astimezone(HCM).isoformat() == "2025-03-06T07:30:00+07:00"  # Thursday, local
    assert first.astimezone(UTC) == datetime(2025, 3, 6, 0, 30, tzinfo=UTC)
    # The same through APScheduler itself, on a scheduler in the server's (UTC) zone (a future schedule).
    later = normalize(ScheduleIn(every="weekly", days=["mon", "thu"], time="07:30", start="2030-01-01",
                                  end="2030-06-01"), zone=HCM, now=NOW)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        job = scheduler.add_job(print, campaign_trigger(later, None), id="weekly")
        assert job.next_run_time.astimezone(UTC) == datetime(2030, 1, 3, 0, 30, tzinfo=UTC)  # Thu 07:30 local
    finally:
        scheduler.shutdown(wait=False)
    times = occurrences(stored, NOW, NOW + timedelta(days=14))
    assert [t.astimezone(HCM).strftime("%a %H:%M") for t in times] == ["Thu 07:30", "Mon 07:30"] * 2


@pytest.mark.parametrize(("expr", "weekday"), [("30 7 * * 1", "Mon"), ("0 8 * * 0", "Sun"), ("0 8 * * 7", "Sun"),
                                                ("0 8 * * 5", "Fri"), ("0 8 * * sat", "Sat")])
def test_crontab_weekdays_count_from_sunday(expr: str, weekday: str) -> None:
    stored = normalize(ScheduleIn(cron=expr, start="2025-03-01"), zone=HCM, now=NOW)
    first = occurrences(stored, NOW, NOW + timedelta(days=8))[0]
    assert first.astimezone(HCM).strftime("%a") == weekday


def test_crontab_ranges_and_steps_follow_crontab() -> None:
    assert cron_fields("0 8 * * 1-5")["day_of_week"] == "mon,tue,wed,thu,fri"
    assert cron_fields("0 8 * * */2")["day_of_week"] == "sun,tue,thu,sat"
    assert cron_fields("0 8 * * 0-6")["day_of_week"] == "sun,mon,tue,wed,thu,fri,sat"


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"at": "2025-03-05T08:00:00"}, "at", "đã qua"),
    ({"cron": "61 7 * * *", "start": "2025-03-01"}, "cron", "không hợp lệ"),
    ({"cron": "30 7 * *", "start": "2025-03-01"}, "cron", "5 trường"),
    ({"cron": "30 7 * * 1", "start": "2025-04-01", "end": "2025-03-20"}, "end", "phải sau ngày bắt đầu"),
    ({"every": "weekly", "time": "07:30"}, "days", "thứ trong tuần"),
    ({"every": "monthly", "time": "07:30", "day": 32}, "day", "1–31"),
    ({"at": "2025-03-06T08:00:00", "cron": "0 8 * * *"}, "at", "đúng một"),
    ({"at": "2025-03-06T08:00:00", "window": {"start": "11:00", "end": "08:00"}}, "window.end", "kết thúc sau"),
    ({"at": "2025-03-06T21:00:00", "window": {"start": "21:00", "end": "23:00"}}, "window", "giờ yên lặng"),
])
def test_invalid_schedules_say_what_is_wrong(body: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        normalize(ScheduleIn.model_validate(body), zone=HCM, now=NOW, quiet=(time(22), time(7)))
    assert err.value.field == field and words in err.value.message


def test_times_without_offset_are_local_and_offsets_are_honoured() -> None:
    local = normalize(ScheduleIn(at=datetime(2025, 3, 6, 8, 0)), zone=HCM, now=NOW)
    assert local["at"] == "2025-03-06T08:00:00+07:00"
    explicit = normalize(ScheduleIn.model_validate({"at": "2025-03-06T01:00:00Z"}), zone=HCM, now=NOW)
    assert explicit["at"] == "2025-03-06T08:00:00+07:00"


def test_window_over_two_days_starts_at_the_occurrence() -> None:
    stored = normalize(ScheduleIn(at=datetime(2025, 3, 6, 9, 0), window=WindowIn(start="08:00", end="11:00", days=2)),
                       zone=HCM, now=NOW)
    intervals = window_intervals(stored, datetime(2025, 3, 6, 2, 0, tzinfo=UTC))
    assert [(lo.astimezone(HCM).strftime("%d %H:%M"), hi.astimezone(HCM).strftime("%d %H:%M"))
            for lo, hi in intervals] == [("06 09:00", "06 11:00"), ("07 08:00", "07 11:00")]
