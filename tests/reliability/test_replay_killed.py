"""The journal replayed twice: `broadcast serve` is killed in the middle of replaying what it journaled while
the database was read-only, and another serve process replays the rest. No event is applied twice."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.config import load_settings
from broadcast.contacts.models import ConsentEvent, Contact
from broadcast.events.models import EngagementEvent
from broadcast.journal.models import JournalApplied
from broadcast.journal.store import Journal
from broadcast.outbox.models import InboundMessage
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from tests.journal.conftest import Twilio, database_held, sent_campaign
from tests.reliability.conftest import statuses
from tests.support.processes import Serve, new_port, serve_env
from tests.support.seed import wait_until

RESIDENTS = 150  # 150 status callbacks and 150 replies: 300 events


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.mark.slow
def test_a_replay_killed_midway_and_started_again_applies_nothing_twice(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    sent = sent_campaign(engine, RESIDENTS)
    port = new_port()
    env = serve_env(database_url, tmp_path / "media", "http://127.0.0.1:9", port, JOURNAL_AFTER_SECONDS="1",
                    JOURNAL_REPLAY_BATCH="1")
    settings = load_settings(database_url=database_url, public_base_url=f"http://127.0.0.1:{port}",
                             twilio_account_sid=SIM_ACCOUNT_SID, twilio_auth_token=SIM_AUTH_TOKEN, _env_file=None)
    first = Serve(env, tmp_path / "first.log").start()
    with httpx.Client(base_url=first.url, timeout=10) as client:
        twilio = Twilio(client, settings)  # type: ignore[arg-type]
        with database_held(settings):
            for i, (delivery_id, sid, number) in enumerate(sent.rows):
                assert twilio.status(delivery_id, sid).status_code == 200
                assert twilio.reply(number, "TC" if i % 3 == 0 else f"Cho hỏi {i}").status_code == 200
            assert statuses(engine, sent.campaign_id) == {"sent": RESIDENTS}
        wait_until(lambda: count(engine, JournalApplied) >= 30, timeout=30, interval=0.01)
        first.signal(signal.SIGSTOP)  # frozen mid-replay, then killed
        caught = count(engine, JournalApplied)
        first.kill()
    applied_by_first = count(engine, JournalApplied)
    assert 30 <= caught <= applied_by_first < 2 * RESIDENTS
    journal = Journal(Path(env["MEDIA_DIR"]) / "journal")
    assert journal.backlog() == 2 * RESIDENTS  # the segment stays whole until it is all applied

    second = Serve({**env, "JOURNAL_REPLAY_BATCH": "50"}, tmp_path / "second.log").start()
    try:
        wait_until(lambda: count(engine, JournalApplied) == 2 * RESIDENTS and not journal.files(), timeout=60)
        time.sleep(1)  # anything applied twice would show now
    finally:
        second.stop()
    assert statuses(engine, sent.campaign_id) == {"delivered": RESIDENTS}
    opt_outs = len(range(0, RESIDENTS, 3))
    assert count(engine, InboundMessage) == RESIDENTS
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Contact).where(col(Contact.sms_opted_out))).one() \
            == opt_outs
        assert session.exec(select(func.count()).select_from(ConsentEvent)).one() == opt_outs
        assert session.exec(select(func.count()).select_from(EngagementEvent)).one() == RESIDENTS
    replayed = re.findall(r"journal: (\d+) events left by a process that stopped were replayed \((\d+) already "
                          r"applied, (\d+) set aside\)", second.text())
    assert replayed == [(str(2 * RESIDENTS), str(applied_by_first), "0")], second.text()[-3000:]
    print(f"\nkilled after {applied_by_first} of {2 * RESIDENTS} events; the next process skipped those and "
          f"applied the other {2 * RESIDENTS - applied_by_first}")
