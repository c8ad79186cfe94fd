"""Status callbacks dropped by Twilio for 10 % of a campaign's messages: `broadcast serve` looks them up (after
SMS_STATUS_TIMEOUT_SECONDS) and every delivery reaches the final state Twilio has; /metrics then counts exactly
what the simulator itself recorded."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from broadcast.simulators.twilio import TwilioSimulator
from tests.reliability.conftest import FINAL, mismatched, statuses
from tests.support.http import loopback
from tests.support.processes import METRICS_TOKEN, Serve, new_port, serve_env
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until

RESIDENTS = 600


def gauges(text: str, name: str) -> dict[str, float]:
    """`name{…}` samples of a Prometheus text page, by their label string."""
    return {labels: float(value) for labels, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M)}


@pytest.mark.slow
def test_dropped_callbacks_are_reconciled_and_metrics_equal_the_providers_record(
    database_url: str, engine: Engine, twilio: TwilioSimulator, tmp_path: Path
) -> None:
    seed_contacts(engine, RESIDENTS)
    twilio.set_outcome([phone(i) for i in range(3, RESIDENTS, 20)], "undelivered", 30003)
    twilio.set_outcome([phone(i) for i in range(11, RESIDENTS, 50)], "failed", 30005)
    twilio.drop_callbacks(0.1)
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    env = serve_env(database_url, tmp_path / "media", twilio.base_url, new_port(), SMS_STATUS_TIMEOUT_SECONDS="3",
                    SMS_RECONCILE_PER_SECOND="50")
    serve = Serve(env, tmp_path / "serve.log").start()
    try:
        def settled() -> bool:
            counts = statuses(engine, campaign_id)
            return counts["delivered"] + counts["undelivered"] + counts["failed"] == RESIDENTS
        wait_until(settled, timeout=120, interval=0.5)
        assert twilio.wait_for_callbacks(timeout=30)
        assert mismatched(engine, campaign_id, twilio) == []
        page = loopback.get(f"{serve.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    finally:
        serve.stop()
    dropped = len(twilio.state.dropped)
    assert RESIDENTS * 0.05 < dropped < RESIDENTS * 0.15
    record = Counter(FINAL[m.status] for m in twilio.messages)
    deliveries = gauges(page, "broadcast_deliveries")
    for status in ("delivered", "undelivered", "failed", "sent", "unknown", "queued", "sending"):
        assert deliveries[f'channel="sms",status="{status}"'] == record.get(status, 0), status
    final = gauges(page, "broadcast_status_lookups_total")['provider="twilio",result="final"']
    assert final >= dropped
    print(f"\n{dropped} of {RESIDENTS} messages without any callback; all final through {final:.0f} look-ups; "
          f"metrics {dict(record)}")
