"""Schedule API: set/show/clear a schedule, the calendar, the programme, and clear 422s."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.scheduler.conftest import campaign_row
from tests.support.seed import approved_campaign, seed_contacts

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def later(days: int, hour: int, minute: int = 0) -> datetime:
    base = datetime.now(HCM).date() + timedelta(days=days)
    return datetime(base.year, base.month, base.day, hour, minute)  # naive: local time


def put(client: TestClient, campaign_id: int, body: dict[str, Any]) -> Any:
    return client.put(f"/api/v1/campaigns/{campaign_id}/schedule", json=body)


def test_once_and_weekly_schedules_show_in_the_calendar(client: TestClient, engine: Engine) -> None:
    once = approved_campaign(engine)
    weekly = approved_campaign(engine)
    at = later(2, 9, 15)
    reply = put(client, once, {"at": at.isoformat()})
    assert reply.status_code == 200, reply.text
    assert reply.json()["next_runs"][0]["at"] == at.replace(tzinfo=HCM).isoformat()
    assert campaign_row(engine, once).status == "scheduled"
    reply = put(client, weekly, {"every": "weekly", "days": ["mon"], "time": "07:30",
                                 "start": later(0, 0).date().isoformat(), "end": later(60, 0).date().isoformat()})
    assert reply.status_code == 200, reply.text
    shown = client.get(f"/api/v1/campaigns/{weekly}/schedule").json()
    assert shown["schedule"]["kind"] == "recurring" and len(shown["next_runs"]) in (8, 9)  # Mondays in 60 days
    assert all(datetime.fromisoformat(r["at"]).strftime("%a %H:%M %z") == "Mon 07:30 +0700" for r in shown["next_runs"])
    items = client.get("/api/v1/schedule/upcoming", params={"days": 15}).json()
    ids = [i["campaign_id"] for i in items]
    assert ids.count(weekly) in (2, 3) and ids.count(once) == 1
    assert all(i["at"].endswith("+07:00") and i["title"] for i in items)
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    cleared = client.delete(f"/api/v1/campaigns/{once}/schedule")
    assert cleared.status_code == 200 and campaign_row(engine, once).status == "approved"
    assert once not in [i["campaign_id"] for i in client.get("/api/v1/schedule/upcoming?days=15").json()]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"at": "2020-01-01T08:00:00+07:00"}, "at", "đã qua"),
    ({"cron": "30 7 * * 9", "start": "2030-01-01", "end": "2030-02-01"}, "cron", "không hợp lệ"),
    ({"cron": "30 7 * * 1", "start": "2030-02-01", "end": "2030-01-01"}, "end", "phải sau ngày bắt đầu"),
])
def test_bad_schedules_are_422_with_the_field(client: TestClient, engine: Engine, body: dict[str, Any],
                                              field: str, words: str) -> None:
    reply = put(client, approved_campaign(engine), body)
    assert reply.status_code == 422
    assert reply.json()["field"] == field and words in reply.json()["message"]


def test_window_too_short_is_422_with_the_minimum(client: TestClient, engine: Engine) -> None:
    seed_contacts(engine, 100)
    campaign_id = approved_campaign(engine, rate_per_second=0.01)  # 100 residents need 10,000 s
    reply = put(client, campaign_id, {"at": later(3, 8).isoformat(), "window": {"start": "08:00", "end": "09:00"}})
    assert reply.status_code == 422
    body = reply.json()
    assert body["field"] == "window" and body["details"]["minimum_window_seconds"] == 10060
    assert "2 giờ 48 phút" in body["message"]
    ok = put(client, campaign_id, {"at": later(3, 8).isoformat(), "window": {"start": "08:00", "end": "11:00"}})
    assert ok.status_code == 200, ok.text


def test_loudspeaker_programme_uses_the_slots(client: TestClient, engine: Engine) -> None:
    seed_contacts(engine, 1)  # also creates the communes
    campaign_id = approved_campaign(engine, channels=["sms", "loudspeaker"],
                                    contents=[{"channel": "loudspeaker", "body": "Bản tin pháp luật"}])
    reply = put(client, campaign_id, {"every": "weekly", "days": ["sat"], "time": "16:00", "slots": ["17:00"],
                                      "start": later(0, 0).date().isoformat()})
    assert reply.status_code == 200, reply.text
    items = client.get("/api/v1/schedule/programme", params={"commune": "32248", "days": 8}).json()
    assert items and all(datetime.fromisoformat(i["at"]).strftime("%a %H:%M") == "Sat 17:00" for i in items)
