"""Webhooks while the database cannot take them: journaled and answered 200, applied once it can, logged once.

The database is really held away from the app: SQLite by an exclusive lock another connection holds (a lock
beyond JOURNAL_AFTER_SECONDS), PostgreSQL by making the database read-only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.app import create_app
from broadcast.config import Settings
from broadcast.journal.models import JournalApplied
from broadcast.journal.webhooks import Reliability
from broadcast.outbox.models import Delivery, InboundMessage
from tests.conftest import BOTH
from tests.journal.conftest import Twilio, database_held, sent_campaign
from tests.support.disks import fill, tmpfs
from tests.support.seed import phone, wait_until

pytestmark = BOTH


def reader(settings: Settings) -> Engine:
    """An engine that reads without asking for the write lock (the app's SQLite transactions take it first)."""
    return create_engine(settings.database_url)


def statuses(engine: Engine, campaign_id: int) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
                            .group_by(col(Delivery.status))).all()
    return dict(rows)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_webhooks_are_journaled_while_the_database_is_held_and_applied_once_it_is_back(
    twilio: Twilio, engine: Engine, outage_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    sent = sent_campaign(engine, 6)
    state: Reliability = twilio.client.app.state.reliability  # type: ignore[attr-defined]
    caplog.set_level(logging.WARNING, logger="broadcast.outage")
    with database_held(outage_settings):
        for delivery_id, sid, _ in sent.rows[:4]:
            assert twilio.status(delivery_id, sid).status_code == 200
        reply = twilio.reply(phone(1), "Cho hỏi thủ tục cấp sổ đỏ?", sid="SMreply0001")
        assert reply.status_code == 200 and "<Response/>" in reply.text
        assert twilio.reply(phone(2), "TC").status_code == 200
        assert state.outage.down and state.journal.own_backlog() == 6
        assert statuses(reader(outage_settings), sent.campaign_id) == {"sent": 6}
    wait_until(lambda: statuses(engine, sent.campaign_id) == {"delivered": 4, "sent": 2}, timeout=20)
    wait_until(lambda: not state.outage.down, timeout=10)
    assert count(engine, InboundMessage) == 2 and count(engine, JournalApplied) == 6
    assert state.journal.files() == []
    # the same callback again after the outage: applied at once, nothing doubled
    assert twilio.reply(phone(1), "Cho hỏi thủ tục cấp sổ đỏ?", sid="SMreply0001").status_code == 200
    assert count(engine, InboundMessage) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "broadcast.outage"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable (")
    assert "6 webhook events journaled, 6 replayed" in lines[1]


@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_a_journal_that_cannot_be_written_answers_503_and_says_why(
    disk: str, outage_settings: Settings, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sent = sent_campaign(engine, 2)
    caplog.set_level(logging.WARNING, logger="broadcast.outage")
    why = {"read-only": "Read-only file system", "full": "No space left on device"}[disk]
    with tmpfs(tmp_path / "disk", size_kb=64, read_only=disk == "read-only") as directory:
        if disk == "full":
            fill(directory)
        settings = outage_settings.model_copy(update={"journal_dir": str(directory / "journal")})
        with TestClient(create_app(settings)) as client, database_held(settings):
            twilio = Twilio(client, settings)
            delivery_id, sid, _ = sent.rows[0]
            refused = twilio.status(delivery_id, sid)
            assert refused.status_code == 503
            assert why in refused.json()["message"]
            assert twilio.reply(phone(1), "Cho hỏi").status_code == 503
            ready = client.get("/healthz/ready")
            assert ready.status_code == 503
            assert any(r.startswith("journal: cannot write in") and why in r for r in ready.json()["reasons"])
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.name == "broadcast.outage"]
    assert len(errors) == 1 and why in errors[0] and "503" in errors[0]


@pytest.mark.databases("postgresql")
def test_pages_and_api_answer_503_during_an_outage_and_log_it_once(
    client: TestClient, settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with database_held(settings):
        for _ in range(3):
            refused = client.post("/api/v1/contacts", json={"full_name": "Nguyễn Văn A", "phone": "0981234567",
                                                           "commune_code": None})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"] == "DatabaseUnavailable"
    assert not [r for r in caplog.records if r.exc_info]
    assert len([r for r in caplog.records if r.getMessage().startswith("database unavailable (read-only)")]) == 1
