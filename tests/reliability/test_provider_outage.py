"""Twilio's API refuses connections for 60 s while a campaign is being sent and its silent messages are being
looked up: `broadcast serve` pauses sending and tries one message at growing intervals, looks messages up again
later, and afterwards nothing is doubled, nothing lost, and the refused attempts are on record."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.outbox.models import DeliveryAttempt
from broadcast.simulators.twilio import TwilioSimulator
from tests.reliability.conftest import mismatched, statuses
from tests.support.processes import Serve, new_port, serve_env
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until

RESIDENTS, REFUSED_SECONDS = 600, 60.0


@pytest.mark.slow
def test_twilio_refusing_connections_for_60_seconds_doubles_and_loses_nothing(
    database_url: str, engine: Engine, twilio: TwilioSimulator, tmp_path: Path
) -> None:
    seed_contacts(engine, RESIDENTS)
    twilio.set_outcome([phone(i) for i in range(5, RESIDENTS, 25)], "undelivered", 30003)
    twilio.drop_callbacks(0.1)  # these are found only by looking them up, some of them during the refusal
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    env = serve_env(database_url, tmp_path / "media", twilio.base_url, new_port(), SMS_RATE_PER_SECOND="40",
                    SMS_STATUS_TIMEOUT_SECONDS="4", SMS_RECONCILE_PER_SECOND="50", MAX_SEND_ATTEMPTS="3")
    serve = Serve(env, tmp_path / "serve.log").start()
    try:
        wait_until(lambda: len(twilio.messages) >= 200, timeout=60)
        twilio.refuse_connections(REFUSED_SECONDS)
        refused_at = time.monotonic()
        time.sleep(REFUSED_SECONDS)
        accepted_meanwhile = len(twilio.messages)

        def settled() -> bool:
            counts = statuses(engine, campaign_id)
            return counts["delivered"] + counts["undelivered"] == RESIDENTS
        wait_until(settled, timeout=180, interval=0.5)
        final_after = time.monotonic() - refused_at - REFUSED_SECONDS
        assert twilio.wait_for_callbacks(timeout=30)
    finally:
        serve.stop()
    log = serve.text()
    per_resident = Counter(m.to for m in twilio.messages)
    assert len(per_resident) == RESIDENTS and set(per_resident.values()) == {1}, "a resident got it twice"
    assert mismatched(engine, campaign_id, twilio) == []
    with Session(engine) as session:
        refused = session.exec(select(func.count()).select_from(DeliveryAttempt).where(
            col(DeliveryAttempt.outcome) == "transient", col(DeliveryAttempt.detail).startswith("connection failed"))
        ).one()
    assert refused >= 1  # the attempts that met the closed door are on record
    assert log.count("twilio unreachable (connection failed") == 1
    assert log.count("twilio reachable again after") == 1
    assert "look-ups failed" in log  # silent messages were asked about during the refusal, and again after
    assert log.count("Traceback") == 0, log[-5000:]
    print(f"\nTwilio refused connections {REFUSED_SECONDS:g} s with {accepted_meanwhile} of {RESIDENTS} sent; "
          f"{refused} refused attempts recorded; every delivery final {final_after:.1f} s after it answered again")
