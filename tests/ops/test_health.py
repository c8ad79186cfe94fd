"""Health that explains itself: /healthz/live always answers; /healthz/ready says what stops this instance."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.channels.core.claims import beat
from broadcast.channels.gateway.models import PhoneStatus
from broadcast.channels.gateway.service import register_phone, set_status
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.journal.store import Entry, Journal
from scheduler.leader import leader_lock
from tests.conftest import BOTH

pytestmark = BOTH


def test_live_and_ready_explain_what_is_missing(anonymous_client: TestClient, engine: Engine,
                                                settings: Settings) -> None:
    assert anonymous_client.get("/healthz/live").json()["live"] is True
    assert anonymous_client.get("/healthz").status_code == 200  # kept for compatibility
    first = anonymous_client.get("/healthz/ready")
    assert first.status_code == 503
    body: dict[str, Any] = first.json()
    assert body["ready"] is False and body["checks"]["database"] == "ok"
    assert body["reasons"] == ["scheduler: no process holds the scheduler's leader lock",
                               "dispatcher: no dispatcher reported in the last 60 s (never)"]

    lock = leader_lock(settings.database_url)
    assert lock.acquire()
    try:
        with engine.begin() as conn:
            beat(conn, worker="test-worker", provider="twilio", now=utcnow())
        ready = anonymous_client.get("/healthz/ready")
        assert ready.status_code == 200, ready.json()
        assert ready.json() | {"version": ""} == {"ready": True, "reasons": [], "version": "", "checks": {
            "database": "ok", "scheduler": "ok", "dispatcher": "ok", "gateway": "ok", "journal": "ok"}}

        with Session(engine) as session:
            register_phone(session, name="xa-dat-mui-1", base_url="http://127.0.0.1:9")
            session.commit()
        set_status(engine, "xa-dat-mui-1", PhoneStatus.down, error="health check: ConnectTimeout")
        other = Journal(settings.journal_path)  # another process, stuck two minutes with an event it cannot apply
        other.append([Entry("twilio.status", {})])
        segment = other.files()[0]
        segment.rename(segment.with_name(f"{time.time_ns() - 120 * 10**9:020d}-1-old.jsonl"))
        down = anonymous_client.get("/healthz/ready")
        assert down.status_code == 503
        assert down.json()["reasons"][0] == "gateway:xa-dat-mui-1: marked down (health check: ConnectTimeout)"
        assert down.json()["reasons"][1].startswith("journal: 1 webhook events waiting for the database (oldest 1")
        other.close()
    finally:
        lock.release()


def test_the_journal_backlog_is_on_metrics(client_with: Any, settings: Settings) -> None:
    token = "metrics-token-for-the-journal-test"
    client = client_with(metrics_token=SecretStr(token))
    other = Journal(settings.journal_path)  # a process with three events the database has not taken yet
    other.append([Entry("twilio.status", {"n": i}) for i in range(3)])
    page = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    other.close()
    assert "\nbroadcast_journal_backlog 3.0\n" in page
    assert "\nbroadcast_journal_oldest_age_seconds " in page
