"""Replaying the journal: each event applied once, in order; replaying it all again changes nothing."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.app import journal_handlers
from broadcast.channels.gateway.service import register_phone
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.journal.models import JournalApplied
from broadcast.journal.outage import Outage
from broadcast.journal.replay import Replayer
from broadcast.journal.store import Entry, Journal
from tests.conftest import BOTH
from tests.journal.conftest import sent_campaign
from tests.support.seed import phone

pytestmark = BOTH
TABLES = ("delivery", "inbound_message", "engagement_event", "consent_event", "conversation", "contact")


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every row of the tables replaying writes to (ids and timestamps included)."""
    with engine.connect() as conn:
        return {table: sorted(map(repr, conn.execute(text(f"SELECT * FROM {table}")).all())) for table in TABLES}


def replayer(engine: Engine, settings: Settings, directory: Path) -> Replayer:
    return Replayer(engine, Journal(directory), Outage(directory), journal_handlers(settings), batch=3)


def test_replaying_the_whole_journal_again_changes_nothing(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    sent = sent_campaign(engine, 5)
    with Session(engine) as session:
        register_phone(session, name="xa-dat-mui-1", base_url="http://127.0.0.1:9", signing_key="k" * 24)
        session.commit()
    received = utcnow() - timedelta(minutes=3)
    events = [Entry("twilio.status", {"sid": sid, "status": status, "code": code, "d": delivery_id}, at=received)
              for (delivery_id, sid, _), status, code in zip(sent.rows, ["sent", "delivered", "undelivered",
                                                                         "failed", "delivered"],
                                                              [None, None, 30003, 30005, None], strict=True)]
    events += [Entry("twilio.sms", {"MessageSid": f"SMin{i}", "From": phone(i), "To": "+84900000000", "Body": body},
                     at=received) for i, body in enumerate(["Cho hỏi về đất đai", "TC", "BATDAU", "TROGIUP"])]
    events.append(Entry("twilio.sms", {"MessageSid": "SMin1", "From": phone(1), "To": "+84900000000", "Body": "TC"}))
    events.append(Entry("gateway.event", {"phone": "xa-dat-mui-1", "event": "sms:received", "payload": {
        "messageId": "abc", "message": "Hỏi về thuế", "phoneNumber": phone(4), "receivedAt": received.isoformat()}}))
    directory = tmp_path / "journal"
    journal = Journal(directory)
    journal.append(events)
    journal.close()
    kept, kept_too = tmp_path / "copy", tmp_path / "copy2"
    shutil.copytree(directory, kept)  # the process dies after applying, before removing the segment
    shutil.copytree(directory, kept_too)

    first = replayer(engine, settings, directory).replay()
    assert (first.applied, first.duplicates, first.failed) == (len(events), 0, 0)
    after = snapshot(engine)
    with engine.connect() as conn:
        rows: dict[str, str] = {sid: status for sid, status in conn.execute(
            text("SELECT provider_sid, status FROM delivery"))}
        assert [rows[sid] for _, sid, _ in sent.rows] == ["sent", "delivered", "undelivered", "failed", "delivered"]
        assert conn.execute(text("SELECT count(*) FROM inbound_message")).scalar() == 5
        times = conn.execute(text("SELECT received_at FROM inbound_message WHERE provider_sid = 'SMin0'")).scalar()
        assert str(received.replace(tzinfo=None))[:19] in str(times)  # handled at the time it came in

    again = replayer(engine, settings, kept).replay()
    assert (again.applied, again.duplicates) == (0, len(events))
    assert snapshot(engine) == after

    with Session(engine) as session:  # even without the ids, every handler is idempotent
        session.execute(delete(JournalApplied))
        session.commit()
    third = replayer(engine, settings, kept_too).replay()
    assert third.applied == len(events)
    assert snapshot(engine) == after
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(JournalApplied)).one() == len(events)


def test_an_event_the_code_cannot_apply_is_set_aside_and_the_rest_go_on(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    sent = sent_campaign(engine, 2)
    (d1, sid1, _), (d2, sid2, _) = sent.rows
    directory = tmp_path / "journal"
    journal = Journal(directory)
    journal.append([Entry("twilio.status", {"sid": sid1, "status": "delivered", "code": None, "d": d1}),
                    Entry("voice.status", {"d": d2}),  # written by a version whose fields this one cannot read
                    Entry("no.such.kind", {}),
                    Entry("twilio.status", {"sid": sid2, "status": "delivered", "code": None, "d": d2})])
    journal.close()
    stats = replayer(engine, settings, directory).replay()
    assert (stats.applied, stats.failed) == (2, 2)
    assert len((directory / "failed" / "failed.jsonl").read_text().splitlines()) == 2
    assert Journal(directory).files() == []
    with engine.connect() as conn:
        assert {s for (s,) in conn.execute(text("SELECT status FROM delivery"))} == {"delivered"}
