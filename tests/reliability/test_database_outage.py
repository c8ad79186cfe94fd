"""PostgreSQL down for 20 s in the middle of a 2,000-message campaign, with real processes: `broadcast serve`
(web app, dispatchers, scheduler) on a PostgreSQL cluster of the test's own, Twilio's simulator posting status
callbacks, and 200 residents replying meanwhile. Nothing may be lost or doubled, and the log must tell the
outage in a few lines instead of a traceback per request."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.contacts.models import Contact
from broadcast.outbox.models import InboundMessage
from broadcast.simulators.twilio import TwilioSimulator
from tests.pg import PrivateCluster
from tests.reliability.conftest import Replies, figure, mismatched, statuses
from tests.support.http import loopback
from tests.support.processes import Serve, new_port, serve_env
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until

RESIDENTS, REPLIES, OUTAGE_SECONDS = 2000, 200, 20.0
TEXT = "Thông báo: Luật Đất đai 2024 có hiệu lực."


def reply_body(i: int) -> str:
    return "TC" if i % 10 == 0 else f"Cho hỏi thủ tục số {i}?"


@pytest.mark.slow
def test_postgresql_down_for_20_seconds_mid_campaign(
    cluster: PrivateCluster, cluster_url: str, cluster_engine: Engine, twilio: TwilioSimulator, tmp_path: Path
) -> None:
    seed_contacts(cluster_engine, RESIDENTS)
    twilio.set_outcome([phone(i) for i in range(0, RESIDENTS, 20)], "undelivered", 30003)
    twilio.set_outcome([phone(i) for i in range(7, RESIDENTS, 50)], "failed", 30005)
    campaign_id = approved_campaign(cluster_engine, TEXT)
    start(cluster_engine, campaign_id)
    port = new_port()
    serve = Serve(serve_env(cluster_url, tmp_path / "media", twilio.base_url, port, JOURNAL_AFTER_SECONDS="2"),
                  tmp_path / "serve.log").start()
    twilio.state.incoming_url = f"{serve.url}/webhooks/twilio/sms"
    replies = Replies(twilio, REPLIES, reply_body, every=0.12)
    try:
        wait_until(lambda: len(twilio.messages) >= 300, timeout=60)
        replies.start()
        wait_until(lambda: len(twilio.messages) >= 500, timeout=60)
        cluster.stop("fast")
        down_at = time.monotonic()
        time.sleep(2)
        ready = loopback.get(f"{serve.url}/healthz/ready", timeout=10)
        live = loopback.get(f"{serve.url}/healthz/live", timeout=10)
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        cluster.start()
        back_at, back_wall = time.monotonic(), datetime.now(UTC)
        replies.join(timeout=120)

        def settled() -> bool:
            counts = statuses(cluster_engine, campaign_id)
            return counts["delivered"] + counts["undelivered"] + counts["failed"] == RESIDENTS
        wait_until(settled, timeout=240, interval=0.2)
        final_after, final_wall = time.monotonic() - back_at, datetime.now(UTC)

        def stored() -> int:
            with Session(cluster_engine) as session:
                return len(session.exec(select(InboundMessage.provider_sid)).all())
        wait_until(lambda: stored() == REPLIES, timeout=120)
        assert twilio.wait_for_callbacks(timeout=60)
    finally:
        serve.stop()
    log = serve.text()

    assert live.status_code == 200
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert ready.json()["reasons"][0].startswith("database: "), ready.json()
    # every resident got the campaign's SMS exactly once (opt-out confirmations are extra messages)
    campaign_sms = Counter(m.to for m in twilio.messages if m.body.startswith(TEXT))
    assert len(campaign_sms) == RESIDENTS and set(campaign_sms.values()) == {1}
    assert mismatched(cluster_engine, campaign_id, twilio) == []
    assert all(a.status_code == 200 for a in twilio.callback_attempts), "a status callback was refused"
    # every reply stored once, in the inbox or acted on
    assert len(replies.sent) == REPLIES and {status for _, _, status in replies.sent} == {200}
    with Session(cluster_engine) as session:
        messages = session.exec(select(InboundMessage)).all()
        opted_out = set(session.exec(select(Contact.phone).where(col(Contact.sms_opted_out))).all())
        confirmations = session.exec(select(InboundMessage.id).where(InboundMessage.classification == "opt_out"))
    assert sorted(m.provider_sid for m in messages) == sorted(sid for _, sid, _ in replies.sent)
    assert all(m.conversation_id is not None for m in messages if m.classification == "question")
    assert opted_out == {sender for i, (sender, _, _) in enumerate(replies.sent) if reply_body(i) == "TC"}
    assert len(list(confirmations)) == len(opted_out)
    # the outage in a few lines
    down = figure(log, r"broadcast\.outage: database unavailable \(([^)]*)\)")
    back = figure(log, r"database available again after ([\d.]+) s \([^)]*\): (\d+) webhook events journaled, "
                       r"(\d+) replayed in ([\d.]+) s")
    assert len(down) == 1 and len(back) == 1, log[-5000:]
    journaled, replayed = int(back[0][1]), int(back[0][2])
    assert journaled == replayed and journaled > 100
    tracebacks = log.count("Traceback")
    accepted = sorted(m.date_created for m in twilio.messages if m.body.startswith(TEXT))
    resumed = next(at for at in accepted if at >= back_wall)
    print(f"\nPostgreSQL down {OUTAGE_SECONDS:g} s with {sum(a < back_wall for a in accepted)} of {RESIDENTS} "
          f"sent: webhook events journaled {journaled}, replayed {replayed} in {back[0][3]} s; sending resumed "
          f"{(resumed - back_wall).total_seconds():.1f} s after PostgreSQL was back; every delivery final "
          f"{final_after:.1f} s after it was back, {(final_wall - accepted[-1]).total_seconds():.1f} s after the last "
          f"message was accepted; log: {len(log.splitlines())} lines, {tracebacks} tracebacks; reason: {down[0]}")
    assert tracebacks == 0, log[-8000:]
